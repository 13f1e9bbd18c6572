-- The jobs NOTIFY carries the job's new status, so that the dispatcher ignores jobs that
-- still need attaching and the attacher ignores jobs that are ready to send.
CREATE OR REPLACE FUNCTION faxd_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('pending', 'attaching_files') THEN
        PERFORM pg_notify('faxd_jobs', NEW.status);
    END IF;
    RETURN NULL;
END;
$$;

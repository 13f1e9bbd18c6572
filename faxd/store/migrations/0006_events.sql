-- The live event stream (GET /v2/accounts/{id}/faxes/events, GET /v2/events): one row per
-- state change and per page, written by triggers in the transaction of the change itself,
-- so every flow (API, dispatcher, reception, SMTP gateway) on every node feeds it and no
-- event exists for a change that rolled back. Rows are kept for a short window (events
-- sweep, FAXD_EVENTS_WINDOW) and read by one LISTEN per node, which fans them out.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    account_id      text,                  -- NULL: refused mail for no known account
    kind            text NOT NULL,
    job_id          text,                  -- outbound job, inbox fax or incoming call
    call_id         text,
    payload         jsonb NOT NULL DEFAULT '{}',
    created         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_account_idx ON events (account_id, id);
CREATE INDEX events_created_idx ON events (created);

-- One event; one NOTIFY per transaction (identical notifications are folded into one).
CREATE FUNCTION faxd_event(p_account text, p_kind text, p_job text, p_call text, p_payload jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (account_id, kind, job_id, call_id, payload)
    VALUES (p_account, p_kind, p_job, p_call, jsonb_strip_nulls(p_payload));
    PERFORM pg_notify('faxd_events', '');
END;
$$;

-- Outbound: queued, prepared, dialing, answered, negotiated, page n of m, completed,
-- failed, cancelled, retry_scheduled.
CREATE FUNCTION faxd_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := NEW.progress;
    op jsonb := '{}';
    sent integer := coalesce((NEW.progress->>'pages_sent')::integer, 0);
    was integer := 0;
    total integer := coalesce(nullif((NEW.progress->>'pages_total')::integer, 0), NEW.page_count, 0);
    n integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM faxd_event(NEW.account_id, 'queued', NEW.id, NULL, jsonb_build_object(
            'status', NEW.status, 'to_number', NEW.to_number, 'from_number', NEW.from_number,
            'source', NEW.source, 'pages_total', NEW.page_count, 'faxbox_id', NEW.faxbox_id));
        RETURN NULL;
    END IF;
    op := OLD.progress;
    IF OLD.status IS DISTINCT FROM NEW.status AND NEW.status = 'processing' THEN
        PERFORM faxd_event(NEW.account_id, 'dialing', NEW.id, NEW.call_id, jsonb_build_object(
            'attempt', NEW.attempts, 'to_number', NEW.to_number, 'switch', NEW.switch,
            'node', NEW.lease_owner, 'pages_total', total));
        RETURN NULL;   -- the claim resets the progress
    END IF;
    IF OLD.status = 'processing' THEN
        was := coalesce((op->>'pages_sent')::integer, 0);
        IF coalesce(op->>'stage', '') IN ('prepare', 'originate')
           AND (p->>'stage' IN ('negotiate', 'pages') OR coalesce((p->>'fax_speed')::integer, 0) > 0) THEN
            PERFORM faxd_event(NEW.account_id, 'answered', NEW.id, NEW.call_id, '{}');
        END IF;
        IF coalesce((p->>'fax_speed')::integer, 0) > 0 AND coalesce((op->>'fax_speed')::integer, 0) = 0 THEN
            PERFORM faxd_event(NEW.account_id, 'negotiated', NEW.id, NEW.call_id, jsonb_build_object(
                'fax_speed', (p->>'fax_speed')::integer, 'ecm', p->'ecm', 't38', p->'t38',
                'remote_station_id', p->>'remote_station_id'));
        END IF;
        IF sent > was THEN
            FOR n IN was + 1 .. sent LOOP
                PERFORM faxd_event(NEW.account_id, 'page', NEW.id, NEW.call_id, jsonb_build_object(
                    'page', n, 'pages_total', total, 'fax_speed', (p->>'fax_speed')::integer,
                    'bad_rows', CASE WHEN n = sent THEN p->'bad_rows' END));
            END LOOP;
        END IF;
    END IF;
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        IF NEW.status = 'pending' AND OLD.status = 'attaching_files' THEN
            PERFORM faxd_event(NEW.account_id, 'prepared', NEW.id, NULL,
                               jsonb_build_object('pages_total', NEW.page_count));
        ELSIF NEW.status = 'pending' THEN
            PERFORM faxd_event(NEW.account_id, 'retry_scheduled', NEW.id, NEW.call_id, jsonb_build_object(
                'attempt', NEW.attempts, 'run_after', NEW.run_after, 'error', NEW.error,
                'result_code', (NEW.tx_result->>'result_code')::integer,
                'hangup_cause', NEW.tx_result->>'hangup_cause'));
        ELSIF NEW.status IN ('completed', 'failed', 'cancelled') THEN
            PERFORM faxd_event(NEW.account_id, NEW.status, NEW.id, NEW.call_id, jsonb_build_object(
                'attempt', NEW.attempts, 'pages_sent', (NEW.tx_result->>'pages_sent')::integer,
                'pages_total', coalesce((NEW.tx_result->>'pages_total')::integer, total),
                'result_code', (NEW.tx_result->>'result_code')::integer,
                'result_text', NEW.tx_result->>'result_text', 'hangup_cause', NEW.tx_result->>'hangup_cause',
                'error', NEW.error, 'fax_speed', (NEW.tx_result->>'fax_speed')::integer,
                'time_elapsed', (NEW.tx_result->>'time_elapsed')::integer));
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER jobs_events_insert AFTER INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION faxd_job_events();
CREATE TRIGGER jobs_events_update AFTER UPDATE OF status, progress ON jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.progress IS DISTINCT FROM NEW.progress)
    EXECUTE FUNCTION faxd_job_events();

-- Inbound: started, negotiated, page n, then received or failed (the inbox row).
CREATE FUNCTION faxd_incoming_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    got integer := coalesce((NEW.progress->>'pages_received')::integer, 0);
    was integer := 0;
    n integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM faxd_event(NEW.account_id, 'inbound_started', NEW.id, NEW.call_id, jsonb_build_object(
            'from_number', NEW.from_number, 'from_name', NEW.from_name, 'to_number', NEW.to_number,
            'faxbox_id', NEW.faxbox_id, 'switch', NEW.switch, 'node', NEW.node));
        RETURN NULL;
    END IF;
    was := coalesce((OLD.progress->>'pages_received')::integer, 0);
    IF coalesce((NEW.progress->>'fax_speed')::integer, 0) > 0
       AND coalesce((OLD.progress->>'fax_speed')::integer, 0) = 0 THEN
        PERFORM faxd_event(NEW.account_id, 'inbound_negotiated', NEW.id, NEW.call_id, jsonb_build_object(
            'fax_speed', (NEW.progress->>'fax_speed')::integer, 'ecm', NEW.progress->'ecm',
            't38', NEW.progress->'t38', 'remote_station_id', NEW.progress->>'remote_station_id'));
    END IF;
    IF got > was THEN
        FOR n IN was + 1 .. got LOOP
            PERFORM faxd_event(NEW.account_id, 'inbound_page', NEW.id, NEW.call_id, jsonb_build_object(
                'page', n, 'fax_speed', (NEW.progress->>'fax_speed')::integer,
                'bad_rows', CASE WHEN n = got THEN NEW.progress->'bad_rows' END));
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER incoming_events_insert AFTER INSERT ON incoming_calls
    FOR EACH ROW EXECUTE FUNCTION faxd_incoming_events();
CREATE TRIGGER incoming_events_update AFTER UPDATE OF progress ON incoming_calls
    FOR EACH ROW WHEN (OLD.progress IS DISTINCT FROM NEW.progress) EXECUTE FUNCTION faxd_incoming_events();

CREATE FUNCTION faxd_inbox_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM faxd_event(NEW.account_id, CASE WHEN NEW.status = 'received' THEN 'inbound_received'
                                            ELSE 'inbound_failed' END, NEW.id, NEW.call_id, jsonb_build_object(
        'from_number', NEW.from_number, 'to_number', NEW.to_number, 'faxbox_id', NEW.faxbox_id,
        'pages', NEW.page_count, 'result_code', (NEW.rx_result->>'result_code')::integer,
        'result_text', NEW.rx_result->>'result_text', 'hangup_cause', NEW.rx_result->>'hangup_cause',
        'error', nullif(NEW.rx_result->>'error_message', ''), 'fax_speed', (NEW.rx_result->>'fax_speed')::integer,
        'time_elapsed', (NEW.rx_result->>'time_elapsed')::integer));
    RETURN NULL;
END;
$$;
CREATE TRIGGER inbox_events_insert AFTER INSERT ON inbox
    FOR EACH ROW EXECUTE FUNCTION faxd_inbox_events();

-- Email-to-fax: every mail the gateway accepted or refused.
CREATE FUNCTION faxd_smtplog_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM faxd_event(NEW.account_id, CASE WHEN NEW.job_id IS NOT NULL THEN 'email_accepted'
                                            ELSE 'email_refused' END, NEW.job_id, NULL, jsonb_build_object(
        'smtplog_id', NEW.id, 'mail_from', NEW.mail_from, 'rcpt_to', NEW.rcpt_to,
        'faxbox_id', NEW.faxbox_id, 'to_number', NEW.translated_number, 'errors', NEW.errors,
        'smtp_code', NEW.smtp_code, 'smtp_text', NEW.smtp_text));
    RETURN NULL;
END;
$$;
CREATE TRIGGER smtplog_events_insert AFTER INSERT ON smtplog
    FOR EACH ROW EXECUTE FUNCTION faxd_smtplog_events();

-- Retention: whether something final at p_final is past p_days days at p_now (-1 keeps).
CREATE FUNCTION faxd_retention_due(p_final timestamptz, p_now timestamptz, p_days integer) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_days >= 0 AND p_final < p_now - make_interval(days => p_days)
$$;

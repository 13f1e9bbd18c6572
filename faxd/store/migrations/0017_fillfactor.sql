-- A call's row is updated many times while it is on the line (its progress, its lease every
-- 10 s, its end), an inbound call's likewise. At the default fillfactor (100) a new row fills
-- its page, so the first update of a call's fresh row writes the new version on another page,
-- with a new entry in every index of the table (237 of 400 fresh rows moved, against 73 here:
-- tests/integration/foundation/test_group_commit.py). With room left on each page, a progress
-- update stays on its page and touches no index (HOT): 46% of the jobs updates of the ESL
-- benchmark at 8,000 calls against 42% (lease renewals and ends change indexed columns and are
-- never HOT). Existing pages keep their rows; new and vacuumed pages leave the room. SET
-- (fillfactor) takes a SHARE UPDATE EXCLUSIVE lock: running nodes keep reading and writing.
ALTER TABLE jobs SET (fillfactor = 70);
ALTER TABLE incoming_calls SET (fillfactor = 70);

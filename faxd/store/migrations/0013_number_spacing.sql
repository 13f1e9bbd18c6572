-- Per-number spacing (number_min_gap): when the last call to each number ended.
CREATE UNLOGGED TABLE number_calls (
    number          text PRIMARY KEY,
    last_ended      timestamptz NOT NULL
);

"""Per-number spacing: with number_min_gap, a number gets its next call only that long after
its last call ended; a job claimed too soon goes back to the queue without using an attempt."""
from __future__ import annotations

from tests.integration.engine.harness import enqueue, fast, running, wait_final

REMOTE = "+12025550321"


def test_calls_to_one_number_are_spaced_by_the_gap(config, store):
    acct = store.create_account("spaced")
    with running(fast(config, number_min_gap=4)):
        jobs = [enqueue(store, acct.account_id, REMOTE) for _ in range(3)]
        other = enqueue(store, acct.account_id, "+12025550322")
        done = wait_final(store, acct.account_id, jobs + [other], timeout=120)
    attempts = sorted((done[j]["attempt_history"][0] for j in jobs), key=lambda a: a["started"])
    assert all(done[j]["status"] == "completed" and done[j]["attempts"] == 1 for j in jobs + [other])
    for before, after in zip(attempts, attempts[1:]):
        # Gregorian seconds are whole: a 4 s gap shows as at least 3.
        assert after["started"] - before["ended"] >= 3, (before, after)
    # Another number is not held by the first one's gap.
    assert done[other]["attempt_history"][0]["started"] - attempts[0]["started"] < 4

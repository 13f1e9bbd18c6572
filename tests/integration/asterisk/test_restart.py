"""Asterisk killed in the middle of a fax (not between calls), with faxd's real composition.

The emulator's ``crash()`` is what the death of the Asterisk process looks like from AMI: the
connection drops, nothing listens, and every channel is gone without a Hangup event;
``restart()`` is a new Asterisk on the same port with no channels. T.30 is held after each
page (``step_pages``), so the crash falls at a known point of the document.
"""
from __future__ import annotations

import gevent

from faxd.testing.ami_emulator import FarEnd
from tests.integration.asterisk.test_engine import asterisk
from tests.integration.engine.harness import enqueue, running, wait_final

REMOTE = "+12025550199"


def _pages_seen(store, account_id, job_id) -> int:
    return int((store.get_job(account_id, job_id)["progress"] or {}).get("pages_sent") or 0)


def _crash_after_page(emulator, store, account_id, job_id, page: int) -> None:
    """Release T.30 page by page until faxd has seen ``page`` pages confirmed, then kill Asterisk
    while T.30 is held there (the next page not yet sent)."""
    for n in range(1, page + 1):
        with gevent.Timeout(30):
            while _pages_seen(store, account_id, job_id) < n:
                gevent.sleep(0.05)
        if n < page:
            emulator.release_page()
    emulator.crash()


def _originates(emulator) -> int:
    return [a.get("Action") for a in emulator.actions].count("Originate")


def test_killed_during_page_2_of_3_is_retried_after_the_restart(config, store, emulator, tmp_path):
    emulator.far_ends[REMOTE] = FarEnd("fax", station_id="REMOTE-FAX")
    emulator.step_pages = True
    acct = store.create_account("acme")
    c = asterisk(config, emulator, tmp_path).replace(asterisk_progress_interval=0.05)
    with running(c):
        job_id = enqueue(store, acct.account_id, REMOTE, pages=3, retries=3)
        _crash_after_page(emulator, store, acct.account_id, job_id, 1)
        gevent.sleep(1.0)                    # Asterisk is down a while
        emulator.restart()                   # step_pages is off: the retry runs through
        job = wait_final(store, acct.account_id, [job_id], timeout=90)[job_id]
    assert job["status"] == "completed", job["tx_result"]
    assert job["attempts"] == 2 and _originates(emulator) == 2
    first, second = job["attempt_history"]
    assert first["outcome"] == "failed"
    lost = first["tx_result"]
    assert (lost["success"], lost["hangup_cause"]) == (False, "SWITCH_LOST")
    assert "switch was lost" in lost["error_message"]
    assert second["outcome"] == "completed" and second["tx_result"]["pages_sent"] == 3
    assert job["tx_result"]["pages_sent"] == job["page_count"] == 3


def test_killed_after_the_last_page_was_confirmed_is_not_sent_again(config, store, emulator, tmp_path):
    emulator.far_ends[REMOTE] = FarEnd("fax", station_id="REMOTE-FAX")
    emulator.step_pages = True
    acct = store.create_account("acme")
    c = asterisk(config, emulator, tmp_path).replace(asterisk_progress_interval=0.05)
    with running(c):
        job_id = enqueue(store, acct.account_id, REMOTE, pages=3, retries=3)
        # Page 3 confirmed (its MCF reported), the phase E report not sent yet.
        _crash_after_page(emulator, store, acct.account_id, job_id, 3)
        gevent.sleep(1.0)
        emulator.restart()
        job = wait_final(store, acct.account_id, [job_id], timeout=60)[job_id]
        gevent.sleep(2)                      # a retry would have been dialled by now
    assert job["status"] == "completed", job["tx_result"]
    assert job["attempts"] == 1 and _originates(emulator) == 1
    tx = job["tx_result"]
    assert (tx["success"], tx["pages_sent"], tx["hangup_cause"]) == (True, 3, "SWITCH_LOST")
    assert "confirmed" in tx["result_text"]

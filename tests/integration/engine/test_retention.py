"""Retention: documents deleted N days after a fax is final with its record kept, whole faxes
deleted after M days, per account and per faxbox; the clock is the test's, not the wall's."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from faxd.retention import RetentionSweeper
from tests.integration.engine.harness import enqueue, fast, running, wait_final, wait_inbox
from tests.unit.api.helpers import add_inbox_fax, finish_job, make_pdf, make_tiff

DAY = timedelta(days=1)


def _documents(store, **where):
    key, value = next(iter(where.items()))
    with store.transaction() as c:
        c.execute(f"SELECT count(*) AS n FROM documents WHERE {key} = %s", (value,))
        return c.fetchone()["n"]


def _sweeper(config, store, when):
    return RetentionSweeper(config, store, now=lambda: when)


def test_documents_then_whole_faxes_go_when_the_policies_say(config, store):
    now = datetime.now(timezone.utc)
    kept = store.create_account("keeps everything")                      # server default: -1, kept
    acct = store.create_account("thirty days")
    store.set_fax_policy(acct.account_id, {"retention_documents_days": 30, "retention_purge_days": 365})
    box = store.create_faxbox(acct.account_id, {"name": "short", "retention_documents_days": 7}, "fax.test")
    jobs = {}
    for name, account_id, faxbox_id in (("kept", kept.account_id, None), ("account", acct.account_id, None),
                                        ("faxbox", acct.account_id, box["id"])):
        job = store.enqueue_job(account_id, {"to_number": "+12025550123", "from_number": "+12025550100"},
                                faxbox_id=faxbox_id, documents=[(make_pdf(), "application/pdf", "a.pdf")])
        finish_job(store, job["id"], pdf=make_pdf(), tiff=make_tiff())
        jobs[name] = (account_id, job["id"])
    received = add_inbox_fax(store, acct.account_id, tiff=make_tiff(), pdf=make_pdf())
    received_kept = add_inbox_fax(store, kept.account_id, tiff=make_tiff(), pdf=make_pdf())

    assert _sweeper(config, store, now + 6 * DAY).sweep() == {"documents": 0, "jobs": 0, "inbox": 0}
    # Day 8: the faxbox's 7 days are over; the account's 30 are not.
    assert _sweeper(config, store, now + 8 * DAY).sweep() == {"documents": 3, "jobs": 0, "inbox": 0}
    assert _documents(store, job_id=jobs["faxbox"][1]) == 0 and _documents(store, job_id=jobs["account"][1]) == 3
    # Day 31: the account's documents go, sent and received; the records stay, results and all.
    assert _sweeper(config, store, now + 31 * DAY).sweep() == {"documents": 5, "jobs": 0, "inbox": 0}
    job = store.get_job(*jobs["account"])
    assert job["status"] == "completed" and job["tx_result"]["pages_sent"] == 1
    assert store.get_inbox_fax(acct.account_id, received)["page_count"] == 1
    assert _documents(store, inbox_id=received) == 0
    # Day 366: the account's faxes are gone; the other account's are all still there.
    assert _sweeper(config, store, now + 366 * DAY).sweep() == {"documents": 0, "jobs": 2, "inbox": 1}
    assert store.get_job(*jobs["account"]) is None and store.get_inbox_fax(acct.account_id, received) is None
    assert store.get_job(*jobs["kept"])["status"] == "completed" and _documents(store, job_id=jobs["kept"][1]) == 3
    assert _documents(store, inbox_id=received_kept) == 2


def test_a_sent_and_received_fax_leaves_nothing_on_disk_once_swept(config, store):
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    store.set_fax_policy(boot.account_id, {"retention_purge_days": 0})
    with running(fast(config)):
        job_id = enqueue(store, boot.account_id, "+12025550100", document=b"a page to forget\n" * 30)
        assert wait_final(store, boot.account_id, [job_id])[job_id]["status"] == "completed"
        inbox_id = wait_inbox(store, boot.account_id)[0]["id"]
        tiff = bytes(store.get_inbox_document(boot.account_id, inbox_id, "fax_tiff")["data"])
    counts = _sweeper(config, store, datetime.now(timezone.utc) + DAY).sweep()
    assert counts == {"documents": 0, "jobs": 1, "inbox": 1}
    assert store.get_job(boot.account_id, job_id) is None
    with store.transaction() as c:
        c.execute("SELECT count(*) AS n FROM documents WHERE account_id = %s", (boot.account_id,))
        assert c.fetchone()["n"] == 0
    # No copy in the home directory (spool, temporary files): no file holds the fax's image data.
    probe = tiff[len(tiff) // 2:len(tiff) // 2 + 64]
    for root, _dirs, files in os.walk(config.home):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                assert probe not in f.read(), f"{path} still holds the fax"


def test_retention_settings_are_checked(config, store):
    from faxd.policy import PolicyError, validate_policy
    import pytest
    for bad in (-2, 36501, "30", True, 1.5):
        with pytest.raises(PolicyError):
            validate_policy({"retention_documents_days": bad})
    assert validate_policy({"retention_purge_days": -1, "retention_documents_days": 0}) == {
        "retention_purge_days": -1, "retention_documents_days": 0}

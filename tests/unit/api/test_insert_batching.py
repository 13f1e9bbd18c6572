"""Concurrent PUTs share INSERT statements; a bad row fails alone."""
from __future__ import annotations

import gevent
import pytest

from faxd.api.schemas import validate_job
from faxd.errors import NotFound
from tests.unit.api.conftest import URL_JOB


def _doc():
    return validate_job(dict(URL_JOB), region="US", has_documents=False)


def test_concurrent_jobs_are_inserted_together(store, acct):
    greenlets = [gevent.spawn(store.enqueue_job, acct.id, _doc()) for _ in range(40)]
    gevent.joinall(greenlets, timeout=30, raise_error=True)
    jobs = [g.value for g in greenlets]
    assert len({j["id"] for j in jobs}) == 40
    with store.transaction() as c:
        c.execute("SELECT id, created FROM jobs WHERE account_id = %s", (acct.id,))
        rows = {r["id"]: r["created"] for r in c.fetchall()}
    assert set(rows) == {j["id"] for j in jobs}
    # Rows of one statement share its transaction time: far fewer statements than jobs.
    assert len(set(rows.values())) < 20
    for job in jobs:
        assert store.get_job(acct.id, job["id"]) == job


def test_a_bad_row_fails_alone(store, acct):
    good = [gevent.spawn(store.enqueue_job, acct.id, _doc()) for _ in range(10)]
    bad = gevent.spawn(store.enqueue_job, acct.id, _doc(), faxbox_id="f" * 32)
    gevent.joinall(good + [bad], timeout=30)
    assert all(g.successful() for g in good)
    assert isinstance(bad.exception, NotFound)
    with pytest.raises(NotFound):
        store.enqueue_job(acct.id, _doc(), faxbox_id="e" * 32)
    assert store.enqueue_job(acct.id, _doc())["status"] == "attaching_files"

"""Who wakes up for what: the jobs NOTIFY carries the new status, and each service claims
only what it can take (no wasted claim per job)."""
import select

import psycopg2

from faxd.outbound.attacher import Attacher
from faxd.outbound.dispatcher import Dispatcher

from .harness import job_doc


def _notifications(dsn, action):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("LISTEN faxd_jobs")
        action()
        payloads = []
        while select.select([conn], [], [], 1.0)[0]:
            conn.poll()
            payloads += [n.payload for n in conn.notifies]
            conn.notifies.clear()
            if len(payloads) >= 2:
                break
        return payloads
    finally:
        conn.close()


def test_notify_payload_is_the_new_status(dsn, store):
    acct = store.create_account("wakeups")
    job_id = []

    def insert_then_ready():
        job = store.enqueue_job(acct.account_id, job_doc("+12025559000"),
                                documents=[(b"page", "text/plain", "p.txt")])
        job_id.append(job["id"])
        with store.transaction() as cur:
            cur.execute("UPDATE jobs SET status = 'pending' WHERE id = %s", (job["id"],))

    assert _notifications(dsn, insert_then_ready) == ["attaching_files", "pending"]


def test_dispatcher_ignores_attaching_jobs_and_attacher_ignores_ready_ones(config, store):
    d = Dispatcher(engine=None)
    a = Attacher(config, store, pipeline=None, node="n1")
    d.wake("attaching_files")
    a.wake("pending")
    assert not d._wake.is_set() and not a._wake.is_set()
    d.wake("pending")
    a.wake("attaching_files")
    assert d._wake.is_set() and a._wake.is_set()
    # A listener reconnect (payload None) or an unknown payload wakes both: nothing is missed.
    d._wake.clear()
    a._wake.clear()
    d.wake(None)
    a.wake("acct-123")
    assert d._wake.is_set() and a._wake.is_set()

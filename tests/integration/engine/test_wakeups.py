"""Who wakes up for what: the jobs NOTIFY carries the new status, and each service claims
only what it can take (no wasted claim per job)."""
import select

import psycopg2

from faxd.models import JobStatus
from faxd.outbound.attacher import Attacher
from faxd.outbound.dispatcher import Dispatcher
from faxd.store.dispatch import BLOCKED

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


def _ready_job(store, account_id, number):
    with store.transaction() as cur:
        job = store.enqueue_job(account_id, job_doc(number), status="pending", cur=cur)
        store.add_document(account_id, job_id=job["id"], role="fax_tiff", content_type="image/tiff",
                           data=b"II*\x00", pages=1, cur=cur)
    return job["id"]


def test_a_claim_that_finds_nothing_says_whether_due_jobs_wait_for_a_limit(store):
    acct = store.create_account("limits")
    with store.transaction() as cur:
        cur.execute("UPDATE accounts SET max_outbound = 1 WHERE id = %s", (acct.account_id,))
    assert store.claim_next_job("n1", "software", 10, 30) is None          # nothing due
    first = _ready_job(store, acct.account_id, "+12025559001")
    _ready_job(store, acct.account_id, "+12025559002")
    claimed = store.claim_next_job("n1", "software", 10, 30)
    assert claimed.id == first and claimed.fax_tiff == b"II*\x00"
    # a claimed job is a typed record with the faxbox's settings joined (here: no faxbox)
    assert claimed.status is JobStatus.PROCESSING and claimed.attempts == 1 and claimed.call_id
    assert claimed.faxbox_joined and claimed.faxbox_notifications is None
    assert store.claim_next_job("n1", "software", 10, 30) == BLOCKED       # max_outbound = 1
    store.release_job(first, "n1", 1, status="completed", outcome="completed", tx_result={}, progress={},
                      notify=False)
    second = store.claim_next_job("n1", "software", 10, 30)
    assert second.to_number == "+12025559002"
    assert store.claim_next_job("n1", "software", 10, 30) is None          # queue empty again

"""Preparation in batches: one claim takes several documents, shared between accounts as single
claims in a row would share them, a stopped node's documents first; many results are stored in
one transaction, each job with its documents, event and notifications, a job no longer ours
left alone; and a batch claimed by a node that dies is prepared by another node."""
import time

import gevent
import psycopg2

from faxd.documents import DocumentPipeline
from faxd.outbound.attacher import Attacher
from faxd.store.dispatch import AttachResult

from .harness import converted_fax, job_doc

HOOK = {"webhook": "http://127.0.0.1:9/hook"}


def _queue(store, account_id, n, tiff, **extra):
    ids = []
    for i in range(n):
        job = store.enqueue_job(account_id, job_doc(f"+1202555{len(ids) + 1:04d}", **extra),
                                documents=[(tiff, "image/tiff", "fax.tif")])
        ids.append(job["id"])
    return ids


def _single_claims(dsn, n):
    """The accounts ``n`` single claims in a row take, rolled back so nothing changes."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            taken = []
            for _ in range(n):
                cur.execute("SELECT id, account_id FROM faxd_claim_attaching('probe', 60)")
                taken += cur.fetchall()
            cur.execute("SELECT account_id FROM attach_turns ORDER BY last_claim")
            turns = [r[0] for r in cur.fetchall()]
        conn.rollback()
        return taken, turns
    finally:
        conn.close()


def test_a_batch_claim_takes_turns_like_single_claims_and_a_stopped_nodes_documents_first(config, store, dsn):
    tiff, _pdf, _pages = converted_fax(config)
    big = store.create_account("burst").account_id
    small = store.create_account("small").account_id
    late = store.create_account("late").account_id
    big_ids = _queue(store, big, 8, tiff)
    small_ids = _queue(store, small, 2, tiff)
    (stopped,) = _queue(store, late, 1, tiff)
    with store.transaction() as cur:   # a node took it and died: its lease has expired
        cur.execute("UPDATE jobs SET lease_owner = 'dead', lease_expires = now() - interval '1 s' WHERE id = %s",
                    (stopped,))
        cur.execute("INSERT INTO attach_turns VALUES (%s, now() - interval '1 min')", (small,))

    expected, expected_turns = _single_claims(dsn, 6)
    jobs = store.claim_attaching_jobs("n1", 60, 6)
    assert sorted((j.id, j.account_id) for j in jobs) == sorted(expected)
    with store.transaction() as cur:
        cur.execute("SELECT account_id FROM attach_turns ORDER BY last_claim")
        assert [r["account_id"] for r in cur.fetchall()] == expected_turns
    got = {j.id for j in jobs}
    # The stopped node's document first; then the accounts alternate, oldest job first in each.
    assert stopped in got
    assert got - {stopped} == set(big_ids[:3]) | set(small_ids[:2])
    assert all(bytes(j.originals[0]) == tiff and j.original_types == ["image/tiff"] for j in jobs)
    # What is left: one account's documents only; a batch larger than that takes them all.
    assert {j.id for j in store.claim_attaching_jobs("n1", 60, 10)} == set(big_ids[3:])
    assert store.claim_attaching_jobs("n1", 60, 10) == []


def test_results_stored_together_each_with_its_documents_event_and_notification(config, store):
    tiff, pdf, pages = converted_fax(config)
    acct = store.create_account("a").account_id
    ids = _queue(store, acct, 3, tiff, notifications=HOOK)
    jobs = {j.id: j for j in store.claim_attaching_jobs("n1", 60, 3)}
    assert set(jobs) == set(ids)
    with store.transaction() as cur:   # cancelled meanwhile (or taken over): no longer ours
        cur.execute("UPDATE jobs SET lease_owner = 'other' WHERE id = %s", (ids[1],))
    results = [AttachResult(jobs[i], tiff=tiff, pdf=pdf, pages=pages, width=1728, resolution="204x196")
               for i in ids]
    assert store.attach_done_many("n1", results) == [True, False, True]
    with store.transaction() as cur:
        cur.execute("SELECT id, status, page_count FROM jobs WHERE account_id = %s", (acct,))
        status = {r["id"]: (r["status"], r["page_count"]) for r in cur.fetchall()}
        cur.execute("SELECT job_id, role, size_bytes FROM documents WHERE job_id = ANY(%s) AND role <> 'original'",
                    (ids,))
        docs = sorted((r["job_id"], r["role"], r["size_bytes"]) for r in cur.fetchall())
        cur.execute("SELECT job_id FROM events WHERE kind = 'prepared'")
        prepared = sorted(r["job_id"] for r in cur.fetchall())
        cur.execute("SELECT job_id, event, target FROM notifications")
        notes = sorted((r["job_id"], r["event"], r["target"]) for r in cur.fetchall())
    done = sorted([ids[0], ids[2]])
    assert status == {ids[0]: ("pending", pages), ids[1]: ("attaching_files", None), ids[2]: ("pending", pages)}
    assert docs == sorted([(i, "fax_tiff", len(tiff)) for i in done] + [(i, "pdf", len(pdf)) for i in done])
    assert prepared == done
    assert notes == [(i, "outbound_queued", HOOK["webhook"]) for i in done]


def test_a_batch_of_a_node_that_died_is_prepared_by_another(config, store):
    tiff, _pdf, _pages = converted_fax(config)
    acct = store.create_account("a").account_id
    other = store.create_account("b").account_id
    ids = _queue(store, acct, 6, tiff)
    (second,) = _queue(store, other, 1, tiff)
    dead = store.claim_attaching_jobs("dead", 0.5, 4)   # claimed, never finished
    assert len(dead) == 4 and second in {j.id for j in dead}
    time.sleep(0.6)
    attacher = Attacher(config.replace(dispatch_tick=0.05), store, DocumentPipeline(config), "n2", concurrency=4)
    attacher.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            with store.transaction() as cur:
                cur.execute("SELECT count(*) AS n FROM jobs WHERE status = 'pending' AND lease_owner IS NULL")
                if cur.fetchone()["n"] == len(ids) + 1:
                    break
            assert time.monotonic() < deadline, "the dead node's documents were not prepared again"
            gevent.sleep(0.05)
    finally:
        attacher.stop_intake()
        attacher.stop()
    with store.transaction() as cur:
        cur.execute("SELECT job_id, count(*) AS n FROM documents WHERE role = 'fax_tiff' GROUP BY 1")
        assert {r["job_id"]: r["n"] for r in cur.fetchall()} == {i: 1 for i in ids + [second]}

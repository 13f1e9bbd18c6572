"""Group commit (faxd/store/group.py) on a real PostgreSQL: many callers' writes share
commits; each caller's result comes back only once its write is durable; one failing write
fails alone; one key's writes keep their order; a lost database fails the writes precisely
and the writers serve again afterwards.
"""
from __future__ import annotations

import gevent
import psycopg2
import pytest

from faxd.errors import StoreUnavailable
from faxd.store.db import Database


@pytest.fixture
def db(dsn):
    d = Database(dsn, pool_size=6, commit_writers=2)
    with d.transaction() as cur:
        cur.execute("CREATE TABLE scratch (key text, seq int, PRIMARY KEY (key, seq))")
    yield d
    d.close()


def _insert(key: str, seq: int):
    def work(cur):
        cur.execute("INSERT INTO scratch VALUES (%s, %s) RETURNING seq", (key, seq))
        return cur.fetchone()["seq"]
    return work


def _committed(dsn: str) -> list[tuple[str, int]]:
    """What another session sees: committed rows only."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT key, seq FROM scratch ORDER BY key, seq")
            return cur.fetchall()
    finally:
        conn.close()


def test_many_callers_share_commits_and_each_gets_its_own_result_once_durable(db, dsn):
    seen_committed = []

    def caller(i: int) -> None:
        for seq in range(5):
            assert db.grouped(f"call-{i}", _insert(f"call-{i}", seq)) == seq
            # Acknowledged only once durable: another session already sees it.
            seen_committed.append((f"call-{i}", seq) in _committed(dsn) if i < 3 else True)

    gevent.joinall([gevent.spawn(caller, i) for i in range(200)], raise_error=True)
    rows = _committed(dsn)
    assert len(rows) == 1000 and all(seen_committed)
    assert db.groups.writes == 1000
    # 200 calls writing at once: far fewer commits than writes.
    assert db.groups.commits <= 1000 / 4, (db.groups.commits, db.groups.writes)


def test_one_failing_write_fails_alone_and_its_group_still_commits(db, dsn, caplog):
    caplog.set_level("DEBUG", logger="faxd.store.group")
    def bad(cur):
        cur.execute("SELECT 1 / 0")

    results = {}

    def good(i):
        results[i] = db.grouped("same-key", _insert("k", i))

    def failing():
        with pytest.raises(psycopg2.errors.DivisionByZero):
            db.grouped("same-key", bad)
        results["bad"] = "raised"

    # Same key: one writer, queued together, so the failing write lands inside a group.
    greenlets = [gevent.spawn(good, i) for i in range(10)] + [gevent.spawn(failing)] + \
                [gevent.spawn(good, i) for i in range(10, 20)]
    gevent.joinall(greenlets, raise_error=True)
    assert results.pop("bad") == "raised"
    assert results == {i: i for i in range(20)}
    assert _committed(dsn) == [("k", i) for i in range(20)]
    assert "each runs alone" in caplog.text          # it failed inside a group


def test_one_keys_writes_keep_their_order(db, dsn):
    order = []

    def work(seq):
        def w(cur):
            cur.execute("INSERT INTO scratch VALUES ('ordered', %s)", (seq,))
            order.append(seq)
        return w

    gevent.joinall([gevent.spawn(db.grouped, "ordered", work(i)) for i in range(100)], raise_error=True)
    assert order == list(range(100))


def test_a_lost_database_fails_each_write_precisely_and_writers_serve_again(db, dsn):
    outcomes = {}

    def slow(seq):
        def w(cur):
            cur.execute("SELECT pg_sleep(0.3)")
            cur.execute("INSERT INTO scratch VALUES ('lost', %s)", (seq,))
        return w

    def caller(i):
        try:
            db.grouped("lost", slow(i))
            outcomes[i] = "ok"
        except StoreUnavailable as e:
            assert "database unavailable" in str(e)
            outcomes[i] = "unavailable"

    callers = [gevent.spawn(caller, i) for i in range(10)]
    gevent.sleep(0.15)                 # the first write is in its transaction, the others queue
    killer = psycopg2.connect(dsn)
    killer.autocommit = True
    with killer.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    killer.close()
    gevent.joinall(callers, raise_error=True)
    assert outcomes[0] == "unavailable" and len(outcomes) == 10, outcomes
    # What was acknowledged is there; what failed is not.
    assert [seq for key, seq in _committed(dsn) if key == "lost"] == sorted(i for i, o in outcomes.items() if o == "ok")
    # The writers live on: the next writes commit.
    assert db.grouped("after", _insert("after", 1)) == 1
    assert ("after", 1) in _committed(dsn)


def test_a_caller_killed_while_it_writes_loses_only_its_own_write(db, dsn):
    """The first caller to find the writer free writes itself; killed then (a stopping node
    kills its calls' greenlets), its transaction is rolled back and the writes queued behind
    it are still committed."""
    def slow(seq):
        def w(cur):
            cur.execute("SELECT pg_sleep(0.2)")
            cur.execute("INSERT INTO scratch VALUES ('killed', %s)", (seq,))
        return w

    outcomes = {}

    def caller(i):
        db.grouped("killed", slow(i))
        outcomes[i] = "ok"

    leader = gevent.spawn(caller, 0)
    gevent.sleep(0.05)
    queued = [gevent.spawn(caller, i) for i in range(1, 6)]
    gevent.sleep(0.05)
    leader.kill()                         # mid its own write
    gevent.joinall(queued, raise_error=True)
    assert outcomes == {i: "ok" for i in range(1, 6)}
    assert [seq for key, seq in _committed(dsn) if key == "killed"] == [1, 2, 3, 4, 5]


def test_many_calls_progress_merged_into_one_statement_keeps_every_write_and_event(dsn):
    """A group's progress writes are one UPDATE (a job written twice in the group goes into the
    next statement): each write is applied in order and fires its own events, and a write for
    an attempt that is no longer this node's changes nothing."""
    from faxd.store import PostgresStore
    store = PostgresStore(dsn, pool_size=4, commit_writers=1)
    try:
        account = store.create_account("a").account_id
        with store.transaction() as cur:
            for i in range(50):
                cur.execute("INSERT INTO jobs (id, account_id, status, to_number, from_number, attempts, lease_owner, "
                            "page_count) VALUES (%s, %s, 'processing', %s, '+12025550100', 1, 'n1', 3)",
                            (f"job{i}", account, f"+1312555{i:04d}"))
            cur.execute("UPDATE jobs SET lease_owner = 'other' WHERE id = 'job49'")
            cur.execute("SELECT count(*) AS n FROM events")
            before = cur.fetchone()["n"]

        def call(i):
            for page in (1, 2, 3):
                store.record_progress(f"job{i}", "n1", 1, {"stage": "page", "pages_sent": page, "pages_total": 3,
                                                           "text": f"Page {page} of 3"})

        gevent.joinall([gevent.spawn(call, i) for i in range(50)], raise_error=True)
        assert store.groups.writes == 150 and store.groups.commits < 50, (store.groups.commits, store.groups.writes)
        with store.transaction() as cur:
            cur.execute("SELECT id, progress, revision FROM jobs ORDER BY id")
            jobs = {r["id"]: r for r in cur.fetchall()}
            cur.execute("SELECT job_id, payload FROM events WHERE kind = 'page' ORDER BY id")
            pages = [(r["job_id"], r["payload"].get("page")) for r in cur.fetchall()]
            cur.execute("SELECT count(*) AS n FROM events")
            after = cur.fetchone()["n"]
        for i in range(49):
            assert jobs[f"job{i}"]["progress"]["pages_sent"] == 3 and jobs[f"job{i}"]["revision"] == 4
            assert [p for j, p in pages if j == f"job{i}"] == [1, 2, 3]
        assert jobs["job49"]["progress"] == {} and jobs["job49"]["revision"] == 1    # not this node's
        assert after - before == len(pages) == 49 * 3
    finally:
        store.close()


def _processing_jobs(store, n: int) -> str:
    """``n`` jobs in 'processing' on node n1, attempt 1, as a claim leaves them; the account."""
    account = store.create_account("a").account_id
    with store.transaction() as cur:
        for i in range(n):
            cur.execute("INSERT INTO jobs (id, account_id, status, to_number, from_number, attempts, lease_owner, "
                        "lease_expires, page_count) VALUES (%s, %s, 'processing', %s, '+12025550100', 1, 'n1', "
                        "now(), 1)", (f"job{i}", account, f"+1312555{i:04d}"))
    return account


def _queued_behind_a_slow_write(store, key: str, calls: list) -> list:
    """Run ``calls`` (greenlet targets) while one slow write holds the writer: they queue, and
    the writer commits them as one group. Their results in order."""
    def slow(cur):
        cur.execute("SELECT pg_sleep(0.3)")
    blocker = gevent.spawn(store.grouped, key, slow)
    gevent.sleep(0.05)
    greenlets = [gevent.spawn(c) for c in calls]
    gevent.joinall([blocker] + greenlets, raise_error=True)
    return [g.value for g in greenlets]


def test_leases_and_ends_of_many_calls_merge_and_each_call_gets_its_own_result(dsn):
    """Lease renewals and attempt ends are merged like progress (one statement per kind in a
    group): each call still learns whether the attempt is its own and whether a cancel was
    asked, and each end writes its own status, result, retry time and attempt row."""
    from datetime import datetime, timedelta, timezone
    from faxd.models import JobStatus
    from faxd.store import PostgresStore
    store = PostgresStore(dsn, pool_size=4, commit_writers=1)
    try:
        _processing_jobs(store, 40)
        with store.transaction() as cur:
            cur.execute("UPDATE jobs SET lease_owner = 'other' WHERE id = 'job38'")
            cur.execute("UPDATE jobs SET cancel_requested = true WHERE id = 'job39'")
        retry_at = datetime.now(timezone.utc) + timedelta(minutes=5)
        commits = store.groups.commits
        leases = _queued_behind_a_slow_write(store, "job0", [
            (lambda i=i: store.renew_lease(f"job{i}", "n1", 1, 600)) for i in range(40)])
        assert store.groups.commits - commits == 2               # the slow write, then one group
        assert leases[:38] == [(True, False)] * 38
        assert leases[38] == (False, False) and leases[39] == (True, True)

        def end(i):
            retry = i % 2 == 1
            return store.release_job(
                f"job{i}", "n1", 1, status=JobStatus.PENDING if retry else JobStatus.COMPLETED,
                outcome="failed" if retry else "completed", tx_result={"pages_sent": i, "success": not retry},
                progress={"stage": "done", "n": i}, run_after=retry_at if retry else None,
                force_audio=retry, not_fax_failures=i % 3, error="busy" if retry else None,
                notify=i % 4 == 0, force_no_ecm=True if i == 5 else None,
                route={"route_id": f"r{i}"} if i < 3 else None)
        commits = store.groups.commits
        ended = _queued_behind_a_slow_write(store, "job0", [(lambda i=i: end(i)) for i in range(40)])
        assert store.groups.commits - commits == 2
        assert ended == [True] * 38 + [False, True]               # job38 was not this node's
        with store.transaction() as cur:
            cur.execute("SELECT * FROM jobs ORDER BY id")
            jobs = {r["id"]: r for r in cur.fetchall()}
            cur.execute("SELECT * FROM job_attempts")
            attempts = {r["job_id"]: r for r in cur.fetchall()}
        for i in range(40):
            job = jobs[f"job{i}"]
            if i == 38:
                assert job["status"] == "processing" and job["lease_owner"] == "other" and f"job{i}" not in attempts
                continue
            retry = i % 2 == 1
            assert job["status"] == ("pending" if retry else "completed")
            assert job["lease_owner"] is None and job["lease_expires"] is None
            assert job["tx_result"] == {"pages_sent": i, "success": not retry}
            assert job["progress"] == {"stage": "done", "n": i}
            assert job["force_audio"] is retry and job["not_fax_failures"] == i % 3
            assert job["error"] == ("busy" if retry else None)
            assert (job["delivered"] is None) is retry
            if retry:
                assert abs((job["run_after"] - retry_at).total_seconds()) < 0.001
            assert job["force_no_ecm"] is (True if i == 5 else False)
            attempt = attempts[f"job{i}"]
            assert attempt["outcome"] == ("failed" if retry else "completed") and attempt["node"] == "n1"
            assert attempt["tx_result"] == job["tx_result"] and attempt["ended"] is not None
            assert attempt["route"] == ({"route_id": f"r{i}"} if i < 3 else None)
    finally:
        store.close()


def test_one_jobs_writes_of_every_kind_keep_their_order_inside_a_merged_group(dsn):
    """A group holding one job's renewal, progress, end and a late progress write: each runs
    after the one before it (the late write finds the attempt ended and changes nothing),
    while other jobs' writes of the same kinds share their statements."""
    from faxd.models import JobStatus
    from faxd.store import PostgresStore
    store = PostgresStore(dsn, pool_size=4, commit_writers=1)
    try:
        _processing_jobs(store, 3)

        def writes(job):
            return [lambda: store.renew_lease(job, "n1", 1, 600),
                    lambda: store.record_progress(job, "n1", 1, {"stage": "pages", "pages_sent": 1}),
                    lambda: store.release_job(job, "n1", 1, status=JobStatus.COMPLETED, outcome="completed",
                                              tx_result={"pages_sent": 1}, progress={"stage": "done"}, notify=False),
                    lambda: store.record_progress(job, "n1", 1, {"stage": "late"})]
        calls = [w for job in ("job0", "job1") for w in writes(job)] + \
                [lambda: store.renew_lease("job2", "n1", 1, 600)]
        commits = store.groups.commits
        results = _queued_behind_a_slow_write(store, "job0", calls)
        assert store.groups.commits - commits == 2
        assert results == [(True, False), None, True, None] * 2 + [(True, False)]
        with store.transaction() as cur:
            cur.execute("SELECT id, status, progress, revision FROM jobs ORDER BY id")
            jobs = cur.fetchall()
            cur.execute("SELECT job_id, kind FROM events WHERE kind IN ('page', 'completed') ORDER BY id")
            events = [(r["job_id"], r["kind"]) for r in cur.fetchall()]
        for job in jobs[:2]:
            assert job["status"] == "completed" and job["progress"] == {"stage": "done"}
            assert job["revision"] == 3                      # insert, progress, end: the late write found nothing
        assert jobs[2]["status"] == "processing"
        for job in ("job0", "job1"):
            assert [k for j, k in events if j == job] == ["page", "completed"]
    finally:
        store.close()


def _pages(store) -> dict[str, int]:
    """The heap page of each job's current row version."""
    with store.transaction() as cur:
        cur.execute("SELECT id, (ctid::text::point)[0]::int AS page FROM jobs")
        return {r["id"]: r["page"] for r in cur.fetchall()}


def test_a_fresh_calls_first_update_stays_on_its_rows_page(dsn):
    """A call's row is new when the call starts and is rewritten within seconds (its progress).
    The jobs table leaves room on each page (fillfactor 70), so that first new version stays on
    the row's page for most calls (a HOT update: no new index entry), instead of most calls'
    rows moving to other pages with a new entry in every index (at fillfactor 100: 225-237 of
    these 400)."""
    from faxd.store import PostgresStore
    store = PostgresStore(dsn, pool_size=4, commit_writers=2)
    try:
        _processing_jobs(store, 400)
        before = _pages(store)
        assert len(set(before.values())) > 5                      # rows on many pages, each page filled
        gevent.joinall([gevent.spawn(store.record_progress, f"job{i}", "n1", 1, {"stage": "answered"})
                        for i in range(400)], raise_error=True)
        after = _pages(store)
        moved = [job for job, page in before.items() if after[job] != page]
        assert len(moved) <= 120, f"{len(moved)} of 400 rows moved to another page"
        with store.transaction() as cur:
            cur.execute("SELECT progress FROM jobs WHERE id = 'job7'")
            assert cur.fetchone()["progress"] == {"stage": "answered"}
    finally:
        store.close()

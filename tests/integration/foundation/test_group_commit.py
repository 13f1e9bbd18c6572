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

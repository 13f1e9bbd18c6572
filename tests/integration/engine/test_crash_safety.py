"""No fax lost, none stuck, none sent twice: kill -9, two nodes, a database restart."""
import os
import shutil
import signal
import tempfile
import time
from collections import Counter

import gevent
import psycopg2
import pytest
import requests

from tests.integration.engine.harness import FINAL, attempts_of, converted_fax, enqueue_ready, wait_final
from tests.integration.foundation.daemon import FaxdProcess, database_url

NODE_ENV = {"FAXD_LEASE_SECONDS": "2", "FAXD_RETRY_PERIOD": "1", "FAXD_DISPATCH_TICK": "0.2",
            "FAXD_ORIGINATE_TIMEOUT": "5", "FAXD_SMTP_LISTEN": "", "FAXD_SHUTDOWN_GRACE": "2"}


def _node(tmp, name, db_url, **env):
    home = os.path.join(tmp, name)
    os.makedirs(home, exist_ok=True)
    return FaxdProcess({"FAXD_HOME": home, "FAXD_DATABASE_URL": db_url, **NODE_ENV, **env}).wait_ready()


def _counts(store, job_ids):
    with store.transaction() as cur:
        cur.execute("SELECT status, count(*) AS n FROM jobs WHERE id = ANY(%s) GROUP BY status", (list(job_ids),))
        return {r["status"]: r["n"] for r in cur.fetchall()}


def _wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        gevent.sleep(0.05)


def _check_honest(store, account_id, job_ids):
    """Every job final; attempts == recorded attempts; completed at most once."""
    jobs = wait_final(store, account_id, job_ids, timeout=120)
    rows = attempts_of(store, job_ids)
    by_job = {}
    for r in rows:
        by_job.setdefault(r["job_id"], []).append(r)
    for job_id, job in jobs.items():
        history = by_job.get(job_id, [])
        assert job["attempts"] == len(history), (job_id, job["attempts"], history)
        assert [r["attempt"] for r in history] == list(range(1, len(history) + 1))
        assert sum(1 for r in history if r["outcome"] == "completed") == (1 if job["status"] == "completed" else 0)
        assert all(r["outcome"] is not None for r in history), "an attempt was left open"
    return jobs, rows


def test_kill_9_with_30_faxes_in_flight_then_restart(config, store, dsn, tmp_path):
    acct = store.create_account("acme")
    with store.transaction() as cur:
        cur.execute("UPDATE accounts SET max_outbound = 30")
    fax = converted_fax(config)
    url = database_url(dsn)
    tmp = str(tmp_path)
    first = _node(tmp, "a", url)
    with store.transaction() as cur:        # one burst: unpaced calls are short, 30 queued one by one
                                            # may never be 5 on the line at once
        job_ids = [enqueue_ready(store, acct.account_id, f"+1202555{2000 + i:04d}", fax, cur=cur, retries=3)
                   for i in range(30)]
    _wait_for(lambda: _counts(store, job_ids).get("processing", 0) >= 5, what="calls in flight")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    in_flight = _counts(store, job_ids).get("processing", 0)
    assert in_flight > 0
    second = _node(tmp, "b", url)
    try:
        jobs, rows = _check_honest(store, acct.account_id, job_ids)
    finally:
        assert second.stop() == 0
    assert all(j["status"] == "completed" for j in jobs.values())
    interrupted = [r for r in rows if r["outcome"] == "interrupted"]
    assert len(interrupted) >= 1, "the calls cut by kill -9 count as interrupted attempts"


def test_two_nodes_share_200_jobs_each_dispatched_once_and_survive_one_dying(config, store, dsn, tmp_path):
    acct = store.create_account("acme")
    max_outbound = 6
    with store.transaction() as cur:
        cur.execute("UPDATE accounts SET max_outbound = %s", (max_outbound,))
    fax = converted_fax(config)
    url = database_url(dsn)
    tmp = str(tmp_path)
    job_ids = [enqueue_ready(store, acct.account_id, f"+1202555{3000 + i:04d}", fax, retries=3)
               for i in range(200)]
    a = _node(tmp, "a", url, FAXD_T38="request")
    b = _node(tmp, "b", url, FAXD_T38="request")
    try:
        _wait_for(lambda: _counts(store, job_ids).get("completed", 0) >= 60, timeout=120, what="60 faxes")
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        jobs, rows = _check_honest(store, acct.account_id, job_ids)
    finally:
        assert b.stop() == 0
    assert all(j["status"] == "completed" for j in jobs.values())
    nodes = Counter(r["node"] for r in rows if r["outcome"] == "completed")
    assert len(nodes) == 2, "both nodes sent faxes"
    # Each job was dispatched once, except attempts cut short by the killed node.
    extra = [r for r in rows if r["attempt"] > 1]
    assert all(prev["outcome"] == "interrupted" for prev in rows
               if any(e["job_id"] == prev["job_id"] and e["attempt"] == prev["attempt"] + 1 for e in extra))
    # The per-account limit held across both nodes at every instant.
    edges = sorted([(r["started"], 1) for r in rows] + [(r["ended"], -1) for r in rows])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    assert peak <= max_outbound


@pytest.fixture
def private_postgres():
    """A cluster of our own that the test may restart."""
    from faxd.store.embedded import EmbeddedPostgres
    base = tempfile.mkdtemp(prefix="faxd-pgr-", dir="/tmp")
    os.chmod(base, 0o755)
    pg = EmbeddedPostgres(os.path.join(base, "postgres"), dbname="faxd")
    pg.start()
    yield pg
    pg.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_database_restart_mid_run_loses_nothing_and_api_answers_503(config, tmp_path, private_postgres):
    from faxd.store import PostgresStore
    from faxd.store.migrate import migrate
    pg = private_postgres
    dsn = pg.dsn()
    migrate(dsn)
    store = PostgresStore(dsn, 4)
    acct = store.create_account("acme")
    fax = converted_fax(config)
    url = f"postgresql://postgres@/faxd?host={pg.socket_dir}"
    node = _node(str(tmp_path), "a", url)
    try:
        token = requests.put(node.base_url + "/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                             timeout=10).json()["auth_token"]
        job_ids = [enqueue_ready(store, acct.account_id, f"+1202555{4000 + i:04d}", fax, retries=4)
                   for i in range(20)]
        _wait_for(lambda: _counts(store, job_ids).get("completed", 0) >= 2, what="some faxes")
        pg.stop()
        r = requests.get(f"{node.base_url}/v2/accounts/{acct.account_id}/faxes/outbox",
                         headers={"X-Auth-Token": token}, timeout=30)
        assert r.status_code == 503 and r.headers.get("Retry-After")
        assert requests.get(node.base_url + "/health", timeout=10).status_code == 503
        gevent.sleep(1.0)
        pg.start()
        _check_honest(store, acct.account_id, job_ids)
        r = requests.get(f"{node.base_url}/v2/accounts/{acct.account_id}/faxes/outbox?paginate=false",
                         headers={"X-Auth-Token": token}, timeout=30)
        assert r.status_code == 200
        assert {j["id"] for j in r.json()["data"]} == set(job_ids)
    finally:
        assert node.stop() == 0
        store.close()

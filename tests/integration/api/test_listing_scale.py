"""Listings stay index range scans on a big account: no sort, no sequential scan, fast pages."""
from __future__ import annotations

import json
import time

import pytest

from faxd.store.inbox import INBOX_LISTING
from faxd.store.jobs import FOLDERS, JOB_LISTING, job_summary
from faxd.store.db import _positional
from faxd.store.listing import ListQuery, list_page, page_sql

ROWS = 100_000


@pytest.fixture(scope="module")
def big_account(store):
    acct = store.create_account("big")
    with store.transaction() as c:
        c.execute(
            "INSERT INTO jobs (id, account_id, status, to_number, from_number, doc, created, modified) "
            "SELECT md5('big' || g::text), %(a)s, "
            "  (ARRAY['completed','failed','cancelled','attaching_files'])[1 + g %% 4], '+18884732963', '+18884732963', "
            "  '{}'::jsonb, now() - g * interval '1 second', now() FROM generate_series(1, %(n)s) g",
            {"a": acct.account_id, "n": ROWS})
        c.execute("ANALYZE jobs")
    return acct.account_id


def _plan(store, listing, scope, q, where=None):
    query, params = page_sql(listing, scope, q, where)
    with store.transaction() as c:
        c.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + c.mogrify(query, params).decode())
        plan = c.fetchone()["QUERY PLAN"]
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    nodes = []

    def walk(n):
        nodes.append(n)
        for child in n.get("Plans", []):
            walk(child)
    walk(plan["Plan"])
    return nodes, plan["Execution Time"]


@pytest.mark.parametrize("folder", ["outbox", "outgoing", None])
@pytest.mark.parametrize("ascending", [False, True])
def test_job_pages_are_index_range_scans(store, big_account, folder, ascending):
    first = store.list_jobs(big_account, folder, ListQuery(page_size=50, ascending=ascending))
    assert len(first.rows) == 50 and first.next_start_key
    deep = ListQuery(page_size=50, ascending=ascending, start_key=first.next_start_key)
    for q in (ListQuery(page_size=50, ascending=ascending), deep):
        nodes, ms = _plan(store, JOB_LISTING, {"account_id": big_account}, q, FOLDERS[folder])
        kinds = {n["Node Type"] for n in nodes}
        assert "Seq Scan" not in kinds and "Sort" not in kinds, kinds
        assert any(n["Node Type"] in ("Index Scan", "Index Scan Backward") for n in nodes), kinds
        assert ms < 50, ms


def test_page_fetch_is_fast(store, big_account):
    """The store call behind GET /faxes/outbox, timed (median of five)."""
    times = []
    for _ in range(5):
        t = time.perf_counter()
        page = store.list_jobs(big_account, "outbox", ListQuery(page_size=50))
        times.append(time.perf_counter() - t)
    assert len(page.rows) == 50
    assert sorted(times)[2] < 0.05, times


def test_inbox_listing_plan(store, big_account):
    nodes, _ = _plan(store, INBOX_LISTING, {"account_id": big_account}, ListQuery(page_size=50))
    assert "Sort" not in {n["Node Type"] for n in nodes}


@pytest.mark.parametrize("mode", ["rows", "fingerprint"])
def test_first_pages_settle_on_a_generic_plan(store, big_account, mode):
    """The listing's statements stop being planned per request, and stay index scans.

    "rows" is the page query (what a page the cache does not have costs), "fingerprint"
    what a page polled again costs.
    """
    scope, q = {"account_id": big_account}, ListQuery(page_size=50)
    for _ in range(8):
        if mode == "rows":
            list_page(store, JOB_LISTING, scope, q, FOLDERS["outbox"], row=job_summary)
        else:
            store.list_jobs(big_account, "outbox", q)
    query, params = page_sql(JOB_LISTING, scope, q, FOLDERS["outbox"], mode=mode)
    with store.statement(dicts=False) as cur:   # on the connection just used
        cur.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement = 'PREPARE ' || name || ' AS ' || %s", (_positional(query)[0],))
        (name, generic, custom), = cur.fetchall()
        assert generic >= 2 and custom <= 5, (generic, custom)
        cur.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {name} (%s)", params)
        plan = json.dumps(cur.fetchone()[0])
    assert '"Index Name": "jobs_outbox_idx"' in plan and "$1" in plan, plan   # generic: $1 unbound
    assert '"Sort"' not in plan and '"Seq Scan"' not in plan, plan

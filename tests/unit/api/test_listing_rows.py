"""Job listing rows field by field, and the prepared statements the listings run through."""
from __future__ import annotations

import hashlib

from faxd.models import GREGORIAN_OFFSET
from faxd.store.jobs import JOB_LISTING, _page_cache
from faxd.store.db import execute_prepared
from faxd.store.listing import ListQuery, Page, PageCache, _fingerprint, page_sql

# 2026-01-01T00:00:00Z as Unix seconds.
T0 = 1767225600


def _number(account_id: str, i: int) -> str:
    # Unique per account: only one processing job may call a number at a time, database-wide.
    return f"+1{int(account_id[:7], 16) % 10 ** 9:09d}{i}"


def _insert(store, account_id, faxbox_id):
    """Jobs in every folder and outcome, created one second apart (oldest first)."""
    rows = [
        # id, status, source, faxbox, tx_result, page_count, delivered (seconds after T0)
        ("j1", "pending", "api", None, "{}", None, None),
        ("j2", "processing", "smtp", faxbox_id, "{}", 3, None),
        ("j3", "completed", "resubmit", faxbox_id, '{"success": true, "pages_sent": 2}', 2, 50),
        ("j4", "failed", "forward", None, '{"success": false, "error_message": "busy \\"x\\" ☎"}', None, 60),
        ("j5", "cancelled", "api", None, "{}", None, None),
    ]
    with store.transaction() as c:
        for i, (jid, status, source, faxbox, tx, pages, delivered) in enumerate(rows):
            c.execute(
                "INSERT INTO jobs (id, account_id, faxbox_id, status, source, to_number, from_number, "
                "  retries, attempts, tx_result, page_count, created, modified, delivered) "
                "VALUES (%s, %s, %s, %s, %s, %s, '+18884732963', 2, %s, %s::jsonb, %s, "
                "  to_timestamp(%s + 0.25), to_timestamp(%s + 0.75), to_timestamp(%s))",
                (account_id + jid, account_id, faxbox, status, source, _number(account_id, i), i, tx, pages,
                 T0 + i, T0 + 100 + i, None if delivered is None else T0 + delivered))


def test_listing_rows_field_by_field(client, acct, store):
    faxbox = client.simulate_put(f"{acct.base}/faxboxes", headers=acct.headers,
                                 json={"data": {"name": "rows", "caller_id": "+12025550100"}})
    assert faxbox.status_code in (200, 201), faxbox.text
    faxbox_id = faxbox.json["data"]["id"]
    _insert(store, acct.id, faxbox_id)
    g = GREGORIAN_OFFSET + T0

    def summary(i, jid, status, source, faxbox):
        return {"id": acct.id + jid, "status": status, "to": _number(acct.id, i), "from": "+18884732963",
                "attempts": i, "retries": 2, "created": g + i, "modified": g + 100 + i,
                "faxbox_id": faxbox, "source": source}

    outbox = client.simulate_get(f"{acct.base}/faxes/outbox", headers=acct.headers).json
    assert outbox["data"] == [
        {**summary(4, "j5", "cancelled", "api", None),
         "delivered": "undefined", "page_count": 0, "success": False, "error_message": ""},
        {**summary(3, "j4", "failed", "forward", None),
         "delivered": g + 60, "page_count": 0, "success": False, "error_message": 'busy "x" ☎'},
        {**summary(2, "j3", "completed", "resubmit", faxbox_id),
         "delivered": g + 50, "page_count": 2, "success": True, "error_message": ""},
    ]
    # Kazoo's key order, not just the same keys.
    assert list(outbox["data"][0]) == ["id", "status", "to", "from", "attempts", "retries", "created",
                                       "modified", "faxbox_id", "source", "delivered", "page_count",
                                       "success", "error_message"]
    expected_rev = hashlib.md5("".join(f"{r['id']}:{r['modified']};" for r in outbox["data"]).encode())
    assert outbox["revision"] == expected_rev.hexdigest()
    assert outbox["page_size"] == 3 and "next_start_key" not in outbox

    outgoing = client.simulate_get(f"{acct.base}/faxes/outgoing?ascending=true", headers=acct.headers).json
    assert outgoing["data"] == [summary(0, "j1", "pending", "api", None),
                                summary(1, "j2", "processing", "smtp", faxbox_id)]

    scoped = client.simulate_get(f"{acct.base}/faxboxes/{faxbox_id}/faxes/outbox", headers=acct.headers).json
    assert [r["id"] for r in scoped["data"]] == [acct.id + "j3"]


def _statements(store):
    """The prepared statements of the connection the pool hands out next (the last one used)."""
    with store.statement(dicts=False) as cur:
        cur.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE name LIKE 'faxd_api_%'")
        return cur.fetchall()


def test_listings_run_prepared_statements_with_generic_plans(client, acct, store):
    _insert(store, acct.id, None)
    url = f"{acct.base}/faxes/outbox?page_size=2"
    first = client.simulate_get(url, headers=acct.headers).json
    for _ in range(12):
        assert client.simulate_get(url, headers=acct.headers).json["data"] == first["data"]
    # PostgreSQL plans the first five executions for their values, then keeps a generic plan.
    assert max(generic for _name, generic, _custom in _statements(store)) >= 5


def test_listings_survive_lost_prepared_statements(client, acct, store):
    _insert(store, acct.id, None)
    url = f"{acct.base}/faxes/outbox?page_size=2"
    first = client.simulate_get(url, headers=acct.headers).json
    # Something (DISCARD ALL, a pooler) drops the session's statements behind faxd's back.
    with store.statement() as cur:
        cur.execute("DEALLOCATE ALL")
    again = client.simulate_get(url, headers=acct.headers)
    assert again.status_code == 200, again.text
    assert again.json["data"] == first["data"] and again.json["next_start_key"] == first["next_start_key"]
    assert _statements(store)   # prepared anew
    job = client.simulate_get(f"{acct.base}/faxes/outbox/{acct.id}j3", headers=acct.headers)
    assert job.status_code == 200 and job.json["data"]["status"] == "completed"


# --- the page cache: a page polled again is served from memory only while its rows are unchanged


def _page(client, acct, query="page_size=2"):
    r = client.simulate_get(f"{acct.base}/faxes/outbox?{query}", headers=acct.headers)
    assert r.status_code == 200, r.text
    return r.json


def _sql(store, statement, params=()):
    with store.transaction() as c:
        c.execute(statement, params)


def test_cached_page_is_served_while_unchanged(client, acct, store):
    _insert(store, acct.id, None)
    cached = len(_page_cache(store))
    first = store.list_jobs(acct.id, "outbox", ListQuery(page_size=2))
    assert len(_page_cache(store)) == cached          # asked for once: not kept
    second = store.list_jobs(acct.id, "outbox", ListQuery(page_size=2))
    assert second is not first and second == first and len(_page_cache(store)) == cached + 1
    assert store.list_jobs(acct.id, "outbox", ListQuery(page_size=2)) is second
    # Another page: another entry.
    store.list_jobs(acct.id, "outbox", ListQuery(page_size=3))
    assert store.list_jobs(acct.id, "outbox", ListQuery(page_size=3)) is not second


def test_any_change_to_a_cached_page_is_seen(client, acct, store):
    _insert(store, acct.id, None)
    before = _page(client, acct)
    assert [r["id"] for r in before["data"]] == [acct.id + "j5", acct.id + "j4"]
    assert _page(client, acct)["data"] == before["data"]     # kept from this second time on
    again = _page(client, acct)          # served from the cache
    assert again["data"] == before["data"] and again["revision"] == before["revision"]
    assert again["next_start_key"] == before["next_start_key"]

    # An update that leaves modified as it was: only the row version tells.
    _sql(store, "UPDATE jobs SET tx_result = tx_result || '{\"error_message\": \"no answer\"}' "
                "WHERE id = %s", (acct.id + "j4",))
    after = _page(client, acct)
    assert after["data"][1]["error_message"] == "no answer"
    assert after["data"][0] == before["data"][0] and after["revision"] == before["revision"]

    # The row after the page (it gives next_start_key) changes: deleted.
    assert after["next_start_key"] == before["next_start_key"]
    _sql(store, "DELETE FROM jobs WHERE id = %s", (acct.id + "j3",))
    after = _page(client, acct)
    assert "next_start_key" not in after
    assert [r["id"] for r in after["data"]] == [acct.id + "j5", acct.id + "j4"]

    # A newer fax arrives: the first page shifts.
    _sql(store, "INSERT INTO jobs (id, account_id, status, to_number, from_number, created) "
                "VALUES (%s, %s, 'failed', '+12025550199', '+18884732963', now())", (acct.id + "j9", acct.id))
    after = _page(client, acct)
    assert [r["id"] for r in after["data"]] == [acct.id + "j9", acct.id + "j5"]
    assert after["revision"] != before["revision"] and after["next_start_key"]

    # A row of the page leaves the folder (back to outgoing).
    _sql(store, "UPDATE jobs SET status = 'pending' WHERE id = %s", (acct.id + "j9",))
    assert [r["id"] for r in _page(client, acct)["data"]] == [acct.id + "j5", acct.id + "j4"]


def test_page_cache_bounds():
    now = [0.0]
    cache = PageCache(max_entries=2, max_age=10, clock=lambda: now[0])
    pages = [Page(rows=[], start_key=None, next_start_key=None) for _ in range(3)]
    cache.put(("a",), "fa", pages[0])
    cache.put(("b",), "fb", pages[1])
    assert cache.get(("a",)) == ("fa", pages[0])      # a is now the most recently used
    cache.put(("c",), "fc", pages[2])                  # evicts b, the least recently used
    assert cache.get(("b",)) is None and len(cache) == 2
    now[0] = 10.0
    assert cache.get(("a",)) is None and cache.get(("c",)) is None
    # Kept from the second time a page is asked for within max_age.
    assert not cache.wanted(("d",)) and cache.wanted(("d",)) and not cache.wanted(("e",))
    now[0] = 20.0
    assert not cache.wanted(("e",))


def test_fingerprint_matches_the_database(store, acct):
    """The fingerprint computed from a page's rows equals the fingerprint query's."""
    _insert(store, acct.id, None)
    q = ListQuery(page_size=50)
    versioned, params = page_sql(JOB_LISTING, {"account_id": acct.id}, q, mode="versioned")
    fingerprint, _ = page_sql(JOB_LISTING, {"account_id": acct.id}, q, mode="fingerprint")
    with store.transaction() as c:
        c.execute(versioned, params)
        versions = [r["row_version"] for r in c.fetchall()]
        c.execute(fingerprint, params)
        expected = c.fetchone()["md5"]
    assert len(versions) == 5 and _fingerprint(versions) == expected


def test_prepared_statement_survives_a_changed_table(store):
    """A migration that changes a table under a prepared statement: it is prepared anew."""
    with store.statement(dicts=False) as cur:
        cur.execute("CREATE TABLE prepared_probe (a integer)")
        try:
            cur.execute("INSERT INTO prepared_probe VALUES (1)")
            query = "SELECT * FROM prepared_probe WHERE a = %s"
            execute_prepared(cur, query, [1])
            assert cur.fetchall() == [(1,)]
            cur.execute("ALTER TABLE prepared_probe ADD COLUMN b text DEFAULT 'x'")
            execute_prepared(cur, query, [1])
            assert cur.fetchall() == [(1, "x")]
        finally:
            cur.execute("DROP TABLE prepared_probe")

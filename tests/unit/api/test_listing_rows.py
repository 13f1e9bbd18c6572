"""Job listing rows field by field, and the prepared statements the listings run through."""
from __future__ import annotations

import hashlib

from faxd.models import GREGORIAN_OFFSET

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
    with store._pool.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE name LIKE 'faxd_api_%'")
        return cur.fetchall()


def test_listings_run_prepared_statements_with_generic_plans(client, acct, store):
    _insert(store, acct.id, None)
    url = f"{acct.base}/faxes/outbox?page_size=2"
    first = client.simulate_get(url, headers=acct.headers).json
    for _ in range(9):
        assert client.simulate_get(url, headers=acct.headers).json["data"] == first["data"]
    # PostgreSQL plans the first five executions for their values, then keeps a generic plan.
    assert max(generic for _name, generic, _custom in _statements(store)) >= 5


def test_listings_survive_lost_prepared_statements(client, acct, store):
    _insert(store, acct.id, None)
    url = f"{acct.base}/faxes/outbox?page_size=2"
    first = client.simulate_get(url, headers=acct.headers).json
    # Something (DISCARD ALL, a pooler) drops the session's statements behind faxd's back.
    with store._pool.connection() as conn, conn.cursor() as cur:
        cur.execute("DEALLOCATE ALL")
    again = client.simulate_get(url, headers=acct.headers)
    assert again.status_code == 200, again.text
    assert again.json["data"] == first["data"] and again.json["next_start_key"] == first["next_start_key"]
    assert _statements(store)   # prepared anew
    job = client.simulate_get(f"{acct.base}/faxes/outbox/{acct.id}j3", headers=acct.headers)
    assert job.status_code == 200 and job.json["data"]["status"] == "completed"

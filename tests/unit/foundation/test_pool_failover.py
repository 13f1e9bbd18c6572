"""A server that stops being the primary: its connections are dropped, not reused.

After a failover or switchover the old primary (if it comes back) is a standby: its sessions
answer reads but refuse writes with SQLSTATE 25006. Such a connection must leave the pool, so
that the next one goes through the URL's host list again and reaches the new primary.
Simulated on the test server with ``default_transaction_read_only`` for new sessions.
"""
from __future__ import annotations

import psycopg2
import pytest

from faxd.errors import StoreUnavailable


def _admin(pg_admin_dsn, statement):
    conn = psycopg2.connect(pg_admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def test_read_only_server_is_unavailable_and_its_connections_are_not_reused(store, pg_admin_dsn, db_name):
    _admin(pg_admin_dsn, f"ALTER DATABASE {db_name} SET default_transaction_read_only = on")
    assert store.ping()                          # reads work: the pool holds a read-only session
    with pytest.raises(StoreUnavailable, match="read-only"):
        store.create_account("during")           # the server answers, but as a standby would
    _admin(pg_admin_dsn, f"ALTER DATABASE {db_name} RESET default_transaction_read_only")
    # "Promoted": a fresh connection writes; the read-only session was not kept for reuse.
    assert store.create_account("after").account_id
    assert store.ping()

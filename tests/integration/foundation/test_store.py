"""The store: green queries, pool behaviour, accounts, tokens, bootstrap, lost connections."""
import time

import gevent
import psycopg2
import pytest

from faxd import ids
from faxd.errors import StoreUnavailable
from faxd.store import PostgresStore


def test_queries_never_block_the_hub(store):
    """A 1 s pg_sleep in one greenlet while a ticker keeps its 10 ms rhythm."""
    gaps = []

    def ticker():
        last = time.monotonic()
        while True:
            gevent.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    def slow():
        with store.transaction() as cur:
            cur.execute("SELECT pg_sleep(1)")

    t = gevent.spawn(ticker)
    started = time.monotonic()
    gevent.joinall([gevent.spawn(slow), gevent.spawn(slow)], raise_error=True)
    elapsed = time.monotonic() - started
    t.kill()
    assert elapsed < 1.8, "two 1 s queries must run concurrently"
    assert len(gaps) > 50
    assert max(gaps) < 0.1


def test_pool_makes_callers_wait_instead_of_failing(dsn):
    s = PostgresStore(dsn, pool_size=2)
    try:
        def q():
            with s.transaction() as cur:
                cur.execute("SELECT pg_sleep(0.2)")
        started = time.monotonic()
        gevent.joinall([gevent.spawn(q) for _ in range(6)], raise_error=True)
        assert time.monotonic() - started >= 0.55  # 3 rounds of 2
    finally:
        s.close()


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(ZeroDivisionError):
        with store.transaction() as cur:
            store.create_account("doomed", cur=cur)
            1 / 0
    assert store.count_accounts() == 0


def test_api_key_becomes_expiring_token_stored_hashed(store):
    acct = store.create_account("acme")
    account_id, token = store.create_auth_token(acct.api_key, ttl=60)
    assert account_id == acct.account_id
    assert store.account_for_token(token) == acct.account_id
    assert store.account_for_token(token + "x") is None
    assert store.create_auth_token("0" * 64, ttl=60) is None
    with store.transaction() as cur:
        cur.execute("SELECT key_hash FROM api_keys")
        assert bytes(cur.fetchone()["key_hash"]) == ids.digest(acct.api_key)
        cur.execute("SELECT count(*) AS n FROM auth_tokens WHERE token_hash = %s", (ids.digest(token),))
        assert cur.fetchone()["n"] == 1
        cur.execute("UPDATE auth_tokens SET expires = now() - interval '1 second'")
    assert store.account_for_token(token) is None


def test_bootstrap_happens_once(store):
    b = store.bootstrap("+12025550100", "fax.example", "faxd")
    assert b is not None and b.fax_number == "+12025550100"
    assert store.faxbox_for_number("+12025550100")["faxbox_id"] == b.faxbox_id
    assert store.create_auth_token(b.api_key, 60)[0] == b.account_id
    assert store.bootstrap("+12025550100", "fax.example", "faxd") is None
    assert store.count_accounts() == 1


def _terminate_backends(pg_admin_dsn, db_name):
    admin = psycopg2.connect(pg_admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (db_name,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (db_name,))
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.02)
    admin.close()


def test_connections_the_server_closed_are_not_handed_out_again(store, pg_admin_dsn, db_name):
    """After a server restart (here: every backend terminated) the next query just works."""
    gevent.joinall([gevent.spawn(store.ping) for _ in range(3)])  # several idle connections
    _terminate_backends(pg_admin_dsn, db_name)
    assert store.count_accounts() == 0
    assert store.ping()


def test_a_query_cut_by_the_server_is_store_unavailable(store, pg_admin_dsn, db_name):
    def cut():
        gevent.sleep(0.3)
        _terminate_backends(pg_admin_dsn, db_name)
    g = gevent.spawn(cut)
    with pytest.raises(StoreUnavailable):
        with store.transaction() as cur:
            cur.execute("SELECT pg_sleep(5)")
    g.join()
    assert store.ping()

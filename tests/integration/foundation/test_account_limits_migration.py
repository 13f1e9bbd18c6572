"""Migration 0005 (fraud and abuse controls) on a database that already has accounts, and the
super-admin flag of the bootstrap account."""
from __future__ import annotations

import os
import shutil

import psycopg2
import psycopg2.extras

from faxd.config import Config
from faxd.policy import Policy, destination_refusal
from faxd.store import PostgresStore
from faxd.store.migrate import MIGRATIONS_DIR, available, migrate


def _accounts(dsn):
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT name, superduper_admin, fax_policy FROM accounts ORDER BY created")
            return cur.fetchall()
    finally:
        conn.close()


def test_existing_accounts_keep_international_lose_premium_rate_and_bootstrap_is_super_admin(dsn, tmp_path):
    # dsn: a database with the whole schema; rebuild one at the state before 0005 instead.
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()
    before = tmp_path / "before"
    before.mkdir()
    for version, _, path in available():
        if version < 5:
            shutil.copy(path, before)
    migrate(dsn, str(before))
    old = PostgresStore(dsn, pool_size=1)
    try:
        with old.transaction() as c:
            c.execute("INSERT INTO accounts (id, name, created) VALUES ('a' || repeat('0', 31), 'bootstrap', now() - interval '1 day'), "
                      "('b' || repeat('0', 31), 'customer', now())")
    finally:
        old.close()
    assert migrate(dsn, MIGRATIONS_DIR)[-1] >= 5
    rows = _accounts(dsn)
    assert [(r["name"], r["superduper_admin"]) for r in rows] == [("bootstrap", True), ("customer", False)]
    config = Config.load(path=None, env={})
    policy = Policy.effective(config, rows[1]["fax_policy"])
    assert destination_refusal(policy, "+442079460000") is None          # as before the upgrade
    assert destination_refusal(policy, "+19005551234")[0] == "premium_rate"
    assert destination_refusal(policy, "+33810123456") is None          # shared cost: as before
    # a new account takes the server's defaults
    new = Policy.effective(config, {})
    assert destination_refusal(new, "+442079460000")[0] == "international"
    assert destination_refusal(new, "+33810123456")[0] in ("shared_cost", "international")


def test_the_bootstrap_account_is_a_super_admin_and_later_accounts_are_not(store):
    b = store.bootstrap("+12025550100", "fax.test", "faxd")
    later = store.create_account("customer")
    assert store.is_superduper_admin(b.account_id) is True
    assert store.is_superduper_admin(later.account_id) is False

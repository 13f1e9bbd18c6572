"""API fixtures: the real app on the real store, two fresh accounts per test.

The API is multi-tenant, so tests are isolated by account: each test gets new accounts on a
database shared by the module (created from the migrated template), which spares a
CREATE DATABASE per test.
"""
from __future__ import annotations

import itertools
import os

import pytest
from falcon import testing

from faxd.api.app import create_app
from faxd.config import Config
from faxd.store import PostgresStore
from tests.conftest import create_database, drop_database

_dbs = itertools.count()


@pytest.fixture(scope="module")
def dsn(pg_admin_dsn, template_db):
    name = f"faxd_api_{os.getpid()}_{next(_dbs)}"
    url = create_database(pg_admin_dsn, name, template=template_db)
    yield url
    drop_database(pg_admin_dsn, name)


@pytest.fixture(scope="module")
def store(dsn):
    s = PostgresStore(dsn, pool_size=5)
    yield s
    s.close()


@pytest.fixture(scope="module")
def config(tmp_path_factory, dsn):
    home = tmp_path_factory.mktemp("home")
    return Config.load(path=None, env={}, home=str(home), database_url=dsn)


class Account:
    def __init__(self, client, store, name):
        acct = store.create_account(name)
        self.id = acct.account_id
        self.api_key = acct.api_key
        r = client.simulate_put("/v2/api_auth", json={"data": {"api_key": acct.api_key}})
        assert r.status_code == 201, r.text
        self.token = r.json["auth_token"]
        self.headers = {"X-Auth-Token": self.token}
        self.base = f"/v2/accounts/{self.id}"


@pytest.fixture
def app(config, store):
    return create_app(config, store)


@pytest.fixture
def client(app):
    return testing.TestClient(app)


@pytest.fixture
def acct(client, store):
    return Account(client, store, "account A")


@pytest.fixture
def other(client, store):
    return Account(client, store, "account B")


URL_JOB = {"document": {"url": "http://myserver.com/fax.pdf", "method": "get"}, "retries": 3,
           "from_name": "Test Fax", "from_number": "18884732963", "to_name": "To Name",
           "to_number": "18884732963"}

"""The database goes down: 503 with Retry-After (never a 500), and the API recovers by itself."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest
import requests

from faxd.api.app import create_app
from faxd.config import Config
from faxd.api.server import ApiServer
from faxd.store import PostgresStore
from faxd.store.embedded import EmbeddedPostgres
from faxd.store.migrate import migrate
from tests.unit.api.conftest import URL_JOB


@pytest.fixture
def own_postgres():
    """A cluster of our own, which the test stops and starts."""
    base = tempfile.mkdtemp(prefix="faxd-api-pg-", dir="/tmp")
    os.chmod(base, 0o755)
    pg = EmbeddedPostgres(os.path.join(base, "postgres"), dbname="faxd")
    pg.start()
    yield pg
    pg.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_database_down_is_503_and_recovers(own_postgres, tmp_path):
    dsn = own_postgres.dsn()
    migrate(dsn)
    store = PostgresStore(dsn, pool_size=4)
    config = Config.load(path=None, env={}, home=str(tmp_path), database_url=dsn)
    srv = ApiServer(("127.0.0.1", 0), create_app(config, store))
    srv.bind()
    srv.start()
    base = "http://%s:%d" % srv.address
    try:
        acct = store.create_account("a")
        token = requests.put(f"{base}/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                             timeout=10).json()["auth_token"]
        h = {"X-Auth-Token": token}
        url = f"{base}/v2/accounts/{acct.account_id}/faxes"
        assert requests.put(url, json={"data": URL_JOB}, headers=h, timeout=10).status_code == 201
        for _ in range(3):   # asked for again: the page is in the listing cache
            assert requests.get(url + "/outgoing", headers=h, timeout=10).status_code == 200

        own_postgres.stop()
        for method, path, body in [("GET", "/outgoing", None), ("PUT", "", {"data": URL_JOB}),
                                   ("GET", "/outbox", None), ("GET", "/outgoing", None)]:
            r = requests.request(method, url + path, json=body, headers=h, timeout=30)
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            assert r.headers["Retry-After"].isdigit()
            assert r.json()["status"] == "error" and r.json()["error"] == "503"
        r = requests.put(f"{base}/v2/api_auth", json={"data": {"api_key": acct.api_key}}, timeout=30)
        assert r.status_code == 503 and "Retry-After" in r.headers
        assert requests.get(f"{base}/health", timeout=30).status_code == 503

        own_postgres.start()
        # Connections broken by the restart are dropped as they are found; no restart of faxd.
        codes = []
        for _ in range(10):
            r = requests.get(url + "/outgoing", headers=h, timeout=30)
            codes.append(r.status_code)
            if r.status_code == 200:
                break
        assert codes[-1] == 200 and set(codes) <= {200, 503}, codes
        assert len(r.json()["data"]) == 1
        assert requests.put(url, json={"data": URL_JOB}, headers=h, timeout=10).status_code == 201
        assert len(requests.get(url + "/outgoing", headers=h, timeout=10).json()["data"]) == 2
        assert requests.get(f"{base}/health", timeout=10).status_code == 200
    finally:
        srv.stop()
        store.close()

"""The API served by the real WSGI stack (gevent.pywsgi, as in ``faxd run``) on an ephemeral port."""
from __future__ import annotations

import pytest

from faxd.api.app import create_app
from faxd.api.server import ApiServer
from tests.unit.api.conftest import acct, app, client, config, dsn, other, store  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def server(config, store):  # noqa: F811
    srv = ApiServer(("127.0.0.1", 0), create_app(config, store))
    srv.bind()
    srv.start()
    host, port = srv.address
    yield f"http://{host}:{port}"
    srv.stop()


@pytest.fixture
def account(server, store):  # noqa: F811
    import requests
    acct = store.create_account("curl")
    r = requests.put(f"{server}/v2/api_auth", json={"data": {"api_key": acct.api_key}}, timeout=10)
    assert r.status_code == 201, r.text
    return acct.account_id, r.json()["auth_token"]

"""The API on its own under gunicorn's gevent worker (gunicorn -k gevent faxd.api.wsgi:app)."""
from __future__ import annotations

import os
import subprocess
import sys

import gevent
import requests

from tests.integration.foundation.daemon import free_port
from tests.unit.api.conftest import URL_JOB


def test_gunicorn_gevent_worker_serves_the_api(dsn, store):
    acct = store.create_account("gunicorn")
    port = free_port()
    env = dict(os.environ, FAXD_DATABASE_URL=dsn)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
                             "-b", f"127.0.0.1:{port}", "faxd.api.wsgi:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with gevent.Timeout(30, AssertionError("gunicorn did not start")):
            # The master binds, then boots the worker; connections queue until it accepts.
            for line in proc.stderr:
                if b"Booting worker" in line:
                    break
            else:
                raise AssertionError("gunicorn exited")
        r = requests.get(f"{base}/health", timeout=10)
        assert r.status_code == 200
        token = requests.put(f"{base}/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                             timeout=10).json()["auth_token"]
        r = requests.put(f"{base}/v2/accounts/{acct.account_id}/faxes", json={"data": URL_JOB},
                         headers={"X-Auth-Token": token}, timeout=10)
        assert r.status_code == 201 and r.json()["data"]["status"] == "attaching_files"
    finally:
        proc.terminate()
        proc.wait(15)

"""Revocation reaches running daemons at once: two `faxd run` processes on one database (a token
revoked through one is refused by the other within a second, although the other had it in its
token cache; the control: a token revoked in the database without the announcement is still
accepted there), and `faxd account rotate-key` beside a `faxd run` on its embedded database."""
import json
import time

import requests

from faxd import ids
from faxd.store import PostgresStore
from tests.integration.foundation.daemon import FaxdProcess, database_url


def test_a_token_revoked_on_one_node_is_refused_by_the_other_within_a_second(tmp_path, dsn):
    env = {"FAXD_DATABASE_URL": database_url(dsn), "FAXD_SMTP_LISTEN": ""}
    a = FaxdProcess({**env, "FAXD_HOME": str(tmp_path / "a")}).wait_ready()
    b = None
    try:
        b = FaxdProcess({**env, "FAXD_HOME": str(tmp_path / "b")}).wait_ready()
        store = PostgresStore(dsn, 1)
        try:
            acct = store.create_account("two nodes")
        finally:
            store.close()
        token, silent = [requests.put(a.base_url + "/v2/api_auth", timeout=10, data=json.dumps(
            {"data": {"api_key": acct.api_key}})).json()["auth_token"] for _ in range(2)]
        outbox = f"/v2/accounts/{acct.account_id}/faxes/outbox"
        started = time.monotonic()
        while time.monotonic() - started < 0.5:   # b's LISTEN is up and both tokens are in its cache
            for t in (token, silent):
                assert requests.get(b.base_url + outbox, headers={"X-Auth-Token": t}, timeout=10).status_code == 200
            time.sleep(0.05)
        store = PostgresStore(dsn, 1)
        try:
            with store.transaction() as c:
                c.execute("UPDATE auth_tokens SET revoked = now() WHERE token_hash = %s", (ids.digest(silent),))
        finally:
            store.close()
        time.sleep(0.3)
        assert requests.get(b.base_url + outbox, headers={"X-Auth-Token": silent}, timeout=10).status_code == 200
        with requests.Session() as on_b:
            on_b.headers["X-Auth-Token"] = token
            r = requests.delete(a.base_url + "/v2/api_auth", headers={"X-Auth-Token": token}, timeout=10)
            assert r.status_code == 200 and r.json()["data"]["revoked"] is True
            started = time.monotonic()
            while on_b.get(b.base_url + outbox, timeout=10).status_code == 200:
                assert time.monotonic() - started < 5, "b still accepts the revoked token after 5 s"
                time.sleep(0.02)
            took = time.monotonic() - started
        assert took < 1.0, f"b refused the revoked token only after {took:.2f} s"
        r = requests.get(b.base_url + outbox, headers={"X-Auth-Token": token}, timeout=10)
        assert r.status_code == 401 and "revoked" in r.json()["message"]
    finally:
        if b is not None:
            assert b.stop() == 0
        assert a.stop() == 0


def test_rotate_key_beside_a_running_faxd_on_its_embedded_database(home):
    """`faxd account rotate-key` with the running daemon's FAXD_HOME: the daemon stays healthy
    and refuses the old key and its tokens at once."""
    import subprocess
    import sys

    from tests.integration.foundation.daemon import ROOT, clean_env
    env = {"FAXD_HOME": home, "FAXD_SMTP_LISTEN": ""}
    faxd = FaxdProcess(env).wait_ready()
    try:
        key, account = faxd.bootstrap["api_key"], faxd.bootstrap["account_id"]
        token = requests.put(faxd.base_url + "/v2/api_auth", data=json.dumps({"data": {"api_key": key}}),
                             timeout=10).json()["auth_token"]
        outbox = f"{faxd.base_url}/v2/accounts/{account}/faxes/outbox"
        for _ in range(10):
            assert requests.get(outbox, headers={"X-Auth-Token": token}, timeout=10).status_code == 200
            time.sleep(0.05)
        out = subprocess.run([sys.executable, "-m", "faxd", "account", "rotate-key", account], cwd=ROOT,
                             env={**clean_env(), **env}, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        new_key = json.loads(out.stdout)["api_key"]
        started = time.monotonic()
        while requests.get(outbox, headers={"X-Auth-Token": token}, timeout=10).status_code == 200:
            assert time.monotonic() - started < 5
            time.sleep(0.02)
        assert time.monotonic() - started < 1.0
        login = lambda k: requests.put(faxd.base_url + "/v2/api_auth", timeout=10,  # noqa: E731
                                       data=json.dumps({"data": {"api_key": k}})).status_code
        assert login(key) == 401 and login(new_key) == 201
        assert faxd.get("/health").json()["status"] == "ok"
    finally:
        assert faxd.stop() == 0

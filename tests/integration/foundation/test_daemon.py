"""faxd run as users run it: embedded PostgreSQL, bootstrap, health, clean stop, kill -9, bad config."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.integration.foundation.daemon import ROOT, FaxdProcess, clean_env, database_url


def _postmaster_pid(home):
    try:
        with open(os.path.join(home, "postgres", "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_dead(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_embedded_run_bootstraps_answers_health_and_stops_cleanly(home):
    faxd = FaxdProcess({"FAXD_HOME": home}).wait_ready()
    try:
        assert faxd.bootstrap is not None
        with open(os.path.join(home, "bootstrap.json")) as f:
            saved = json.load(f)
        assert saved == faxd.bootstrap
        assert set(saved) == {"account_id", "api_key", "faxbox_id", "fax_number"}
        r = faxd.get("/health")
        assert r.status_code == 200
        assert r.json()["database"]["connected"] is True
        pm = _postmaster_pid(home)
        assert pm and _alive(pm)
        # The cluster listens on a Unix socket only.
        with open(os.path.join(home, "postgres", "postmaster.pid")) as f:
            assert f.read().splitlines()[5] == ""  # listen_addresses empty: no TCP address line value
    finally:
        code = faxd.stop(signal.SIGINT)
    assert code == 0, faxd.stderr_text()
    assert _wait_dead(pm), "embedded PostgreSQL must stop with faxd"


def test_kill_9_then_restart_keeps_data(home):
    first = FaxdProcess({"FAXD_HOME": home}).wait_ready()
    pm = _postmaster_pid(home)
    first.proc.kill()
    first.proc.wait()
    # PDEATHSIG: the orphaned server shuts itself down.
    assert _wait_dead(pm, 15), "embedded PostgreSQL outlived a kill -9 of faxd"
    second = FaxdProcess({"FAXD_HOME": home}).wait_ready()
    try:
        assert second.bootstrap is None, "the data survived: no second bootstrap"
        assert second.get("/health").status_code == 200
        with open(os.path.join(home, "bootstrap.json")) as f:
            assert json.load(f) == first.bootstrap
    finally:
        assert second.stop() == 0


def test_account_create_prints_account_and_key(dsn):
    out = subprocess.run([sys.executable, "-m", "faxd", "account", "create", "Acme Fax"], cwd=ROOT,
                         env={**clean_env(), "FAXD_DATABASE_URL": database_url(dsn)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"account_id", "api_key"}
    assert len(data["account_id"]) == 32 and len(data["api_key"]) == 64


def _run_expecting_failure(env, args=("run",), home=None):
    full = {**clean_env(), "FAXD_API_LISTEN": "127.0.0.1:0", **env}
    return subprocess.run([sys.executable, "-m", "faxd", *args], cwd=home or ROOT, env=full,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env, message", [
    ({"FAXD_COLOUR": "x", "FAXD_API_LISTEN": "nonsense"}, "bad value for api_listen (FAXD_API_LISTEN)"),
    ({"FAXD_DATABASE_URL": "mysql://root@127.0.0.1/x"}, "bad value for database_url (FAXD_DATABASE_URL)"),
    ({"FAXD_HOME": "/proc/faxd-cannot-be-here"}, "cannot create /proc/faxd-cannot-be-here"),
])
def test_bad_configuration_is_one_clear_line(env, message):
    r = _run_expecting_failure(env)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert lines == [lines[0]] and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_key_in_file_is_one_clear_line(tmp_path):
    (tmp_path / "faxd.toml").write_text('colour = "blue"\n')
    r = _run_expecting_failure({}, args=("--config", str(tmp_path / "faxd.toml"), "run"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"faxd: error: unknown setting 'colour' in {tmp_path / 'faxd.toml'}"


def test_port_in_use_is_one_clear_line(tmp_path, dsn):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        r = _run_expecting_failure({"FAXD_HOME": str(tmp_path), "FAXD_DATABASE_URL": database_url(dsn),
                                    "FAXD_API_LISTEN": f"127.0.0.1:{port}"})
    finally:
        busy.close()
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == \
        f"faxd: error: API listen address 127.0.0.1:{port} is already in use (FAXD_API_LISTEN)"
    assert "Traceback" not in r.stderr


def test_run_against_a_configured_database_and_sigterm(tmp_path, dsn):
    faxd = FaxdProcess({"FAXD_HOME": str(tmp_path), "FAXD_DATABASE_URL": database_url(dsn)}).wait_ready()
    try:
        assert faxd.bootstrap["fax_number"] == "+12025550100"
        health = faxd.get("/health").json()
        assert health["status"] == "ok"
    finally:
        assert faxd.stop(signal.SIGTERM) == 0

"""One embedded cluster per home, shared safely: a command beside a running faxd uses its server
and never stops it; only a server whose faxd is gone is an orphan; starts are serialized."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import gevent
import psycopg2
import pytest

from faxd.errors import EmbeddedPostgresError
from faxd.store.embedded import EmbeddedPostgres, _proc_start, find_bindir
from tests.integration.foundation.daemon import ROOT, FaxdProcess
from tests.integration.foundation.fax_client import FaxClient

REMOTE = "+12025550199"  # the software line's built-in remote fax machine


def _env(home):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    return {**clean, "FAXD_HOME": home, "FAXD_API_LISTEN": "127.0.0.1:0", "FAXD_SMTP_LISTEN": ""}


def _faxd(home, *args, timeout=90):
    return subprocess.run([sys.executable, "-m", "faxd", *args], cwd=ROOT, env=_env(home),
                          capture_output=True, text=True, timeout=timeout)


def _postmaster_pid(datadir):
    try:
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_dead(pid, timeout=15):
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_account_create_and_migrate_beside_a_running_faxd_leave_it_serving(home):
    faxd = FaxdProcess({"FAXD_HOME": home, "FAXD_SMTP_LISTEN": ""}).wait_ready()
    try:
        pm = _postmaster_pid(os.path.join(home, "postgres"))
        assert pm and _alive(pm)

        created = _faxd(home, "account", "create", "Second Tenant")
        assert created.returncode == 0, created.stderr
        migrated = _faxd(home, "migrate")
        assert migrated.returncode == 0, migrated.stderr
        for r in (created, migrated):
            assert "orphaned" not in r.stderr, r.stderr
            assert f"using the embedded PostgreSQL of faxd pid {faxd.proc.pid}" in r.stderr, r.stderr

        # The daemon's server is the one that was there before, and faxd is healthy.
        assert _postmaster_pid(os.path.join(home, "postgres")) == pm and _alive(pm)
        health = faxd.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text

        # It keeps sending: the bootstrap account faxes its own number over the software line.
        b = faxd.bootstrap
        first = FaxClient(faxd.base_url, b["account_id"], b["api_key"])
        job = first.wait_final(first.send_text(b["fax_number"], from_number=b["fax_number"]))
        assert job["status"] == "completed", job

        # The account made beside it works.
        acct = json.loads(created.stdout)
        second = FaxClient(faxd.base_url, acct["account_id"], acct["api_key"])
        job = second.wait_final(second.send_text(REMOTE))
        assert job["status"] == "completed", job
        assert faxd.get("/health").json()["status"] == "ok"
    finally:
        code = faxd.stop(signal.SIGINT)
    assert code == 0, faxd.stderr_text()
    assert _wait_dead(pm), "the daemon still stops its own server"
    assert not os.path.exists(os.path.join(home, "postgres.owner"))


def test_a_second_faxd_run_on_the_same_home_is_refused_and_the_first_keeps_serving(home):
    first = FaxdProcess({"FAXD_HOME": home, "FAXD_SMTP_LISTEN": ""}).wait_ready()
    try:
        pm = _postmaster_pid(os.path.join(home, "postgres"))
        second = _faxd(home, "run")
        assert second.returncode == 1
        last = second.stderr.strip().splitlines()[-1]
        assert last.startswith("faxd: error: the embedded cluster in ") and \
            f"is served by another faxd (pid {first.proc.pid}" in last, second.stderr
        assert _alive(pm) and first.get("/health").json()["status"] == "ok"
    finally:
        assert first.stop() == 0


def test_concurrent_commands_with_no_server_share_one_start_and_stop_it_when_all_are_done(home):
    procs = [subprocess.Popen([sys.executable, "-m", "faxd", "account", "create", f"tenant {i}"], cwd=ROOT,
                              env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
    ids = {json.loads(out)["account_id"] for out, _ in results}
    assert len(ids) == 3
    errs = "".join(err for _, err in results)
    assert "orphaned" not in errs and "Traceback" not in errs, errs
    # Nothing is left running, and the accounts are there when the next command starts it again.
    assert _postmaster_pid(os.path.join(home, "postgres")) is None
    assert not os.path.exists(os.path.join(home, "postgres.owner"))
    pg = EmbeddedPostgres(os.path.join(home, "postgres"))
    dsn = pg.start(shared=True)
    try:
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM accounts WHERE name LIKE 'tenant %'")
            assert {r[0] for r in cur.fetchall()} == ids
    finally:
        pg.stop()


# --- the ownership rule on a server started by hand, with a recorded owner we control

@pytest.fixture
def cluster(home):
    """An initialized cluster in ``home``, not running."""
    pg = EmbeddedPostgres(os.path.join(home, "postgres"))
    pg.start()
    pg.stop()
    return pg


def _start_by_hand(pg):
    """A server nobody's PDEATHSIG will stop, as a faxd's would be if its faxd were alive."""
    as_postgres = {}
    if os.geteuid() == 0:
        import pwd
        u = pwd.getpwnam("postgres")
        as_postgres = {"user": u.pw_uid, "group": u.pw_gid, "extra_groups": []}
    r = subprocess.run([os.path.join(find_bindir(), "pg_ctl"), "start", "-w", "-D", pg.datadir, "-l",
                        os.path.join(pg.datadir, "by-hand.log"), "-o",
                        f"-k {pg.socket_dir} -c listen_addresses="], cwd="/", capture_output=True,
                       **as_postgres)
    assert r.returncode == 0, r.stderr
    pid = _postmaster_pid(pg.datadir)
    assert pid and _alive(pid)
    return pid


def _record_owner(pg, pid, role):
    with open(pg.owner_path, "w") as f:
        json.dump({"pid": pid, "start": _proc_start(pid), "role": role}, f)


@pytest.fixture
def owner_process():
    p = subprocess.Popen(["sleep", "300"])
    yield p
    p.kill()
    p.wait()


def test_a_server_whose_owner_lives_is_used_never_stopped(cluster, owner_process):
    pm = _start_by_hand(cluster)
    try:
        _record_owner(cluster, owner_process.pid, "run")
        with pytest.raises(EmbeddedPostgresError, match=f"served by another faxd \\(pid {owner_process.pid}"):
            EmbeddedPostgres(cluster.requested_datadir, start_timeout=5).start()
        user = EmbeddedPostgres(cluster.requested_datadir)
        dsn = user.start(shared=True)
        psycopg2.connect(dsn).close()
        user.stop()
        assert _alive(pm) and _postmaster_pid(cluster.datadir) == pm
    finally:
        os.kill(pm, signal.SIGINT)
        assert _wait_dead(pm)


def test_a_server_whose_owner_is_dead_is_an_orphan_and_is_replaced(cluster, caplog):
    pm = _start_by_hand(cluster)
    gone = subprocess.Popen(["true"])
    start = _proc_start(gone.pid)
    gone.wait()
    with open(cluster.owner_path, "w") as f:
        json.dump({"pid": gone.pid, "start": start, "role": "run"}, f)
    pg = EmbeddedPostgres(cluster.requested_datadir)
    try:
        pg.start()
        assert _wait_dead(pm), "the orphan was stopped"
        assert pg.pid != pm and _postmaster_pid(cluster.datadir) == pg.pid
        assert f"stopping an orphaned PostgreSQL (pid {pm})" in caplog.text
        with open(pg.owner_path) as f:
            assert json.load(f)["pid"] == os.getpid()
    finally:
        pg.stop()
        if _alive(pm):
            os.kill(pm, signal.SIGINT)


def test_faxd_run_waits_for_a_command_that_owns_the_server_then_takes_over(cluster, owner_process):
    pm = _start_by_hand(cluster)
    _record_owner(cluster, owner_process.pid, "command")
    pg = EmbeddedPostgres(cluster.requested_datadir, start_timeout=30)
    g = gevent.spawn(pg.start)
    try:
        gevent.sleep(1.5)
        assert not g.ready(), "faxd run must wait for the command, not take its server away"
        assert _alive(pm)
        owner_process.kill()  # the command ends; its server is an orphan from now on
        owner_process.wait()
        g.get(timeout=30)
        assert _wait_dead(pm) and pg.pid and pg.pid != pm
    finally:
        g.kill()
        pg.stop()
        if _alive(pm):
            os.kill(pm, signal.SIGINT)

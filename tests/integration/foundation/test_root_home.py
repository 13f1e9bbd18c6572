"""faxd as root in a home the postgres user cannot enter (/root is 0700 on Debian): the cluster
lives under /var/lib/faxd/clusters, the home keeps its permissions, and every error names the
directory that is actually in the way."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

import psycopg2
import pytest

from faxd.errors import EmbeddedPostgresError
from faxd.store import cluster_place
from faxd.store.embedded import EmbeddedPostgres
from tests.integration.foundation.daemon import ROOT, FaxdProcess
from tests.integration.foundation.fax_client import FaxClient

# Not a missing install step: faxd moves its cluster only when it runs as root (PostgreSQL refuses
# root, so a root faxd runs it as the postgres user); a non-root faxd runs the cluster as itself in
# its own home, which every other embedded-cluster test covers. CI and `make test` as root run these.
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="faxd relocates the embedded cluster only when run as "
                                "root; as a non-root user these code paths do not run")

POSTGRES = pwd.getpwnam("postgres") if os.geteuid() == 0 else None


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def base():
    d = tempfile.mkdtemp(prefix="faxd-roothome-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def clone(base):
    """The repository cloned into a 0700 directory, as `git clone ... /root/faxd` does."""
    home0700 = os.path.join(base, "home0700")
    os.mkdir(home0700, 0o700)
    target = os.path.join(home0700, "faxd")
    r = subprocess.run(["git", "clone", "-q", "--shared", ROOT, target], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    place = cluster_place.place_for(os.path.join(target, "var"))
    yield target
    shutil.rmtree(place, ignore_errors=True)
    for aside in glob.glob(place + ".orphaned-*"):
        shutil.rmtree(aside, ignore_errors=True)
    for d in (cluster_place.CLUSTERS_DIR, os.path.dirname(cluster_place.CLUSTERS_DIR)):
        try:
            os.rmdir(d)  # only when nothing else lives there
        except OSError:
            pass


def _venv_faxd():
    """`make run` runs .venv/bin/faxd: the console script, which imports the installed faxd."""
    script = os.path.join(os.path.dirname(sys.executable), "faxd")
    return (script,) if os.path.exists(script) else (sys.executable, "-P", "-m", "faxd")


def test_faxd_run_in_a_clone_under_a_0700_home_serves_and_faxes(clone):
    home0700 = os.path.dirname(clone)
    assert first_unsearchable(clone) == home0700  # as in /root: the postgres user cannot get in
    faxd = FaxdProcess({"FAXD_SMTP_LISTEN": ""}, cwd=clone, command=_venv_faxd()).wait_ready(timeout=90)
    try:
        var = os.path.join(clone, "var")
        datadir = os.path.join(cluster_place.place_for(var), "postgres")
        assert os.path.exists(os.path.join(datadir, "PG_VERSION"))
        assert not os.path.exists(os.path.join(var, "postgres"))
        assert os.path.exists(os.path.join(var, "bootstrap.json")), "the rest of the state stays in the home"
        health = faxd.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text

        b = faxd.bootstrap
        api = FaxClient(faxd.base_url, b["account_id"], b["api_key"])
        job = api.wait_final(api.send_text(b["fax_number"], from_number=b["fax_number"]))
        assert job["status"] == "completed", job
        assert len(api.wait_inbox(1)) == 1

        # A command in the clone finds the same cluster and uses it beside the daemon.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
        created = subprocess.run([*_venv_faxd(), "account", "create", "Root Tenant"], cwd=clone, env=env,
                                 capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        assert f"using the embedded PostgreSQL of faxd pid {faxd.proc.pid} (data {datadir}," in created.stderr
        assert faxd.get("/health").json()["status"] == "ok"
    finally:
        code = faxd.stop(signal.SIGINT)
    log = faxd.stderr_text()
    assert code == 0, log
    # The start-up log says where the cluster is and why.
    assert f"the postgres user cannot search {home0700} (mode 0700, owner root)" in log, log
    assert f"embedded PostgreSQL ready (pid " in log and f"data {datadir}," in log, log
    # Nothing was loosened behind the user's back.
    assert _mode(home0700) == 0o700


def first_unsearchable(path):
    return cluster_place.first_unsearchable(path, POSTGRES)


# --- where the data directory goes, on a private clusters directory

@pytest.fixture
def clusters(base):
    return os.path.join(base, "lib", "clusters")


def _blocked_home(base, name="home"):
    blocked = os.path.join(base, name)
    os.mkdir(blocked, 0o700)
    home = os.path.join(blocked, "faxd", "var")
    os.makedirs(home)
    return blocked, home


def test_the_directory_in_the_way_is_the_first_closed_one_on_the_real_path(base):
    blocked, home = _blocked_home(base)
    os.chmod(home, 0o700)  # a second closed directory deeper down is not the one in the way
    assert first_unsearchable(home) == blocked
    link = os.path.join(base, "link")
    os.symlink(os.path.dirname(home), link)  # an open-looking path into the closed directory
    assert first_unsearchable(os.path.join(link, "var")) == blocked
    os.chmod(blocked, 0o711)
    assert first_unsearchable(os.path.join(link, "var")) == home


def test_a_reachable_home_keeps_its_cluster(base, clusters):
    home = os.path.join(base, "open", "var")
    os.makedirs(home)
    for d in (os.path.dirname(home), home):
        os.chmod(d, 0o755)
    requested = os.path.join(home, "postgres")
    assert cluster_place.choose_datadir(requested, POSTGRES, clusters) == requested
    assert not os.path.exists(clusters)


def test_an_unreachable_home_gets_a_place_the_postgres_user_can_reach(base, clusters):
    blocked, home = _blocked_home(base)
    requested = os.path.join(home, "postgres")
    datadir = cluster_place.choose_datadir(requested, POSTGRES, clusters)
    place = cluster_place.place_for(home, clusters)
    assert datadir == os.path.join(place, "postgres")
    assert first_unsearchable(place) is None
    assert _mode(blocked) == 0o700
    # Asked again (the cluster now exists): the same place.
    os.makedirs(datadir)
    open(os.path.join(datadir, "PG_VERSION"), "w").close()
    assert cluster_place.choose_datadir(requested, POSTGRES, clusters) == datadir


def test_a_home_created_again_gets_a_fresh_cluster_and_the_old_one_is_set_aside(base, clusters):
    _, home = _blocked_home(base)
    requested = os.path.join(home, "postgres")
    datadir = cluster_place.choose_datadir(requested, POSTGRES, clusters)
    os.makedirs(datadir)
    open(os.path.join(datadir, "PG_VERSION"), "w").close()
    shutil.rmtree(home)  # rm -rf faxd && git clone ... faxd
    os.makedirs(home)
    assert cluster_place.choose_datadir(requested, POSTGRES, clusters) == datadir
    assert not os.path.exists(os.path.join(datadir, "PG_VERSION")), "not the old home's database"
    [aside] = glob.glob(cluster_place.place_for(home, clusters) + ".orphaned-*")
    assert os.path.exists(os.path.join(aside, "postgres", "PG_VERSION")), "set aside, not deleted"


def test_an_existing_cluster_behind_a_closed_directory_names_that_directory(base, clusters):
    blocked, home = _blocked_home(base)
    os.makedirs(os.path.join(home, "postgres"))
    open(os.path.join(home, "postgres", "PG_VERSION"), "w").close()
    with pytest.raises(EmbeddedPostgresError) as e:
        cluster_place.choose_datadir(os.path.join(home, "postgres"), POSTGRES, clusters)
    assert str(e.value).startswith(f"the postgres user cannot search {blocked} (mode 0700, owner root), "
                                   f"so it cannot reach the embedded cluster in {home}/postgres")


def test_a_clusters_directory_it_cannot_reach_is_named(base):
    _, home = _blocked_home(base)
    closed = os.path.join(base, "closed")
    os.mkdir(closed, 0o700)
    with pytest.raises(EmbeddedPostgresError) as e:
        cluster_place.choose_datadir(os.path.join(home, "postgres"), POSTGRES, os.path.join(closed, "clusters"))
    assert str(e.value).startswith(f"the postgres user cannot search {closed} (mode 0700, owner root), "
                                   f"on the way to the embedded cluster in {closed}/clusters/")


# --- a non-root user in its own 0700 home: the cluster runs as that user

def test_a_user_in_its_own_0700_home_runs_the_cluster_itself(base):
    user_home = os.path.join(base, "pguser")
    os.mkdir(user_home, 0o700)
    os.chown(user_home, POSTGRES.pw_uid, POSTGRES.pw_gid)
    datadir = os.path.join(user_home, "faxd", "var", "postgres")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            os.setgroups([])
            os.setgid(POSTGRES.pw_gid)
            os.setuid(POSTGRES.pw_uid)
            pg = EmbeddedPostgres(datadir)
            dsn = pg.start(shared=True)
            try:
                with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                    cur.execute("SELECT current_setting('data_directory')")
                    code = 0 if cur.fetchone()[0] == datadir else 3
            finally:
                pg.stop()
        except BaseException as e:
            sys.stderr.write(f"child failed: {e!r}\n")
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _mode(user_home) == 0o700
    assert os.stat(datadir).st_uid == POSTGRES.pw_uid

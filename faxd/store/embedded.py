"""The embedded PostgreSQL cluster: used when no database URL is configured.

Created once with Debian's ``initdb`` under ``$FAXD_HOME/postgres``, started as a child of
faxd listening on a Unix socket only, stopped with faxd. PostgreSQL refuses to run as root,
so when faxd is root the cluster runs as the ``postgres`` system user. The server is started
directly (not through ``pg_ctl``) with PR_SET_PDEATHSIG, so that if faxd is killed -9 the
server shuts itself down instead of lingering.
"""
from __future__ import annotations

import ctypes
import glob
import hashlib
import logging
import os
import pwd
import signal
import subprocess
import time

import psycopg2

from faxd.errors import EmbeddedPostgresError

logger = logging.getLogger(__name__)

_SOCKET_NAME = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 107
PR_SET_PDEATHSIG = 1


def find_bindir(override: str | None = None) -> str:
    """The newest /usr/lib/postgresql/*/bin holding initdb, or the configured one."""
    if override:
        if not os.path.exists(os.path.join(override, "initdb")):
            raise EmbeddedPostgresError(f"no initdb in {override} (postgres_bindir)")
        return override
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        raise EmbeddedPostgresError(
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): "
            "apt-get install postgresql, or set FAXD_DATABASE_URL")

    def version(path):
        v = path.split("/")[4]
        return tuple(int(x) for x in v.split(".") if x.isdigit())
    return os.path.dirname(max(candidates, key=version))


def _set_pdeathsig():  # runs in the child after setuid; survives it
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def _wait_exit(proc: subprocess.Popen, timeout: float) -> bool:
    """Poll rather than wait(): gevent's child watcher has been seen to miss an exit."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and _proc_state(proc.pid) not in (None, "Z"):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _proc_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (Z for a zombie), None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class EmbeddedPostgres:
    def __init__(self, datadir: str, bindir: str | None = None, dbname: str = "faxd",
                 start_timeout: float = 60.0):
        self.datadir = os.path.abspath(datadir)
        self._bindir_override = bindir
        self.dbname = dbname
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._run_as = None  # pwd entry when faxd is root
        self.socket_dir = self._choose_socket_dir()

    # --- paths

    def _choose_socket_dir(self) -> str:
        if len(self.datadir) + 1 + len(_SOCKET_NAME) <= _MAX_SOCKET_PATH - 10:
            return self.datadir
        # A deep FAXD_HOME would overflow sun_path; use a short private directory instead.
        tag = hashlib.sha256(self.datadir.encode()).hexdigest()[:12]
        return f"/tmp/faxd-pg-{tag}"

    @property
    def log_path(self) -> str:
        return os.path.join(os.path.dirname(self.datadir), "postgres.log")

    def dsn(self, dbname: str | None = None) -> str:
        return f"host={self.socket_dir} user=postgres dbname={dbname or self.dbname}"

    # --- lifecycle

    def start(self) -> str:
        """Create if needed, start, create the database; return its DSN."""
        self.bindir = find_bindir(self._bindir_override)
        self._prepare_user()
        self._prepare_dirs()
        if not os.path.exists(os.path.join(self.datadir, "PG_VERSION")):
            self._initdb()
        self._stop_orphan()
        self._spawn()
        self._wait_ready()
        self._create_database()
        return self.dsn()

    def stop(self, timeout: float = 30.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            if not _wait_exit(proc, timeout):
                logger.warning("embedded PostgreSQL did not stop in %.0fs; sending SIGQUIT", timeout)
                proc.send_signal(signal.SIGQUIT)
                _wait_exit(proc, 10)
        if self._log:
            self._log.close()
            self._log = None
        logger.info("embedded PostgreSQL stopped")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # --- steps

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            self._run_as = pwd.getpwnam("postgres")
        except KeyError:
            raise EmbeddedPostgresError(
                "faxd runs as root and PostgreSQL refuses root, but there is no 'postgres' "
                "system user: apt-get install postgresql") from None

    def _as_user(self) -> dict:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _prepare_dirs(self) -> None:
        parent = os.path.dirname(self.datadir)
        try:
            os.makedirs(parent, exist_ok=True)
            if not os.path.isdir(self.datadir):
                os.mkdir(self.datadir, 0o700)
        except OSError as e:
            raise EmbeddedPostgresError(f"cannot create {self.datadir}: {e.strerror}") from None
        if self._run_as is not None:
            # Every parent must be searchable by postgres, or initdb fails obscurely.
            path = parent
            while path and path != "/":
                probe = subprocess.run(["test", "-x", path], cwd="/", **self._as_user())
                if probe.returncode != 0:
                    raise EmbeddedPostgresError(
                        f"the postgres user cannot enter {path}: chmod o+x {path}, or set FAXD_HOME "
                        f"to a directory it can reach")
                path = os.path.dirname(path)
            os.chown(self.datadir, self._run_as.pw_uid, self._run_as.pw_gid)
        os.chmod(self.datadir, 0o700)
        if self.socket_dir != self.datadir:
            os.makedirs(self.socket_dir, mode=0o700, exist_ok=True)
            if self._run_as is not None:
                os.chown(self.socket_dir, self._run_as.pw_uid, self._run_as.pw_gid)

    def _initdb(self) -> None:
        logger.info("creating the embedded PostgreSQL cluster in %s", self.datadir)
        cmd = [os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-U", "postgres",
               "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        r = subprocess.run(cmd, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, **self._as_user())
        if r.returncode != 0:
            out = r.stdout.decode(errors="replace").strip().splitlines()
            msg = next((l for l in out if "error" in l.lower()), out[-1] if out else "unknown error")
            raise EmbeddedPostgresError(f"initdb failed for {self.datadir}: {msg}")

    def _stop_orphan(self) -> None:
        """A postmaster left from a crashed faxd: stop it so ours can own the cluster."""
        pidfile = os.path.join(self.datadir, "postmaster.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return
        state = _proc_state(pid)
        if state is None or state == "Z":
            return  # stale file: postgres removes it itself
        cmdline = _proc_cmdline(pid)
        if not cmdline or "postgres" not in os.path.basename(cmdline[0]) or self.datadir not in cmdline:
            return
        logger.warning("stopping an orphaned PostgreSQL (pid %d) left in %s", pid, self.datadir)
        subprocess.run([os.path.join(self.bindir, "pg_ctl"), "stop", "-D", self.datadir, "-m", "fast",
                        "-w", "-t", "30"], cwd="/", stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._as_user())
        deadline = time.monotonic() + 10
        while _proc_state(pid) not in (None, "Z") and time.monotonic() < deadline:
            time.sleep(0.05)

    def _spawn(self) -> None:
        self._log = open(self.log_path, "ab")
        cmd = [os.path.join(self.bindir, "postgres"), "-D", self.datadir, "-k", self.socket_dir,
               "-c", "listen_addresses=", "-c", "max_connections=200"]
        # start_new_session: a terminal Ctrl-C reaches faxd, which then stops postgres in order.
        self._proc = subprocess.Popen(cmd, cwd="/", stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=_set_pdeathsig, **self._as_user())

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4000))
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        fatal = [l for l in lines if "FATAL" in l or "PANIC" in l]
        return (fatal or lines or [""])[-1]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        last = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedPostgresError(
                    f"embedded PostgreSQL exited with code {self._proc.returncode}: {self._log_tail()} "
                    f"(log: {self.log_path})")
            try:
                psycopg2.connect(self.dsn("postgres"), connect_timeout=2).close()
                logger.info("embedded PostgreSQL ready (pid %d, socket %s)", self._proc.pid, self.socket_dir)
                return
            except psycopg2.OperationalError as e:
                last = e
                time.sleep(0.05)
        self.stop()
        raise EmbeddedPostgresError(f"embedded PostgreSQL did not accept connections: {last}")

    def _create_database(self) -> None:
        conn = psycopg2.connect(self.dsn("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{self.dbname}"')
        finally:
            conn.close()

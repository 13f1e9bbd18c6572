"""The embedded PostgreSQL cluster: used when no database URL is configured.

Created once with Debian's ``initdb`` under ``$FAXD_HOME/postgres``, started as a child of
faxd listening on a Unix socket only, stopped with faxd. PostgreSQL refuses to run as root,
so when faxd is root the cluster runs as the ``postgres`` system user (in a place that user can
reach: cluster_place.py). The server is started directly (not through ``pg_ctl``) with
PR_SET_PDEATHSIG, so that if faxd is killed -9 the server shuts itself down instead of lingering.

One cluster serves every faxd process of a home. Whoever starts the server owns it and records
itself in ``postgres.owner`` (pid, process start time, role) next to the data directory;
``faxd run`` owns it for its lifetime, a command (``faxd account create``, ``faxd migrate``)
owns it only when none was running and stops it when done. A command finding a live owner uses
its server through the socket; a server whose owner is gone is an orphan and is stopped. The
decision and the start or stop are made under ``flock(postgres.lock)``; commands using another
process's server hold ``postgres.users`` shared, so that a command owner stops its server only
after they are done.
"""
from __future__ import annotations

import ctypes
import fcntl
import glob
import hashlib
import json
import logging
import os
import pwd
import signal
import subprocess
import sys
import time

import psycopg2

from faxd.errors import EmbeddedPostgresError
from faxd.store import cluster_place
from faxd.store.migrate import migrate

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


def _proc_stat(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on; [] when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _proc_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat (Z for a zombie), None when gone."""
    fields = _proc_stat(pid)
    return fields[0] if fields else None


def _proc_alive(pid: int) -> bool:
    return _proc_state(pid) not in (None, "Z")


def _proc_start(pid: int) -> int | None:
    """Start time in clock ticks since boot: with the pid, it names one process (pids are reused)."""
    fields = _proc_stat(pid)
    return int(fields[19]) if len(fields) > 19 else None


def _proc_ppid(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[1]) if len(fields) > 1 else None


def _proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class _Flock:
    """flock(LOCK_EX) on ``path``, polled so that a gevent hub keeps running while it waits."""

    def __init__(self, path: str, deadline: float, what: str, required: bool = True):
        self.path, self.deadline, self.what, self.required = path, deadline, what, required
        self.fd = None

    def __enter__(self) -> "_Flock":
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise EmbeddedPostgresError(f"cannot open {self.path}: {e.strerror}") from None
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                pass
            if time.monotonic() >= self.deadline:
                if self.required:
                    os.close(self.fd)
                    self.fd = None
                    raise EmbeddedPostgresError(
                        f"another faxd held {self.path} too long while {self.what}; try again")
                logger.warning("another faxd holds %s; %s without it", self.path, self.what)
                return self
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None


class EmbeddedPostgres:
    def __init__(self, datadir: str, bindir: str | None = None, dbname: str = "faxd",
                 start_timeout: float = 60.0):
        # requested: $FAXD_HOME/postgres. datadir: where it really is (see cluster_place).
        self.requested_datadir = os.path.abspath(datadir)
        self.datadir = self.requested_datadir
        self.home = os.path.dirname(self.requested_datadir)
        self._bindir_override = bindir
        self.dbname = dbname
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._run_as = None  # pwd entry when faxd is root
        self._role = None  # "run" or "command": we own the server; "attached": we use another's
        self._users_fd = None
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
        return os.path.join(self.home, "postgres.log")

    @property
    def lock_path(self) -> str:
        return self.requested_datadir + ".lock"

    @property
    def owner_path(self) -> str:
        return self.requested_datadir + ".owner"

    @property
    def users_path(self) -> str:
        return self.requested_datadir + ".users"

    def dsn(self, dbname: str | None = None) -> str:
        return f"host={self.socket_dir} user=postgres dbname={dbname or self.dbname}"

    # --- lifecycle

    def start(self, shared: bool = False) -> str:
        """Create if needed, start, create the database; return its DSN.

        shared=False (``faxd run``): own the server for this process's lifetime; wait for a
        command that owns it to finish, refuse when another ``faxd run`` serves this home.
        shared=True (a command): use the running server if there is one, else own one until stop().
        """
        self.bindir = find_bindir(self._bindir_override)
        self._prepare_user()
        try:
            os.makedirs(self.home, exist_ok=True)
        except OSError as e:
            raise EmbeddedPostgresError(f"cannot create {self.home}: {e.strerror}") from None
        deadline = time.monotonic() + self._start_timeout
        waiting_for = None
        placed = self._run_as is None
        while True:
            with _Flock(self.lock_path, deadline, "starting the embedded cluster"):
                if not placed:
                    self.datadir = cluster_place.choose_datadir(self.requested_datadir, self._run_as)
                    self.socket_dir = self._choose_socket_dir()
                    placed = True
                owner = self._live_owner()
                if owner is None:
                    return self._start_own("command" if shared else "run")
                if shared:
                    return self._attach(owner, deadline)
                if owner.get("role") != "command":
                    raise EmbeddedPostgresError(
                        f"the embedded cluster in {self.datadir} is served by another faxd (pid {owner['pid']}"
                        f"{_quoted(owner)}): stop it first, or give this one its own FAXD_HOME")
            if waiting_for != owner["pid"]:
                waiting_for = owner["pid"]
                logger.info("waiting for faxd pid %d%s to finish with the embedded cluster",
                            owner["pid"], _quoted(owner))
            if time.monotonic() >= deadline:
                raise EmbeddedPostgresError(
                    f"faxd pid {owner['pid']}{_quoted(owner)} kept the embedded cluster in {self.datadir} "
                    f"for over {self._start_timeout:.0f}s")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        role = self._role
        if role == "attached":
            self._release_users()
            self._role = None
            return
        if role is None and self._proc is None:
            return
        with _Flock(self.lock_path, time.monotonic() + timeout, "stopping the embedded cluster",
                    required=False):
            if role == "command":
                self._wait_for_users()
            self._shutdown(timeout)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # --- owning and sharing

    def _start_own(self, role: str) -> str:
        self._prepare_dirs()
        if not os.path.exists(os.path.join(self.datadir, "PG_VERSION")):
            self._initdb()
        # Recorded before the server exists: a faxd dying in between leaves a dead owner, never
        # a live server without one.
        self._write_owner(role)
        self._role = role
        try:
            self._spawn()
            self._wait_ready()
            self._create_database()
            if role == "command":
                self._hold_users()
        except BaseException:
            self._shutdown(10)
            raise
        return self.dsn()

    def _attach(self, owner: dict, deadline: float) -> str:
        self._hold_users()
        self._role = "attached"
        try:
            self._wait_connectable(deadline)
            self._create_database()
        except BaseException:
            self._release_users()
            self._role = None
            raise
        logger.info("using the embedded PostgreSQL of faxd pid %d (data %s, socket %s)",
                    owner["pid"], self.datadir, self.socket_dir)
        return self.dsn()

    def _hold_users(self) -> None:
        self._users_fd = os.open(self.users_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        # Never blocks for long: an owner that stops takes users exclusively only under the start lock.
        fcntl.flock(self._users_fd, fcntl.LOCK_SH)

    def _release_users(self) -> None:
        if self._users_fd is not None:
            os.close(self._users_fd)
            self._users_fd = None

    def _wait_for_users(self) -> None:
        """A command that owns the server stops it only when the commands using it are done."""
        if self._users_fd is None:
            return
        logged = False
        while True:
            try:
                fcntl.flock(self._users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not logged:
                    logger.info("waiting for other faxd commands to finish with the embedded cluster")
                    logged = True
                time.sleep(0.05)

    def _write_owner(self, role: str) -> None:
        me = os.getpid()
        owner = {"pid": me, "start": _proc_start(me), "role": role,
                 "command": " ".join(["faxd", *sys.argv[1:]])[:200], "datadir": self.datadir}
        tmp = f"{self.owner_path}.tmp-{me}"
        try:
            with open(tmp, "w") as f:
                json.dump(owner, f)
                f.write("\n")
            os.replace(tmp, self.owner_path)
        except OSError as e:
            raise EmbeddedPostgresError(f"cannot write {self.owner_path}: {e.strerror}") from None

    def _postmaster(self) -> int | None:
        """The pid of a live server of this cluster, from its postmaster.pid."""
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        if not _proc_alive(pid):
            return None  # stale file: postgres removes it itself
        cmdline = _proc_cmdline(pid)
        if not cmdline or "postgres" not in os.path.basename(cmdline[0]) or self.datadir not in cmdline:
            return None
        return pid

    def _live_owner(self) -> dict | None:
        """The live owner of a running server (stopping an orphan on the way), None when none runs."""
        pid = self._postmaster()
        if pid is None:
            return None
        try:
            with open(self.owner_path) as f:
                owner = json.load(f)
            if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
                owner = None
        except (OSError, ValueError):
            owner = None
        if owner is not None:
            if _proc_alive(owner["pid"]) and _proc_start(owner["pid"]) == owner.get("start"):
                return owner
        else:
            # A server started before owners were recorded: its parent is its faxd while that lives.
            parent = _proc_ppid(pid)
            if parent and parent > 1 and _proc_alive(parent) and "faxd" in " ".join(_proc_cmdline(parent)):
                return {"pid": parent, "role": "run"}
        self._stop_orphan(pid, owner)
        return None

    def _stop_orphan(self, pid: int, owner: dict | None) -> None:
        """A server whose faxd is gone (killed before PDEATHSIG could act, or detached): stop it."""
        gone = f"faxd pid {owner['pid']} is gone" if owner else "its faxd is gone"
        logger.warning("stopping an orphaned PostgreSQL (pid %d) in %s: %s", pid, self.datadir, gone)
        subprocess.run([os.path.join(self.bindir, "pg_ctl"), "stop", "-D", self.datadir, "-m", "fast",
                        "-w", "-t", "30"], cwd="/", stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._as_user())
        deadline = time.monotonic() + 10
        while _proc_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _shutdown(self, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            if not _wait_exit(proc, timeout):
                logger.warning("embedded PostgreSQL did not stop in %.0fs; sending SIGQUIT", timeout)
                proc.send_signal(signal.SIGQUIT)
                _wait_exit(proc, 10)
        if self._role in ("run", "command"):
            try:
                os.unlink(self.owner_path)
            except OSError:
                pass
        self._release_users()
        self._role = None
        if self._log:
            self._log.close()
            self._log = None
        if proc is not None:
            logger.info("embedded PostgreSQL stopped")

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
        return cluster_place.as_user(self._run_as)

    def _prepare_dirs(self) -> None:
        try:
            os.makedirs(os.path.dirname(self.datadir), exist_ok=True)
            if not os.path.isdir(self.datadir):
                os.mkdir(self.datadir, 0o700)
        except OSError as e:
            raise EmbeddedPostgresError(f"cannot create {self.datadir}: {e.strerror}") from None
        if self._run_as is not None:
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
                logger.info("embedded PostgreSQL ready (pid %d, data %s, socket %s)",
                            self._proc.pid, self.datadir, self.socket_dir)
                return
            except psycopg2.OperationalError as e:
                last = e
                time.sleep(0.05)
        raise EmbeddedPostgresError(f"embedded PostgreSQL did not accept connections: {last}")

    def _wait_connectable(self, deadline: float) -> None:
        """Another faxd's server: it may still be recovering after a restart."""
        while True:
            try:
                psycopg2.connect(self.dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg2.OperationalError as e:
                if time.monotonic() >= deadline:
                    raise EmbeddedPostgresError(
                        f"the embedded PostgreSQL in {self.datadir} does not accept connections: "
                        f"{str(e).strip()}") from None
                time.sleep(0.05)

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


def _quoted(owner: dict) -> str:
    return f", `{owner['command']}`" if owner.get("command") else ""


class CommandDatabase:
    """The configured database, or the embedded cluster for the length of one command; migrated.

    ``with CommandDatabase(config) as dsn:``. The embedded cluster is shared: a running
    ``faxd run`` (or another command) keeps serving it, and it is started here, and stopped on
    exit, only when nothing was serving it.
    """

    def __init__(self, config):
        self._config = config
        self._embedded = None

    def __enter__(self) -> str:
        if self._config.database_url:
            dsn = self._config.database_url
        else:
            os.makedirs(self._config.home, exist_ok=True)
            self._embedded = EmbeddedPostgres(self._config.postgres_dir, self._config.postgres_bindir)
            dsn = self._embedded.start(shared=True)
        try:
            migrate(dsn)
        except BaseException:
            self.__exit__()
            raise
        return dsn

    def __exit__(self, *exc):
        if self._embedded is not None:
            self._embedded.stop()

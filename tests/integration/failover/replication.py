"""A primary and a synchronous streaming standby on this machine, from Debian's PostgreSQL
binaries, and ``faxd run`` nodes on them.

The topology faxd documents for failover (docs/operations.md), made small: two data
directories under one temporary directory, ports chosen by the OS on 127.0.0.1, the standby
cloned with ``pg_basebackup -R`` and named in ``synchronous_standby_names`` so that a commit
is acknowledged only once the standby has it. ``kill_primary`` is a SIGKILL of the primary's
whole process group (a lost machine, no clean shutdown); ``promote`` is ``pg_ctl promote``,
what Patroni or pg_auto_failover run on the surviving node.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psycopg2

from faxd.store.cluster_place import as_user
from faxd.store.embedded import find_bindir
from tests.integration.foundation.daemon import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, name: str, datadir: str, port: int, bindir: str, user):
        self.name, self.datadir, self.port, self.bindir, self._user = name, datadir, port, bindir, user
        self.proc: subprocess.Popen | None = None
        self._log = None

    def _run_as(self) -> dict:
        return as_user(self._user) if self._user is not None else {}

    def bin(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    def run(self, *cmd: str) -> str:
        r = subprocess.run(list(cmd), cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, **self._run_as())
        out = r.stdout.decode(errors="replace")
        assert r.returncode == 0, f"{cmd[0]} failed: {out}"
        return out

    def start(self) -> None:
        self._log = open(os.path.join(os.path.dirname(self.datadir), f"{self.name}.log"), "ab")
        self.proc = subprocess.Popen(
            [self.bin("postgres"), "-D", self.datadir, "-p", str(self.port), "-k", "",
             "-c", "listen_addresses=127.0.0.1"],
            cwd="/", stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, **self._run_as())
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg2.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg2.OperationalError as e:
                assert self.proc.poll() is None, f"{self.name} exited: {self.log_tail()}"
                assert time.monotonic() < deadline, f"{self.name} not ready: {e}"
                time.sleep(0.1)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend (its process group): a lost machine."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)    # fast shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self) -> str:
        try:
            with open(os.path.join(os.path.dirname(self.datadir), f"{self.name}.log"), "rb") as f:
                return f.read()[-3000:].decode(errors="replace")
        except OSError:
            return ""


class ReplicatedCluster:
    """primary + synchronous standby; ``url`` is faxd's multi-host URL over both."""

    def __init__(self, dbname: str = "faxd"):
        self.dbname = dbname
        self.base = tempfile.mkdtemp(prefix="faxd-failover-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.bindir = find_bindir()
        self._user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self._user is not None:
            os.chown(self.base, self._user.pw_uid, self._user.pw_gid)
        self.primary = Node("primary", os.path.join(self.base, "primary"), free_port(), self.bindir, self._user)
        self.standby = Node("standby", os.path.join(self.base, "standby"), free_port(), self.bindir, self._user)

    @property
    def url(self) -> str:
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return (f"postgresql://postgres@{hosts}/{self.dbname}"
                "?target_session_attrs=read-write&connect_timeout=2")

    def start(self) -> "ReplicatedCluster":
        p, s = self.primary, self.standby
        p.run(p.bin("initdb"), "-D", p.datadir, "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--locale=C.UTF-8", "--no-sync")
        with open(os.path.join(p.datadir, "postgresql.conf"), "a") as f:
            f.write("\n# faxd failover test: streaming replication, one synchronous standby\n"
                    "wal_level = replica\nmax_wal_senders = 4\nmax_connections = 100\n"
                    "synchronous_commit = on\n"
                    "fsync = off\nfull_page_writes = off\n")
        with open(os.path.join(p.datadir, "pg_hba.conf"), "a") as f:
            f.write("host replication postgres 127.0.0.1/32 trust\n")
        p.start()
        self._sql(f"CREATE DATABASE {self.dbname}")
        p.run(s.bin("pg_basebackup"), "-D", s.datadir, "-h", "127.0.0.1", "-p", str(p.port), "-U", "postgres",
              "-R", "-X", "stream", "-c", "fast", "--no-sync")
        with open(os.path.join(s.datadir, "postgresql.conf"), "a") as f:
            # Once promoted it stands alone: a lone primary that waits for a synchronous standby
            # would accept no commit (failover managers rewrite this setting the same way).
            f.write("synchronous_standby_names = ''\n")
        s.start()
        # From now on a commit is acknowledged only once the standby has it.
        self._sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        self._sql("SELECT pg_reload_conf()")
        self.wait_streaming()
        return self

    def _sql(self, statement: str) -> None:
        conn = psycopg2.connect(self.primary.dsn())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def wait_streaming(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            conn = psycopg2.connect(self.primary.dsn())
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT sync_state FROM pg_stat_replication")
                    rows = [r[0] for r in cur.fetchall()]
            finally:
                conn.close()
            if "sync" in rows:
                return
            assert time.monotonic() < deadline, f"standby not streaming synchronously: {rows}"
            time.sleep(0.1)

    def promote(self) -> None:
        s = self.standby
        s.run(s.bin("pg_ctl"), "promote", "-D", s.datadir, "-w", "-t", "30")

    def stop(self) -> None:
        for node in (self.standby, self.primary):
            node.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class FaxdNode:
    """``faxd run`` (the software line) on ``url``, its log in a file: a long failover log must
    never fill a pipe. ``wait_ready()`` reads the start-up lines; several nodes start at once."""

    def __init__(self, home: str, url: str, **env: str):
        self.home = home
        self.log_path = os.path.join(home, "faxd.log")
        full = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
        full.update({"FAXD_HOME": home, "FAXD_DATABASE_URL": url, "FAXD_API_LISTEN": "127.0.0.1:0",
                     "FAXD_SMTP_LISTEN": "", "FAXD_SWITCH": "software", "FAXD_DB_POOL_SIZE": "8", **env})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "faxd", "run"], cwd=ROOT, env=full,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.base_url = None
        self.bootstrap = None

    def wait_ready(self, timeout: float = 60.0) -> "FaxdNode":
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            if line.startswith("faxd: bootstrap {"):
                self.bootstrap = json.loads(line[len("faxd: bootstrap "):])
            if line.startswith("faxd: API listening on "):
                self.base_url = line.split()[-1]
                return self
            assert time.monotonic() < deadline, "faxd did not start in time"
        raise AssertionError(f"faxd exited ({self.proc.poll()}): {self.log()[-3000:]}")

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

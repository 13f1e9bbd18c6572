"""Run the real ``faxd run`` as a subprocess, as users do."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import gevent
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def clean_env() -> dict:
    """This process's environment without any FAXD_ setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}


def database_url(dsn: str) -> str:
    """key=value DSN -> postgresql:// URL for FAXD_DATABASE_URL."""
    parts = dict(p.split("=", 1) for p in dsn.split())
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    user = parts.get("user", "postgres")
    if host.startswith("/"):
        return f"postgresql://{user}@/{parts['dbname']}?host={host}"
    return f"postgresql://{user}@{host}:{port}/{parts['dbname']}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (for a subprocess that must be told one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaxdProcess:
    def __init__(self, env: dict, args=("run",), cwd=ROOT, command=(sys.executable, "-m", "faxd")):
        full = dict(os.environ)
        full = {k: v for k, v in full.items() if not k.startswith("FAXD_")}
        full.setdefault("FAXD_API_LISTEN", "127.0.0.1:0")
        full.setdefault("FAXD_SMTP_LISTEN", "")      # no gateway unless a test asks for one (never 2525)
        full.update(env)
        self.proc = subprocess.Popen([*command, *args], cwd=cwd, env=full,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.base_url = None
        self.bootstrap = None

    def wait_ready(self, timeout: float = 60.0) -> "FaxdProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._readline(deadline)
            if line is None:
                raise AssertionError(f"faxd exited ({self.proc.poll()}): {self.stderr_text()}")
            self.lines.append(line)
            if line.startswith("faxd: bootstrap {"):
                self.bootstrap = json.loads(line[len("faxd: bootstrap "):])
            if line.startswith("faxd: API listening on "):
                self.base_url = line.split()[-1]
                return self
        raise AssertionError("faxd did not start in time")

    def _readline(self, deadline):
        import gevent.os  # noqa: F401
        from gevent.socket import wait_read
        fd = self.proc.stdout.fileno()
        while True:
            try:
                wait_read(fd, timeout=max(0.01, deadline - time.monotonic()))
            except Exception:
                return ""
            line = self.proc.stdout.readline()
            if not line:
                return None
            return line.rstrip("\n")

    def get(self, path: str, **kw):
        return requests.get(self.base_url + path, timeout=10, **kw)

    def stop(self, sig=signal.SIGINT, timeout: float = 40.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 40.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            gevent.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("faxd did not stop in time")
        return self.proc.returncode

    def stderr_text(self) -> str:
        try:
            return self.proc.stderr.read() if self.proc.poll() is not None else ""
        except ValueError:
            return ""

"""SmtpGatewayService: runs the SMTP gateway as a child process of ``faxd run`` and keeps it up.

The child (``python -m faxd.smtp``) gets the daemon's whole configuration and the database
DSN through its environment (not argv, which ``ps`` shows), dies with the daemon
(PR_SET_PDEATHSIG), and announces its address on stdout once it listens. When it exits
unexpectedly it is restarted with backoff (1 s doubling to 30 s); a child that cannot start
at all fails ``faxd run`` with its own error line.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import signal
import sys

import gevent
import gevent.pool
from gevent import subprocess

from faxd.errors import StartupError
from faxd.service import Service, end_process
from faxd.smtp import cli as smtp_cli

logger = logging.getLogger(__name__)


class SmtpGatewayService(Service):
    name = "smtp"

    def __init__(self, config, dsn: str | None = None, *, start_timeout: float = 20.0):
        super().__init__()
        self._config = config
        self._dsn = dsn or config.database_url
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen | None = None
        self._readers = gevent.pool.Group()     # the child's stderr, forwarded
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.address: tuple[str, int] | None = None
        self.restarts = 0

    # --- Service

    def start(self):
        if self._config.smtp_listen is None:
            logger.info("SMTP gateway disabled (smtp_listen is empty)")
            return []
        if not self._dsn:
            raise StartupError("SMTP gateway: no database DSN to hand to the gateway process")
        self._spawn()
        return self.spawn_loops(self._supervise)

    def stop_intake(self):
        self.accepting = False
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the child stops listening, lets sessions finish

    def drain(self, timeout):
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        self.accepting = False
        end_process(self._proc, timeout=5)
        self.stop_loops()
        self._readers.kill(block=True, timeout=2)

    def ready(self) -> bool:
        """Listening: started, its child running (not being restarted); or disabled."""
        if self._config.smtp_listen is None:
            return True
        proc = self._proc
        return self.address is not None and proc is not None and proc.poll() is None and self.accepting

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- the child

    def _spawn(self) -> None:
        env = dict(os.environ)
        env[smtp_cli.CONFIG_ENV] = smtp_cli.config_to_env(self._config)
        env[smtp_cli.DSN_ENV] = self._dsn
        env[smtp_cli.PARENT_ENV] = str(os.getpid())
        self._stderr_tail.clear()
        self.address = None
        proc = subprocess.Popen([sys.executable, "-m", "faxd.smtp"], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)
        self._proc = proc
        reader = self._readers.spawn(self._forward_stderr, proc)
        line = b""
        with gevent.Timeout(self._start_timeout, False):
            line = proc.stdout.readline()
        try:
            msg = json.loads(line.decode("utf-8", "replace")) if line else {}
        except ValueError:
            msg = {}
        if "smtp_listening" not in msg:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            reader.join(timeout=2)  # the child's last words (EOF follows its exit)
            errors = [l.partition("faxd: error: ")[2] for l in self._stderr_tail if "faxd: error: " in l]
            detail = errors[-1] if errors else (" / ".join(l for l in self._stderr_tail if l)
                                                or f"exit status {proc.returncode}")
            raise StartupError(f"SMTP gateway did not start: {detail}")
        host, port = msg["smtp_listening"]
        self.address = (host, int(port))
        logger.info("SMTP gateway listening on %s:%d (pid %d)", host, port, proc.pid)

    def _forward_stderr(self, proc) -> None:
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr_tail.append(line)
            sys.stderr.write(line + "\n")

    def _supervise(self) -> None:
        delay = 1.0
        while True:
            proc = self._proc
            status = proc.wait()
            if not self.accepting:
                return
            logger.error("SMTP gateway (pid %d) exited with status %s; restarting in %.0f s",
                         proc.pid, status, delay)
            gevent.sleep(delay)
            if not self.accepting:
                return
            try:
                self._spawn()
                self.restarts += 1
                delay = 1.0
            except StartupError as e:
                logger.error("%s", e)
                delay = min(30.0, delay * 2)
                # keep the failed process as current so the loop waits on it (already exited)

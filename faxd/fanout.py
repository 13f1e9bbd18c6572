"""The event stream's fan-out process: ``python -m faxd.fanout``, started and supervised by faxd.

Writing every event to a thousand streams is work the dispatcher should not share a GIL and an
event loop with. So ``faxd run`` keeps the streams' requests (authentication, the account's
scope, ``Last-Event-ID``) and gives each accepted stream's socket to a second process, run at a
lower priority (``events_nice``), which owns the :class:`faxd.events.EventHub` and writes to
every client:

- :class:`FanoutProcess` (in ``faxd run``) starts the process with one end of a Unix
  ``SOCK_SEQPACKET`` socket pair and passes each stream over it (``socket.send_fds``, i.e.
  ``SCM_RIGHTS``) with its account, its ``Last-Event-ID`` and the response head. faxd keeps
  both ends of the pair for its whole life, so a stream handed over while the process is being
  restarted waits in the socket for the next one. When the process dies it is started again
  (half a second later, then backing off up to 5 s); its clients see their connection close and
  reconnect with ``Last-Event-ID``, which the new process serves from the events table.
- :class:`Handoffs` (in the fan-out process) receives the sockets and writes each one's stream:
  the head, the missed events, then the live ones (:meth:`faxd.events.EventHub.stream`).

The process reads the events table and LISTENs for ``faxd_events`` itself, and ends when faxd
does (SIGTERM, or its parent process gone).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import gevent
import gevent.lock
import gevent.pool

from faxd.errors import StoreError
from faxd.service import Service, end_process

logger = logging.getLogger(__name__)

MESSAGE_MAX = 64 * 1024
READY = b"ready"
TOO_MANY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 41\r\nConnection: close\r\n\r\ntoo many event streams from this address\n")
UNAVAILABLE = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 38\r\nConnection: close\r\n\r\nthe event stream is not available yet\n")


def response_head(request_id: str | None = None) -> bytes:
    """The stream's HTTP response head (the body lasts until either side closes)."""
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"X-Accel-Buffering: no\r\nConnection: close\r\n")
    if request_id:
        head += b"X-Request-ID: " + request_id.encode("latin-1", "replace") + b"\r\n"
    return head + b"\r\n"


class FanoutProcess(Service):
    """In ``faxd run``: the fan-out process, started, restarted when it dies, stopped last."""

    name = "events"
    restart_delay = 0.5
    restart_max = 5.0

    def __init__(self, dsn: str, config, send_timeout: float = 5.0):
        super().__init__()
        self._dsn = dsn
        self._config = config
        self._send_timeout = send_timeout
        self._ours, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._ours.settimeout(send_timeout)
        self._sending = gevent.lock.Semaphore()
        self._proc: subprocess.Popen | None = None
        self._ready = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- Service

    def start(self):
        self._spawn()
        return self.spawn_loops(self._supervise, self._read_replies)

    def ready(self) -> bool:
        return self._ready

    def stop_intake(self):
        """The streams end now (their clients resume on another node or after the restart)."""
        super().stop_intake()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)

    def stop(self):
        self.stop_loops()
        proc, self._proc = self._proc, None
        end_process(proc, timeout=3)
        for s in (self._ours, self._theirs):
            s.close()

    # --- the API's side

    def handoff(self, sock, account_id: str | None, after: int | None, head: bytes) -> bool:
        """Give the stream's socket to the fan-out process; False when it cannot take it now."""
        if not self.accepting:
            return False
        message = json.dumps({"account_id": account_id, "after": after, "head": head.decode("latin-1")}).encode()
        # One sender at a time: when the socket pair is full (a burst of new streams, the process
        # busy or restarting) the others wait their turn, send_timeout at most.
        if not self._sending.acquire(timeout=self._send_timeout):
            logger.warning("event stream: cannot hand a stream to the fan-out process: it reads none")
            return False
        try:
            socket.send_fds(self._ours, [message], [sock.fileno()])
        except OSError as e:   # a timeout: the process has not read its socket for send_timeout
            logger.warning("event stream: cannot hand a stream to the fan-out process: %s", e)
            return False
        finally:
            self._sending.release()
        return True

    # --- supervision

    def _spawn(self) -> None:
        c = self._config
        env = dict(os.environ, FAXD_DATABASE_URL=self._dsn)
        argv = [sys.executable, "-m", "faxd.fanout", "--fd", str(self._theirs.fileno()),
                "--window", repr(c.events_window), "--heartbeat", repr(c.events_heartbeat),
                "--nice", str(c.events_nice), "--log-level", c.log_level, "--log-format", c.log_format,
                "--max-per-client", str(c.http_max_connections_per_client)]
        self._ready = False
        self._proc = subprocess.Popen(argv, pass_fds=[self._theirs.fileno()], env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        logger.info("event fan-out process started (pid %d)", self._proc.pid)

    def _supervise(self) -> None:
        delay = self.restart_delay
        while self.accepting:
            proc, started = self._proc, time.monotonic()
            code = proc.wait()
            if not self.accepting:
                return
            self._ready = False
            if time.monotonic() - started > 30:
                delay = self.restart_delay     # it ran a while: not a crash loop
            logger.warning("event fan-out process %d ended (exit %s); starting another in %.1f s",
                           proc.pid, code, delay)
            gevent.sleep(delay)
            if not self.accepting:
                return
            self._spawn()
            self.restarts += 1
            delay = min(delay * 2, self.restart_max)

    def _read_replies(self) -> None:
        """The process says ``ready`` on the same socket pair once its hub reads the table."""
        ours = self._ours
        while self.accepting:
            try:
                data = ours.recv(MESSAGE_MAX)
            except socket.timeout:
                continue
            except OSError:
                return
            if data == READY:
                self._ready = True


class Handoffs(Service):
    """In the fan-out process: receives the streams' sockets and writes each one's stream."""

    name = "handoffs"

    def __init__(self, ctl: socket.socket, hub, write_timeout: float = 30.0, max_per_client: int = 0):
        super().__init__(work=gevent.pool.Group())
        self._ctl = ctl
        self._hub = hub
        self._write_timeout = write_timeout
        # http_max_connections_per_client holds here too: a stream handed over leaves faxd's
        # count, so the streams one address holds are counted (and capped) here.
        self._max_per_client = max_per_client
        self._per_client: Counter[str] = Counter()
        self.served = 0

    def start(self):
        self._ctl.sendall(READY)
        return self.spawn_loops(self._receive)

    def _receive(self) -> None:
        while self.accepting:
            message, fds, _flags, _addr = socket.recv_fds(self._ctl, MESSAGE_MAX, 16)
            if not message and not fds:
                return        # faxd closed the socket: it is gone
            try:
                request = json.loads(message)
            except ValueError:
                request = None
            for fd in fds:
                conn = socket.socket(fileno=fd)
                if request is None:
                    conn.close()
                    continue
                self.work.spawn(self._serve, conn, request)

    @staticmethod
    def _until_closed(conn: socket.socket, writer: gevent.Greenlet) -> None:
        """End the stream as soon as its client closes the connection, not at the next write
        (a heartbeat may be 15 s away): its subscription and its place in the cap go at once."""
        while not writer.dead:
            try:
                if not conn.recv(4096):      # what a client sends on a stream is ignored
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        writer.kill(block=False)

    def _serve(self, conn: socket.socket, request: dict) -> None:
        self.served += 1
        frames = None
        address = None
        try:
            conn.settimeout(self._write_timeout)   # a client that reads nothing is dropped
            peer = conn.getpeername()
            address = peer[0] if isinstance(peer, tuple) else ""
            if self._max_per_client and self._per_client[address] >= self._max_per_client:
                logger.warning("refusing an event stream from %s: %d open, the cap is %d "
                               "(http_max_connections_per_client)", address, self._per_client[address],
                               self._max_per_client)
                address = None
                conn.sendall(TOO_MANY)
                return
            self._per_client[address] += 1
            gevent.spawn(self._until_closed, conn, gevent.getcurrent())
            try:
                frames = self._hub.stream(request["account_id"], request["after"])
            except StoreError as e:
                logger.warning("event stream: %s", e)
                conn.sendall(UNAVAILABLE)   # the client tries again with its Last-Event-ID
                return
            pending = request["head"].encode("latin-1")
            for data in frames:
                conn.sendall(pending + data if pending else data)
                pending = b""
        except OSError:
            pass            # the client went away
        finally:
            if frames is not None:
                frames.close()
            if address is not None:
                self._per_client[address] -= 1
                if self._per_client[address] <= 0:
                    del self._per_client[address]
            try:
                conn.close()
            except OSError:
                pass


def _watch_parent(runner, parent: int) -> None:
    while True:
        gevent.sleep(1.0)
        if os.getppid() != parent:
            logger.warning("faxd is gone: the event fan-out process stops")
            runner.request_stop()
            return


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m faxd.fanout", description="faxd's event stream fan-out process")
    p.add_argument("--fd", type=int, required=True, help="the Unix socket faxd hands streams over")
    p.add_argument("--window", type=float, default=600.0)
    p.add_argument("--heartbeat", type=float, default=15.0)
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--log-level", default="info")
    p.add_argument("--log-format", default="text")
    p.add_argument("--max-per-client", type=int, default=0, help="streams one address may hold (0: no cap)")
    args = p.parse_args(argv)

    from faxd import green   # noqa: PLC0415 (monkey-patch before anything opens a socket)
    green.patch()
    from faxd import logs   # noqa: PLC0415 (after the patch)
    from faxd.events import EventHub   # noqa: PLC0415 (after the patch)
    from faxd.service import ServiceRunner   # noqa: PLC0415 (after the patch)
    from faxd.store import PostgresStore   # noqa: PLC0415 (after the patch)
    from faxd.store.listener import Listener   # noqa: PLC0415 (after the patch)

    logs.setup(args.log_level, fmt=args.log_format)
    if args.nice:
        os.nice(args.nice)
    dsn = os.environ["FAXD_DATABASE_URL"]
    parent = os.getppid()
    ctl = socket.socket(fileno=args.fd)
    store = PostgresStore(dsn, 4)
    hub = EventHub(store, window=args.window, heartbeat=args.heartbeat)
    listener = Listener(dsn, {"faxd_events": [hub.wake]}, application_name="faxd-events")
    runner = ServiceRunner([listener, hub, Handoffs(ctl, hub, max_per_client=args.max_per_client)])
    try:
        runner.start()
        runner.handle_signals()
        gevent.spawn(_watch_parent, runner, parent)
        code = runner.wait()
    finally:
        runner.stop(1.0)
        store.close()
    return code


if __name__ == "__main__":
    raise SystemExit(main())

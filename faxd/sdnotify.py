"""systemd's service notification: READY=1 once ``GET /health`` answers 200, WATCHDOG=1 while it does.

Under ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` (a datagram socket: a path, or ``@name``
in the abstract namespace) and, with ``WatchdogSec=``, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``).
The readiness check is faxd's own ``/health`` asked over HTTP on the API's address: the same
checks (database, every switch connection) a load balancer sees, through the same server, so a
hub that no longer runs greenlets or an API that no longer answers stops the pings too. The
protocol is one datagram per message (sd_notify(3)); a library for it would be more code than it.
No NOTIFY_SOCKET (not under systemd): nothing runs.
"""
from __future__ import annotations

import http.client
import logging
import os
import socket

import gevent

logger = logging.getLogger(__name__)


def notify(message: str, address: str | None = None) -> bool:
    """Send ``message`` (``KEY=value`` lines) to systemd; False when there is no NOTIFY_SOCKET."""
    address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(address)
        s.sendall(message.encode())
    return True


def watchdog_interval(env=os.environ) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None when there is no watchdog for us."""
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class SystemdNotifier:
    """A faxd service (start, stop_intake, drain, stop) that speaks to systemd."""

    name = "systemd-notify"

    def __init__(self, api_address: tuple[str, int], socket_address: str, watchdog: float | None,
                 poll: float = 0.2):
        host, port = api_address[:2]
        self._health = ({"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host), port)
        self._socket = socket_address
        self._watchdog = watchdog
        self._poll = poll
        self._greenlet = None
        self._waiting = None      # the last reason given to systemd for not being ready

    def _healthy(self) -> tuple[bool, str]:
        conn = http.client.HTTPConnection(*self._health, timeout=10)
        try:
            conn.request("GET", "/health")
            r = conn.getresponse()
            r.read()
            return r.status == 200, f"GET /health: {r.status}"
        except (OSError, http.client.HTTPException) as e:
            return False, f"GET /health: {e!r}"
        finally:
            conn.close()

    def _send(self, message: str) -> None:
        try:
            notify(message, self._socket)
        except OSError as e:
            logger.warning("systemd notification %r not sent to %s: %s", message.split("\n")[0], self._socket, e)

    def _run(self) -> None:
        while not (health := self._healthy())[0]:
            if health[1] != self._waiting:
                self._waiting = health[1]
                self._send("STATUS=starting, not healthy yet: " + health[1])
            gevent.sleep(self._poll)
        self._send("READY=1\nSTATUS=ready: " + health[1])
        logger.info("told systemd: ready (%s)%s", health[1],
                    f"; watchdog every {self._watchdog:g} s" if self._watchdog else "")
        healthy = True
        while self._watchdog:
            gevent.sleep(self._watchdog)
            ok, text = self._healthy()
            if ok:
                self._send("WATCHDOG=1" if healthy else "WATCHDOG=1\nSTATUS=ready: " + text)
            else:
                logger.warning("no watchdog ping for systemd: %s", text)
                self._send("STATUS=not healthy: " + text)
            healthy = ok

    def start(self):
        self._greenlet = gevent.spawn(self._run)
        return []          # never stops faxd: without pings systemd decides

    def stop_intake(self):
        self._send("STOPPING=1")

    def drain(self, timeout: float) -> None:
        pass

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None


def services(api_address: tuple[str, int], env=os.environ) -> list[SystemdNotifier]:
    """The notifier when systemd (NOTIFY_SOCKET) is there, else nothing."""
    address = env.get("NOTIFY_SOCKET", "")
    return [SystemdNotifier(api_address, address, watchdog_interval(env))] if address else []

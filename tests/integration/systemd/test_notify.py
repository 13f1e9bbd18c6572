"""``faxd run`` under systemd's notify protocol, with the test as systemd: a datagram socket in
NOTIFY_SOCKET, and WATCHDOG_USEC. READY=1 comes only once /health answers 200 (here: once the
FreeSWITCH it needs answers), WATCHDOG=1 every WATCHDOG_USEC/2 while /health stays 200 and not
while it does not, STOPPING=1 on SIGTERM."""
from __future__ import annotations

import signal
import socket
import time

import requests

from faxd.testing.esl.emulator import ESLEmulator
from tests.integration.foundation.daemon import FaxdProcess


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Systemd:
    """The receiving end of NOTIFY_SOCKET: every datagram with the time it arrived."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages: list[tuple[float, str]] = []

    def receive(self, seconds: float) -> list[str]:
        """What arrives within ``seconds``."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.messages.append((time.monotonic(), data))
            got.append(data)
        return got

    def wait_for(self, line: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.receive(min(0.5, deadline - time.monotonic())):
                if line in message.split("\n"):
                    return time.monotonic()
        raise AssertionError(f"no {line} within {timeout} s: {[m for _, m in self.messages]}")


def test_ready_only_once_health_passes_then_watchdog_pings_while_healthy(tmp_path, dsn):
    systemd = Systemd(str(tmp_path / "notify"))
    esl_port = _free_port()          # nothing answers there yet: /health is 503
    faxd = FaxdProcess({"FAXD_HOME": str(tmp_path / "home"), "FAXD_DATABASE_URL": dsn,
                        "FAXD_SWITCH": "freeswitch", "FAXD_ESL_URL": f"esl://:ClueCon@127.0.0.1:{esl_port}",
                        "FAXD_ESL_LISTEN": f"127.0.0.1:{_free_port()}",
                        "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "600000"}).wait_ready()
    emulator = None
    try:
        assert faxd.get("/health").status_code == 503
        early = systemd.receive(1.5)
        assert not [m for m in early if "READY=1" in m.split("\n") or "WATCHDOG=1" in m.split("\n")], early
        assert any(m.startswith("STATUS=starting") for m in early), early
        assert faxd.get("/health").status_code == 503

        emulator = ESLEmulator(port=esl_port).start()
        systemd.wait_for("READY=1", timeout=15)
        assert faxd.get("/health").status_code == 200

        pings = [m for m in systemd.receive(2.0) if m == "WATCHDOG=1"]
        assert 2 <= len(pings) <= 7, systemd.messages       # every 0.3 s; on a busy machine fewer

        emulator.stop()                                     # FreeSWITCH gone: /health 503, no pings
        emulator = None
        deadline = time.monotonic() + 10
        while faxd.get("/health").status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        systemd.receive(0.7)                                # a ping already on its way
        quiet = systemd.receive(1.5)
        assert "WATCHDOG=1" not in quiet and any(m.startswith("STATUS=not healthy") for m in quiet), quiet
    finally:
        if emulator is not None:
            emulator.stop()
        code = faxd.stop(signal.SIGTERM)
    assert code == 0
    assert "STOPPING=1" in systemd.receive(0.5) + [m for _, m in systemd.messages]


"""``faxd top`` in an 80x24 tmux pane shows a live call; ``q`` quits."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time


from tests.integration.foundation.daemon import ROOT, FaxdProcess
from tests.integration.foundation.fax_client import FaxClient
from tests.integration.foundation.daemon import database_url as _url


def _tmux(sock: str, *args) -> str:
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10).stdout


def test_top_shows_a_live_call_in_an_80x24_pane_and_q_quits(tmp_path, dsn):
    # Paced: the call runs in real time, long enough to be watched.
    proc = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": str(tmp_path / "home"),
                        "FAXD_SOFTWARE_PACED": "true", "FAXD_SHUTDOWN_GRACE": "0"}).wait_ready()
    sock = f"faxd-top-{os.getpid()}"
    try:
        client = FaxClient(proc.base_url, proc.bootstrap["account_id"], proc.bootstrap["api_key"])
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in os.environ.items()
                       if k in ("PATH", "HOME", "LANG", "PYTHONPATH"))
        command = (f"env -i {env} TERM=xterm {shlex.quote(sys.executable)} -m faxd top "
                   f"--api {proc.base_url} --api-key {proc.bootstrap['api_key']}")
        _tmux(sock, "new-session", "-d", "-x", "80", "-y", "24", "-c", ROOT, command)
        deadline = time.monotonic() + 15
        while "faxd top" not in (screen := _tmux(sock, "capture-pane", "-p")):
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
        assert "all accounts" in screen           # the bootstrap account is a super-admin
        client.send_text("+12025550177")
        deadline = time.monotonic() + 30
        while True:
            screen = _tmux(sock, "capture-pane", "-p")
            if any("+12025550177" in l and ("sending" in l or "answered" in l) for l in screen.splitlines()):
                break
            assert time.monotonic() < deadline, screen
            time.sleep(0.2)
        row = next(l for l in screen.splitlines() if "+12025550177" in l)
        assert row.startswith("out ") and "/1" in row, row
        assert "software@" in screen and " up" in screen, screen
        lines = screen.splitlines()
        assert len(lines) <= 24 and max(len(l) for l in lines) <= 80
        with open(os.path.join(str(tmp_path), "top.txt"), "w") as f:
            f.write(screen)
        _tmux(sock, "send-keys", "q")
        deadline = time.monotonic() + 10
        while "faxd top" in _tmux(sock, "capture-pane", "-p"):
            assert time.monotonic() < deadline, "q did not quit"
            time.sleep(0.2)
    finally:
        _tmux(sock, "kill-server")
        proc.stop()

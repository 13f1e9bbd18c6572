"""``faxd send --wait`` against a running faxd: 3 pages of 3 and the result; a failing number
exits 1 with the reason; usage errors exit 2."""
from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

from tests.integration.foundation.daemon import ROOT

PDF3 = os.path.join(ROOT, "tests", "data", "gallery", "mixed-orientation.pdf")


def _send(*args, env=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "faxd", "send", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)


def test_send_wait_shows_three_pages_of_three_and_the_result(faxd):
    # The defaults: the API at FAXD_API_LISTEN, the key from $FAXD_HOME/bootstrap.json.
    u = urlsplit(faxd.base_url)
    home = {"FAXD_HOME": faxd.home, "FAXD_API_LISTEN": f"{u.hostname}:{u.port}"}
    r = _send(PDF3, "--to", "+12025550188", "--wait", env=home)
    assert r.returncode == 0, (r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    pages = [l for l in lines if l.startswith("page ")]
    assert pages == ["page 1 of 3", "page 2 of 3", "page 3 of 3"], lines
    assert lines[-1].startswith("sent: 3 of 3 pages to +12025550188 (fax "), lines
    assert any(l.startswith("connected at ") for l in lines), lines


def test_a_failing_number_exits_1_with_the_reason_and_usage_errors_exit_2(faxd):
    key = ["--api", faxd.base_url, "--api-key", faxd.bootstrap["api_key"]]
    r = _send(PDF3, "--to", "+12025550109", "--wait", "--retries", "0", *key)
    assert r.returncode == 1, (r.stdout, r.stderr)
    last = r.stdout.splitlines()[-1]
    assert last.startswith("failed: ") and "UNALLOCATED_NUMBER" in last, r.stdout
    r = _send(PDF3, "--to", "+12025550188", *key)           # no --wait: the queued job, at once
    assert r.returncode == 0 and '"id": "' in r.stdout, r.stderr
    r = _send(PDF3, *key)
    assert r.returncode == 2 and "--to" in r.stderr
    r = _send("/nonexistent.pdf", "--to", "+12025550188", *key)
    assert r.returncode == 2 and "no such file" in r.stderr
    r = _send(PDF3, "--to", "+12025550188", "--api", faxd.base_url, "--api-key", "wrong")
    assert r.returncode == 1 and "401" in r.stderr and "Traceback" not in r.stderr

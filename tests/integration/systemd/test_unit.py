"""contrib/systemd/faxd.service passes ``systemd-analyze verify`` (offline: systemd need not be PID 1).

verify also checks that ExecStart's program exists, so the unit is checked as it is installed
here: the same file with ExecStart pointing at this environment's ``faxd`` instead of
/opt/faxd/bin/faxd, every other line unchanged.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
UNIT = os.path.join(ROOT, "contrib", "systemd", "faxd.service")
DOCUMENTED_EXEC = "ExecStart=/opt/faxd/bin/faxd run"


def _settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_the_unit_verifies_as_installed_here(tmp_path):
    assert shutil.which("systemd-analyze"), "make setup installs systemd (systemd-analyze)"
    text = open(UNIT, encoding="utf-8").read()
    assert text.count(DOCUMENTED_EXEC) == 1
    faxd = os.path.join(os.path.dirname(sys.executable), "faxd")
    assert os.access(faxd, os.X_OK), faxd
    installed = tmp_path / "faxd.service"
    installed.write_text(text.replace(DOCUMENTED_EXEC, f"ExecStart={faxd} run"))
    r = subprocess.run(["systemd-analyze", "verify", str(installed)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def test_a_broken_unit_fails_verify(tmp_path):
    """The check itself: a missing program and an unknown setting are errors."""
    text = open(UNIT, encoding="utf-8").read()
    broken = tmp_path / "faxd.service"
    broken.write_text(text)                                       # /opt/faxd/bin/faxd does not exist here
    assert subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True).returncode != 0
    faxd = os.path.join(os.path.dirname(sys.executable), "faxd")
    broken.write_text(text.replace(DOCUMENTED_EXEC, f"ExecStart={faxd} run\nProtectSystm=strict"))
    r = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True)
    assert "ProtectSystm" in r.stderr, r.stderr


def test_the_unit_is_a_hardened_notify_service_with_its_state_in_var_lib_faxd():
    s = _settings(open(UNIT, encoding="utf-8").read())
    assert (s["Type"], s["User"], s["StateDirectory"], s["Environment"]) == \
        ("notify", "faxd", "faxd", "FAXD_HOME=/var/lib/faxd")
    assert int(s["WatchdogSec"]) > 0
    for key, value in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes")):
        assert s[key] == value, key
    # faxd's converter sandbox mounts a fresh /proc in its namespaces: nothing may cover /proc
    for key in ("ProtectKernelTunables", "ProtectKernelLogs", "ProtectProc", "ProcSubset", "SystemCallFilter"):
        assert key not in s, key

"""The gateway process on its own: ``faxd smtp`` from the command line, and a database outage."""
from __future__ import annotations

import json
import os
import smtplib
import sys

import gevent
from gevent import subprocess

from faxd.config import Config
from faxd.smtp.service import SmtpGatewayService

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    env.update(PYTHONPATH=ROOT, **extra)
    return env


def test_faxd_smtp_command_serves_and_stops_on_sigterm(dsn, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "faxd", "smtp", "--listen", "127.0.0.1:0"], cwd=str(tmp_path),
                            env=_env(FAXD_DATABASE_URL=dsn, FAXD_HOME=str(tmp_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with gevent.Timeout(30):
            host, port = json.loads(proc.stdout.readline())["smtp_listening"]
        with smtplib.SMTP(host, port, timeout=10) as c:
            code, banner = c.ehlo()
            assert code == 250 and c.has_extn("size")
            c.mail("alice@example.com")
            assert c.rcpt("12025550123@nobox.fax.localhost")[0] == 550
    finally:
        proc.terminate()
        status = proc.wait(timeout=15)
    assert status == 0


def test_faxd_smtp_without_a_database_says_so(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "faxd", "smtp"], cwd=str(tmp_path), env=_env(FAXD_HOME=str(tmp_path)),
                          capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert b"faxd smtp needs a database: set FAXD_DATABASE_URL" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_a_database_outage_is_a_temporary_refusal(tmp_path):
    dead = "postgresql://postgres@127.0.0.1:1/nodb"
    config = Config.load(path=None, env={}, home=str(tmp_path), database_url=dead, smtp_listen="127.0.0.1:0")
    service = SmtpGatewayService(config, dead)
    service.start()
    try:
        with smtplib.SMTP(*service.address, timeout=30) as c:
            c.ehlo()
            c.mail("alice@example.com")
            code, text = c.rcpt("12025550123@abc.fax.localhost")
        assert code == 451 and text.startswith(b"4.3.0 Temporary failure")
    finally:
        service.stop_intake()
        service.stop()


def test_a_busy_port_fails_faxd_run_start_with_a_clear_line(tmp_path):
    import socket

    import pytest

    from faxd.errors import StartupError
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = Config.load(path=None, env={}, home=str(tmp_path), smtp_listen=f"127.0.0.1:{port}")
        service = SmtpGatewayService(config, "postgresql://postgres@127.0.0.1:1/nodb")
        with pytest.raises(StartupError) as e:
            service.start()
    assert f"cannot listen on 127.0.0.1:{port} (FAXD_SMTP_LISTEN): Address already in use" in str(e.value)
    assert "Traceback" not in str(e.value)


def test_the_gateway_dies_with_a_killed_daemon(tmp_path):
    """PR_SET_PDEATHSIG: kill -9 of the supervising process takes the gateway child with it."""
    import gevent.socket

    script = (
        "from faxd.green import patch; patch()\n"
        "import sys, gevent\n"
        "from faxd.config import Config\n"
        "from faxd.smtp.service import SmtpGatewayService\n"
        f"c = Config.load(path=None, env={{}}, home={str(tmp_path)!r}, smtp_listen='127.0.0.1:0')\n"
        "s = SmtpGatewayService(c, 'postgresql://postgres@127.0.0.1:1/nodb')\n"
        "s.start()\n"
        "print(s.pid, flush=True)\n"
        "gevent.sleep(300)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=_env(), stdout=subprocess.PIPE)
    try:
        with gevent.Timeout(30):
            child = int(parent.stdout.readline())
        pidfd = os.pidfd_open(child)
        parent.kill()
        parent.wait()
        gevent.socket.wait_read(pidfd, timeout=15)  # readable once the child has exited
        os.close(pidfd)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if "child" in locals() and os.path.exists(f"/proc/{child}") and "faxd.smtp" in open(f"/proc/{child}/cmdline").read():
            os.kill(child, 9)  # the test failed: do not leave the orphan behind
    assert not os.path.exists(f"/proc/{child}/cmdline") or open(f"/proc/{child}/stat").read().split()[2] == "Z"

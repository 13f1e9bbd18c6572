"""Email in, fax out, receipts back: the whole ``faxd run`` (software line, SMTP gateway child,
notifier) against a real SMTP client and a real SMTP sink as the relay."""
from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import subprocess as std_subprocess
import sys
import urllib.request

import gevent
import pytest
from gevent import subprocess

from faxd.store import PostgresStore
from tests.integration.foundation.daemon import free_port
from tests.integration.smtp.helpers import SmtpSink, big_pdf, mail, make_pdf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _api(base: str, method: str, path: str, body: dict, token: str | None = None) -> dict:
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture
def daemon(dsn, tmp_path):
    sink = SmtpSink().start()
    smtp_port = free_port()
    home = tmp_path / "home"
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    std_subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    env.update(FAXD_HOME=str(home), FAXD_DATABASE_URL=dsn, FAXD_API_LISTEN="127.0.0.1:0",
               FAXD_SMTP_TLS_CERT=cert, FAXD_SMTP_TLS_KEY=key,
               FAXD_SMTP_LISTEN=f"127.0.0.1:{smtp_port}", FAXD_SMTP_RELAY=sink.address,
               FAXD_SMTP_DOMAIN="fax.test", FAXD_NOTIFY_RETRY_BASE="0.2", FAXD_SHUTDOWN_GRACE="3", FAXD_LOG_LEVEL="info",
               PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "faxd", "run"], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    try:
        with gevent.Timeout(60, AssertionError("faxd run did not start")):
            while True:
                line = proc.stdout.readline().decode(errors="replace")
                assert line, "faxd run exited:\n" + "".join(lines)
                lines.append(line)
                if "API listening" in line:
                    api = line.strip().rpartition(" ")[2]
                    break
        drain = gevent.spawn(lambda: [lines.append(l.decode(errors="replace")) for l in proc.stdout])
        with open(home / "bootstrap.json") as f:
            boot = json.load(f)
        yield {"sink": sink, "smtp": ("127.0.0.1", smtp_port), "boot": boot, "lines": lines, "api": api,
               "cert": cert}
    finally:
        proc.terminate()
        try:
            status = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            status = "still running 20 s after SIGTERM"
        sink.stop()
        if "drain" in locals():
            drain.kill()
    assert status == 0, f"faxd run did not stop cleanly: {status}\n" + "".join(lines[-30:])


def test_email_becomes_a_fax_and_both_ends_get_their_email(daemon, dsn):
    boot, sink = daemon["boot"], daemon["sink"]
    store = PostgresStore(dsn, pool_size=2)
    try:
        # the faxbox settings come from the API, as a user would set them
        token = _api(daemon["api"], "PUT", "/v2/api_auth", {"data": {"api_key": boot["api_key"]}})["auth_token"]
        box = _api(daemon["api"], "PATCH", f"/v2/accounts/{boot['account_id']}/faxboxes/{boot['faxbox_id']}",
                   {"data": {"smtp_permission_list": ["alice@example.com"],
                             "notifications": {"inbound": {"email": {"send_to": ["inbox@example.com"]}}}}},
                   token)["data"]
        domain = box["smtp_email_address"]
        pdf = make_pdf("end to end")
        # 1. a fax to an outside number (the software line's remote machine receives it)
        # 2. a fax to the bootstrap faxbox's own number: it comes back into its inbox
        rcpts = [f"12025550123@{domain}", f"{boot['fax_number']}@{domain}"]
        with smtplib.SMTP(*daemon["smtp"], timeout=60) as c:
            assert c.sendmail("alice@example.com", rcpts,
                              mail("alice@example.com", rcpts, subject="E2E", attachments=[(pdf, "application/pdf", "e2e.pdf")])) == {}
        got = {}
        with gevent.Timeout(180, AssertionError(f"missing emails; got {sorted(got)}\n" + "".join(daemon["lines"][-40:]))):
            while len(got) < 3:
                _from, rcpt, msg = sink.get(timeout=180)
                got[(rcpt[0], msg["Subject"])] = msg
        subjects = sorted(got)
        assert subjects == sorted([
            ("alice@example.com", "Fax sent to +12025550123 (1 page)"),
            ("alice@example.com", f"Fax sent to {boot['fax_number']} (1 page)"),
            ("inbox@example.com", f"Fax received from {boot['fax_number']} (1 page)"),
        ]), subjects
        for msg in got.values():
            [att] = list(msg.iter_attachments())
            assert att.get_content_type() == "application/pdf"
            assert att.get_content().startswith(b"%PDF")
        with store.transaction() as cur:
            cur.execute("SELECT s.smtp_code, j.status, j.source FROM smtplog s JOIN jobs j ON j.id = s.job_id")
            rows = cur.fetchall()
        assert [(r["smtp_code"], r["status"], r["source"]) for r in rows] == [(250, "completed", "smtp")] * 2
    finally:
        store.close()


def test_a_5mb_pdf_mailed_with_starttls_and_auth_is_faxed(daemon, dsn):
    """The faxbox requires SMTP AUTH (set through the API); a 5 MB PDF mailed over STARTTLS by a
    logged-in session is sent on the software line to the end, and the sender gets the receipt."""

    boot, sink = daemon["boot"], daemon["sink"]
    password = "end to end smtp password"
    token = _api(daemon["api"], "PUT", "/v2/api_auth", {"data": {"api_key": boot["api_key"]}})["auth_token"]
    box = _api(daemon["api"], "PATCH", f"/v2/accounts/{boot['account_id']}/faxboxes/{boot['faxbox_id']}",
               {"data": {"smtp_auth": {"password": password, "required": True}}}, token)["data"]
    assert box["smtp_auth"] == {"username": box["smtp_email_address"], "required": True}
    rcpt = f"12025550123@{box['smtp_email_address']}"
    pdf = big_pdf()
    with smtplib.SMTP(*daemon["smtp"], timeout=120) as c:
        c.ehlo()
        c.mail("bob@example.com")
        assert c.rcpt(rcpt)[0] == 530  # required: no login, no fax
        c.rset()
        ctx = ssl.create_default_context(cafile=daemon["cert"])
        ctx.check_hostname = False
        c.starttls(context=ctx)
        c.ehlo()
        c.login(box["smtp_email_address"], password)
        assert c.sendmail("bob@example.com", [rcpt],
                          mail("bob@example.com", rcpt, subject="Big one",
                               attachments=[(pdf, "application/pdf", "big.pdf")])) == {}
    with gevent.Timeout(180, AssertionError("no receipt\n" + "".join(daemon["lines"][-40:]))):
        _from, to, msg = sink.get(timeout=180)
    assert to == ["bob@example.com"] and msg["Subject"] == "Fax sent to +12025550123 (1 page)"
    store = PostgresStore(dsn, pool_size=2)
    try:
        with store.transaction() as cur:
            cur.execute("SELECT j.status, d.sha256 FROM smtplog s JOIN jobs j ON j.id = s.job_id "
                        "JOIN documents d ON d.job_id = j.id AND d.role = 'original'")
            rows = cur.fetchall()
    finally:
        store.close()
    assert [(r["status"], r["sha256"]) for r in rows] == [("completed", hashlib.sha256(pdf).hexdigest())]

"""The gateway under abuse, each attack reproduced against the real child process
(``python -m faxd.smtp`` supervised by SmtpGatewayService) on an ephemeral port, with the real
store and document pipeline, and real clients: smtplib, swaks, and a raw socket.

- idle sessions that only send NOOP: capped per client address, dropped at the idle timeout;
- SMTP AUTH (after STARTTLS) with a faxbox's credentials, and a faxbox that requires it;
- large mails (5 MB PDF) from two clients, and the line forms that used to get "500 Line too long";
- structures the parser cannot take: a permanent 5xx, never "451 try again";
- no refusal email to an address nobody vouched for (backscatter);
- a custom domain nobody granted takes no mail.
"""
from __future__ import annotations

import base64
import hashlib
import os
import smtplib
import socket
import ssl
import subprocess
import time

import gevent
import pytest

from faxd.config import Config
from faxd.smtp.service import SmtpGatewayService
from faxd.store import PostgresStore
from tests.conftest import create_database, drop_database
from tests.integration.smtp.helpers import big_pdf, mail, make_pdf

DOMAIN = "fax.test"
PASSWORD = "s3cret fax box password"
IDLE = 2.0


@pytest.fixture(scope="module")
def env(pg_admin_dsn, template_db, tmp_path_factory):
    name = f"faxd_smtp_abuse_{os.getpid()}"
    dsn = create_database(pg_admin_dsn, name, template=template_db)
    home = tmp_path_factory.mktemp("smtp-abuse")
    cert, key = str(home / "cert.pem"), str(home / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert], check=True, capture_output=True)
    store = PostgresStore(dsn, pool_size=4)
    acct = store.create_account("abuse tests")
    squatter = store.create_account("squatter")
    common = {"caller_id": "+12025550100", "smtp_permission_list": ["alice@example.com"]}
    secure = store.create_faxbox(acct.account_id, {"name": "secure", **common,
                                                    "smtp_auth": {"password": PASSWORD, "required": True}}, DOMAIN)
    open_box = store.create_faxbox(acct.account_id, {"name": "open", **common}, DOMAIN)
    # a faxbox claiming a domain the operator never granted (written past the API's check)
    squatted = store.create_faxbox(squatter.account_id, {"name": "squat", **common,
                                                         "custom_smtp_email_address": "fax.victim.example"}, DOMAIN)
    config = Config.load(path=None, env={}, home=str(home), database_url=dsn, smtp_listen="127.0.0.1:0",
                         smtp_domain=DOMAIN, smtp_max_sessions=20, smtp_max_sessions_per_ip=10,
                         smtp_idle_timeout=IDLE, smtp_tls_cert=cert, smtp_tls_key=key)
    service = SmtpGatewayService(config, dsn)
    service.start()
    yield {"store": store, "service": service, "secure": secure, "open": open_box, "squatted": squatted,
           "cert": cert, "account_id": acct.account_id}
    service.stop_intake()
    service.drain(5)
    service.stop()
    store.close()
    drop_database(pg_admin_dsn, name)


def _addr(box, number="12025550123") -> str:
    return f"{number}@{box['smtp_email_address']}"


def _client(env, source: str = "127.0.0.1") -> smtplib.SMTP:
    host, port = env["service"].address
    c = smtplib.SMTP(host, port, timeout=60, source_address=(source, 0))
    c.ehlo("client.example")
    return c


def _tls(env, c: smtplib.SMTP) -> None:
    ctx = ssl.create_default_context(cafile=env["cert"])
    ctx.check_hostname = False
    assert c.starttls(context=ctx)[0] == 220
    c.ehlo("client.example")


def _rows(env, sql, *params):
    with env["store"].transaction() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _counts(env):
    return _rows(env, "SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM documents) AS docs")[0]


def _last_log(env):
    return _rows(env, "SELECT * FROM smtplog ORDER BY created DESC, id DESC LIMIT 1")[0]


def _job_documents(env, job_id):
    return _rows(env, "SELECT role, content_type, filename, sha256, size_bytes FROM documents "
                      "WHERE job_id = %s ORDER BY role, seq", job_id)


def _queued_job(text: bytes) -> str:
    assert text.startswith(b"2.0.0 Queued as fax job "), text
    return text.decode().rpartition(" ")[2]


# --- sessions

def test_noop_sessions_from_one_address_do_not_lock_out_another_and_are_dropped_when_idle(env):
    host, port = env["service"].address
    banners, socks = [], []
    for _ in range(20):
        s = socket.create_connection((host, port), timeout=10, source_address=("127.0.0.1", 0))
        socks.append(s)
        banners.append(s.recv(200))
    accepted = [s for s, b in zip(socks, banners) if b.startswith(b"220 ")]
    refused = [b for b in banners if not b.startswith(b"220 ")]
    assert len(accepted) == 10 and all(b.startswith(b"421 4.3.2 Too many connections from your address")
                                       for b in refused), banners
    started = time.monotonic()

    def keep_nooping(s):
        s.sendall(b"EHLO idler.example\r\n")
        got = b""
        while True:  # NOOP every 0.3 s until the gateway hangs up
            try:
                s.sendall(b"NOOP\r\n")
                data = s.recv(4096)
            except OSError:
                break
            if not data:
                break
            got += data
            gevent.sleep(0.3)
        return got, time.monotonic() - started

    idlers = [gevent.spawn(keep_nooping, s) for s in accepted]
    # meanwhile another address gets in and is served
    with _client(env, source="127.0.0.2") as c:
        assert c.noop()[0] == 250
        c.mail("alice@example.com")
        assert c.rcpt(_addr(env["open"]))[0] == 250
    gevent.joinall(idlers, timeout=IDLE + 10)
    for g in idlers:
        assert g.ready(), "a NOOP-ing session was still open long after the idle timeout"
        got, lasted = g.value
        assert got.count(b"250 OK") >= 3  # NOOP was answered, and did not keep the session open
        assert b"421 4.4.2 Idle for too long" in got
        assert IDLE - 0.5 <= lasted <= IDLE + 5, lasted  # NOOP every 0.3 s did not extend it
    for s in socks:
        s.close()


def test_a_session_making_progress_is_not_idle(env):
    with _client(env) as c:
        for _ in range(4):  # each RCPT is progress: 4 x 0.7 s > IDLE
            gevent.sleep(0.7)
            c.mail("alice@example.com")
            assert c.rcpt(_addr(env["open"]))[0] == 250
            c.rset()


# --- AUTH

def test_a_5mb_pdf_over_starttls_and_auth_becomes_a_job_with_that_document(env):
    pdf = big_pdf()
    assert len(pdf) > 5 * 1024 * 1024
    rcpt = _addr(env["secure"], "12025550181")
    with _client(env) as c:
        assert not c.has_extn("auth")  # never offered in clear
        _tls(env, c)
        assert c.has_extn("auth") and set(c.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN"}
        c.login(env["secure"]["smtp_email_address"], PASSWORD)
        # MAIL FROM is whatever the client says: the login, not the address, lets it in
        c.mail("nobody-listed@elsewhere.example")
        assert c.rcpt(rcpt)[0] == 250
        code, text = c.data(mail("nobody-listed@elsewhere.example", rcpt, subject="Big",
                                 attachments=[(pdf, "application/pdf", "big.pdf")]))
    assert code == 250, text
    job_id = _queued_job(text)
    docs = _job_documents(env, job_id)
    originals = [d for d in docs if d["role"] == "original"]
    assert [(d["filename"], d["content_type"], d["sha256"]) for d in originals] == \
        [("big.pdf", "application/pdf", hashlib.sha256(pdf).hexdigest())]
    assert {d["role"] for d in docs} == {"original", "fax_tiff", "pdf"}
    job = _rows(env, "SELECT status, to_number, page_count, faxbox_id FROM jobs WHERE id = %s", job_id)[0]
    assert (job["status"], job["to_number"], job["page_count"], job["faxbox_id"]) == \
        ("pending", "+12025550181", 1, env["secure"]["id"])


def test_swaks_sends_the_5mb_pdf_with_starttls_and_auth_login(env, tmp_path):
    pdf = big_pdf()
    (tmp_path / "big.pdf").write_bytes(pdf)
    host, port = env["service"].address
    rcpt = _addr(env["secure"], "12025550182")
    proc = subprocess.run(["swaks", "--server", f"{host}:{port}", "--tls", "--auth", "LOGIN",
                           "--auth-user", env["secure"]["smtp_email_address"], "--auth-password", PASSWORD,
                           "--from", "someone@example.net", "--to", rcpt, "--header", "Subject: swaks",
                           "--attach-type", "application/pdf", "--attach-name", "swaks.pdf",
                           "--attach", f"@{tmp_path / 'big.pdf'}", "--timeout", "120"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    job_id = [l for l in proc.stdout.splitlines() if "Queued as fax job" in l][0].rpartition(" ")[2]
    originals = [d for d in _job_documents(env, job_id) if d["role"] == "original"]
    assert [(d["filename"], d["sha256"]) for d in originals] == [("swaks.pdf", hashlib.sha256(pdf).hexdigest())]


def test_unauthenticated_mail_to_a_faxbox_that_requires_auth_is_refused(env):
    before = _counts(env)
    with _client(env) as c:
        c.mail("alice@example.com")  # on the permission list: not enough, the list is forgeable
        code, text = c.rcpt(_addr(env["secure"]))
    assert code == 530 and text.startswith(b"5.7.0 Authentication required")
    log = _last_log(env)
    assert log["errors"][0].startswith("auth_required: ") and log["faxbox_id"] == env["secure"]["id"]
    assert env["store"].list_notifications(smtplog_id=log["id"]) == []  # nothing to a forgeable sender
    with _client(env) as c:  # logged in with another faxbox's credentials: the same
        _tls(env, c)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login(env["open"]["smtp_email_address"], PASSWORD)  # the open faxbox has no password
    assert _counts(env) == before


def test_auth_is_refused_in_clear_and_after_three_bad_passwords(env):
    with _client(env) as c:
        code, text = c.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0" + env["secure"]["smtp_email_address"].encode() + b"\0" + PASSWORD.encode()).decode())
        assert code == 538  # RFC 4954: encryption required; the password never crossed in clear
    with _client(env) as c:
        _tls(env, c)
        c.user, c.password = env["secure"]["smtp_email_address"], "wrong password!!"
        for _ in range(2):
            with pytest.raises(smtplib.SMTPAuthenticationError) as e:
                c.auth("PLAIN", c.auth_plain)
            assert e.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.auth("PLAIN", c.auth_plain)
        assert e.value.smtp_code == 421
        with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
            c.noop()


# --- large mails and long lines

def _raw_send(env, message: bytes, rcpt: str, sender: str = "alice@example.com") -> bytes:
    """A raw SMTP client: commands one by one, then the whole DATA in one write (no BDAT)."""
    host, port = env["service"].address
    with socket.create_connection((host, port), timeout=120) as s:
        f = s.makefile("rb")

        def reply():
            lines = []
            while True:
                line = f.readline()
                lines.append(line)
                if line[3:4] != b"-":
                    return b"".join(lines)

        assert reply().startswith(b"220")
        for cmd in (b"EHLO raw.example", b"MAIL FROM:<" + sender.encode() + b">", b"RCPT TO:<" + rcpt.encode() + b">",
                    b"DATA"):
            s.sendall(cmd + b"\r\n")
            r = reply()
            assert r[:1] in (b"2", b"3"), (cmd, r)
        s.sendall(message + b"\r\n.\r\n")
        return reply()


def test_base64_without_line_breaks_in_one_big_write(env):
    pdf = big_pdf(0.05)
    rcpt = _addr(env["open"], "12025550183")
    body = base64.b64encode(pdf)  # one line, far over RFC 5321's 1000 octets
    assert len(body) > 8192
    message = (b"From: alice@example.com\r\nTo: " + rcpt.encode() + b"\r\nSubject: unwrapped\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
               b"--zz\r\nContent-Type: application/pdf; name=u.pdf\r\nContent-Disposition: attachment; filename=u.pdf\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n--zz--")
    r = _raw_send(env, message, rcpt)
    assert r.startswith(b"250 2.0.0 Queued as fax job"), r
    job_id = r.decode().split()[-1]
    assert [d["sha256"] for d in _job_documents(env, job_id) if d["role"] == "original"] == \
        [hashlib.sha256(pdf).hexdigest()]


def test_a_mail_with_bare_lf_line_ends_in_one_big_write(env):
    pdf = make_pdf("bare LF")
    rcpt = _addr(env["open"], "12025550184")
    raw = mail("alice@example.com", rcpt, subject="LF", attachments=[(pdf, "application/pdf", "lf.pdf")])
    r = _raw_send(env, raw.replace(b"\r\n", b"\n"), rcpt)
    assert r.startswith(b"250 2.0.0 Queued as fax job"), r


def test_a_line_longer_than_the_size_limit_is_a_clear_552(env):
    rcpt = _addr(env["open"], "12025550185")
    limit = 25 * 1024 * 1024
    r = _raw_send(env, b"Subject: x\r\n\r\n" + b"A" * (limit + 10), rcpt)
    assert r.startswith(b"552 5.3.4 Message too large"), r[:200]


# --- unparseable structure: permanent, not "try again"

def _nested(depth: int) -> bytes:
    head = b"From: alice@example.com\r\nSubject: nest\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    parts = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i) for i in range(1, depth))
    return head + parts + b"--b%d\r\nContent-Type: application/pdf\r\n\r\n%%PDF-1.4\r\n" % (depth - 1)


@pytest.mark.parametrize("depth", [2000, 150])
def test_a_deeply_nested_multipart_gets_a_permanent_5xx(env, depth):
    before = _counts(env)
    with _client(env) as c:
        c.mail("alice@example.com")
        assert c.rcpt(_addr(env["open"]))[0] == 250
        code, text = c.data(_nested(depth))
        assert c.noop()[0] == 250  # the session carries on
    assert code == 554 and text.startswith(b"5.6.0 The message"), (code, text)
    assert _counts(env) == before
    assert _last_log(env)["errors"][0].startswith("unparseable: ")


def test_a_nul_in_an_attachment_name_is_not_a_temporary_failure(env):
    rcpt = _addr(env["open"], "12025550186")
    raw = mail("alice@example.com", rcpt, attachments=[(make_pdf(), "application/pdf", "a.pdf")])
    raw = raw.replace(b'filename="a.pdf"', b'filename="a\x00b.pdf"')
    with _client(env) as c:
        assert c.sendmail("alice@example.com", [rcpt], raw) == {}
    rows = _rows(env, "SELECT d.filename FROM documents d JOIN jobs j ON j.id = d.job_id "
                      "WHERE j.to_number = '+12025550186' AND d.role = 'original'")
    assert [r["filename"] for r in rows] == ["ab.pdf"]


# --- backscatter

def test_size_refusal_of_an_unknown_sender_queues_no_email(env):
    with _client(env) as c:
        code, text = c.mail("forged-victim@example.org", ["SIZE=99999999"])
    assert code == 552 and text.startswith(b"5.3.4 Message too large")
    log = _last_log(env)
    assert log["mail_from"] == "forged-victim@example.org" and log["account_id"] is None
    assert env["store"].list_notifications(smtplog_id=log["id"]) == []
    assert _rows(env, "SELECT count(*) AS n FROM notifications WHERE target = 'forged-victim@example.org'")[0]["n"] == 0


def test_a_listed_sender_still_hears_why_its_mail_was_refused(env):
    with _client(env) as c:
        c.mail("alice@example.com")
        assert c.rcpt(_addr(env["open"]))[0] == 250
        code, _ = c.data(mail("alice@example.com", _addr(env["open"]), body=" \n"))  # nothing to fax
    assert code == 554
    notes = env["store"].list_notifications(smtplog_id=_last_log(env)["id"])
    assert [(n["channel"], n["target"]) for n in notes] == [("email", "alice@example.com")]


# --- custom domains

def test_a_custom_domain_nobody_granted_takes_no_mail(env):
    with _client(env) as c:
        c.mail("alice@example.com")
        code, text = c.rcpt("12025550123@fax.victim.example")
    assert code == 550 and text.startswith(b"5.1.1 No faxbox at 'fax.victim.example'")
    assert _last_log(env)["account_id"] is None  # not in the squatter's smtplog either


def test_control_characters_in_an_address_are_refused_for_good(env):
    host, port = env["service"].address
    with socket.create_connection((host, port), timeout=30) as s:
        f = s.makefile("rb")

        def reply():
            lines = []
            while True:
                lines.append(f.readline())
                if lines[-1][3:4] != b"-":
                    return b"".join(lines)

        reply()
        got = []
        for cmd in (b"EHLO raw.example", b"MAIL FROM:<al\x00ice@example.com>",
                    b"RCPT TO:<" + _addr(env["open"]).encode() + b">"):
            s.sendall(cmd + b"\r\n")
            got.append(reply())
    assert got[2] == b"553 5.1.7 An address contains control characters\r\n", got
    log = _last_log(env)
    assert log["mail_from"] == "alice@example.com" and log["errors"][0].startswith("invalid_address: ")

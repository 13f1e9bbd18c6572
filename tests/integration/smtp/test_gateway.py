"""The email-to-fax gateway as users meet it: a real smtplib client against the real child
process (``python -m faxd.smtp``, supervised by SmtpGatewayService) on an ephemeral port,
with the real store, document detection and Ghostscript conversion."""
from __future__ import annotations

import os
import signal
import smtplib
import ssl
import subprocess

import gevent
import pytest

from faxd.config import Config
from faxd.smtp.service import SmtpGatewayService
from faxd.store import PostgresStore
from tests.conftest import create_database, drop_database
from tests.integration.smtp.helpers import mail, make_pdf, make_png

DOMAIN = "fax.test"


@pytest.fixture(scope="module")
def env(pg_admin_dsn, template_db, tmp_path_factory):
    name = f"faxd_smtp_{os.getpid()}"
    dsn = create_database(pg_admin_dsn, name, template=template_db)
    home = tmp_path_factory.mktemp("smtp-home")
    store = PostgresStore(dsn, pool_size=4)
    acct = store.create_account("smtp tests")
    config = Config.load(path=None, env={}, home=str(home), database_url=dsn, smtp_listen="127.0.0.1:0",
                         smtp_domain=DOMAIN, smtp_max_bytes=400_000, smtp_max_sessions=3,
                         smtp_custom_domains=f"fax.example.org={acct.account_id}")
    # This module sends more than a minute's submission rate (60 recipients) through one
    # account; the limits have their own tests (test_limits.py).
    store.set_fax_policy(acct.account_id, {"submit_rate_limit": -1})
    box = store.create_faxbox(acct.account_id, {
        "name": "Front desk", "caller_id": "+12025550100", "caller_name": "ACME",
        "smtp_permission_list": ["alice@example.com", "partner.example"],
        "custom_smtp_email_address": "Fax.Example.ORG", "fax_timezone": "America/New_York",
        "numbers": ["+12025550100"],
    }, DOMAIN)
    service = SmtpGatewayService(config, dsn)
    service.start()
    yield {"config": config, "store": store, "service": service, "box": box, "account_id": acct.account_id}
    service.stop_intake()
    service.drain(5)
    service.stop()
    store.close()
    drop_database(pg_admin_dsn, name)


def _client(env) -> smtplib.SMTP:
    host, port = env["service"].address
    c = smtplib.SMTP(host, port, timeout=30)
    c.ehlo("client.example")
    return c


def _box_address(env, number="12025550123") -> str:
    return f"{number}@{env['box']['smtp_email_address']}"


def _rows(env, sql, *params):
    with env["store"].transaction() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _counts(env):
    return _rows(env, "SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM documents) AS docs")[0]


def _last_log(env):
    return _rows(env, "SELECT * FROM smtplog ORDER BY created DESC, id DESC LIMIT 1")[0]


def _data_refused(env, sender, rcpt, message):
    before = _counts(env)
    with _client(env) as c:
        c.mail(sender)
        code, _ = c.rcpt(rcpt)
        assert code == 250
        code, text = c.data(message)
    assert _counts(env) == before, "a refused email must not create a job or a document"
    return code, text.decode()


def test_a_pdf_and_an_image_become_one_job_in_order(env):
    pdf, png = make_pdf("page one"), make_png()
    msg = mail("Alice@Example.com", _box_address(env), subject="Invoice 42",
               attachments=[(pdf, "application/pdf", "invoice.pdf"), (png, "image/png", "stamp.png")])
    with _client(env) as c:
        refused = c.sendmail("Alice@Example.com", [_box_address(env)], msg)
    assert refused == {}
    log = _last_log(env)
    assert log["smtp_code"] == 250 and log["job_id"] and log["errors"] == []
    assert log["original_number"] == "12025550123" and log["translated_number"] == "+12025550123"
    assert log["faxbox_id"] == env["box"]["id"] and log["subject"] == "Invoice 42"
    assert [(a["filename"], a["content_type"], a["accepted"]) for a in log["attachments"]] == [
        ("invoice.pdf", "application/pdf", True), ("stamp.png", "image/png", True)]
    job = _rows(env, "SELECT * FROM jobs WHERE id = %s", log["job_id"])[0]
    # converted once, by the gateway: the job is ready to dial, with its fax TIFF and PDF
    assert (job["source"], job["status"], job["to_number"], job["from_number"], job["page_count"]) == \
        ("smtp", "pending", "+12025550123", "+12025550100", 2)
    tiff = env["store"].get_document(job_id=job["id"], role="fax_tiff")
    assert tiff["pages"] == 2 and tiff["width"] == 1728 and tiff["data"][:4] in (b"II*\x00", b"MM\x00*")
    assert env["store"].get_document(job_id=job["id"], role="pdf")["data"].startswith(b"%PDF")
    assert job["faxbox_id"] == env["box"]["id"] and job["account_id"] == env["account_id"]
    assert job["doc"]["subject"] == "Invoice 42"
    assert job["doc"]["notifications"]["email"]["send_to"] == ["Alice@Example.com"]
    docs = env["store"].list_documents(job_id=job["id"], role="original")
    assert [(d["seq"], d["filename"], d["content_type"]) for d in docs] == [
        (0, "invoice.pdf", "application/pdf"), (1, "stamp.png", "image/png")]
    assert env["store"].get_document(job_id=job["id"], role="original", seq=0)["data"] == pdf


def test_odd_and_uppercase_addresses_and_the_custom_domain(env):
    box = env["box"]["smtp_email_address"].upper()
    rcpts = ['"+1 (202) 555-0124"@' + box, "1-202-555-0125@" + box.title(), "2025550126@fax.example.org"]
    msg = mail("someone@Mail.Partner.Example", rcpts, attachments=[(make_pdf(), "application/pdf", "a.pdf")])
    with _client(env) as c:
        assert c.sendmail("someone@Mail.Partner.Example", rcpts, msg) == {}
    rows = _rows(env, "SELECT s.rcpt_to, j.to_number FROM smtplog s JOIN jobs j ON j.id = s.job_id "
                      "WHERE s.rcpt_to = ANY(%s) ORDER BY j.to_number", rcpts)
    assert [r["to_number"] for r in rows] == ["+12025550124", "+12025550125", "+12025550126"]


def test_unknown_faxbox_is_refused_at_rcpt_and_logged(env):
    before = _counts(env)
    with _client(env) as c:
        c.mail("alice@example.com")
        code, text = c.rcpt("12025550123@nobox.fax.test")
    assert code == 550 and b"5.1.1 No faxbox at 'nobox.fax.test'" in text
    log = _last_log(env)
    assert (log["rcpt_to"], log["smtp_code"], log["faxbox_id"]) == ("12025550123@nobox.fax.test", 550, None)
    assert log["errors"][0].startswith("unknown_faxbox: ")
    assert _counts(env) == before


def test_sender_not_allowed_is_refused_and_logged_without_backscatter(env):
    with _client(env) as c:
        c.mail("mallory@evil.example")
        code, text = c.rcpt(_box_address(env))
    assert code == 550 and b"5.7.1 Sender <mallory@evil.example> may not send faxes" in text
    log = _last_log(env)
    assert log["faxbox_id"] == env["box"]["id"] and log["translated_number"] == "+12025550123"
    assert log["errors"][0].startswith("sender_not_allowed: ")
    assert env["store"].list_notifications(smtplog_id=log["id"]) == []


def test_a_local_part_that_is_not_a_number(env):
    with _client(env) as c:
        c.mail("alice@example.com")
        code, text = c.rcpt(_box_address(env, "sales"))
        assert code == 553 and b"'sales' is not a fax number" in text
        code, text = c.rcpt(_box_address(env, "123"))
        assert code == 553 and b"not a valid fax number: too short" in text


def test_no_attachment_and_no_text(env):
    code, text = _data_refused(env, "alice@example.com", _box_address(env),
                               mail("alice@example.com", _box_address(env), subject="forgot it", body=" \n"))
    assert code == 554 and text.startswith("5.6.1 No attachment")
    log = _last_log(env)
    assert (log["smtp_code"], log["job_id"], log["subject"]) == (554, None, "forgot it")
    assert log["errors"][0].startswith("no_attachment: ")
    # the sender is allowed, so it hears why (queued with the log row, delivered by the notifier)
    notes = env["store"].list_notifications(smtplog_id=log["id"])
    assert [(n["channel"], n["target"], n["event"]) for n in notes] == [("email", "alice@example.com", "smtp_refused")]


def test_only_unusable_attachments(env):
    exe = b"MZ\x90\x00" + os.urandom(200)
    code, text = _data_refused(env, "alice@example.com", _box_address(env), mail(
        "alice@example.com", _box_address(env), attachments=[(exe, "application/octet-stream", "setup.exe")]))
    assert code == 554 and "5.6.1 No usable attachment" in text and "setup.exe" in text
    log = _last_log(env)
    assert log["attachments"][0]["filename"] == "setup.exe" and log["attachments"][0]["accepted"] is False


def test_a_broken_pdf_is_refused_with_the_conversion_error(env):
    broken = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" + b"\x00garbage" * 50
    code, text = _data_refused(env, "alice@example.com", _box_address(env), mail(
        "alice@example.com", _box_address(env),
        attachments=[(make_pdf(), "application/pdf", "good.pdf"), (broken, "application/pdf", "broken.pdf")]))
    assert code == 554 and text.startswith("5.6.0 Attachment") and "could not be converted" in text
    log = _last_log(env)
    assert log["errors"][0].startswith("conversion_failed: ") and log["job_id"] is None


def test_too_large(env):
    big = os.urandom(450_000)
    code, text = _data_refused(env, "alice@example.com", _box_address(env), mail(
        "alice@example.com", _box_address(env), attachments=[(big, "application/pdf", "huge.pdf")]))
    assert code == 552 and text == "5.3.4 Message too large: this gateway accepts at most 400000 bytes"
    log = _last_log(env)
    assert log["errors"][0].startswith("too_large: ") and log["rcpt_to"] == _box_address(env)


def test_too_large_announced_with_size(env):
    with _client(env) as c:
        assert c.has_extn("size") and c.esmtp_features["size"] == "400000"
        code, text = c.mail("alice@example.com", ["SIZE=999999"])
    assert code == 552 and b"5.3.4 Message too large" in text
    assert _last_log(env)["mail_from"] == "alice@example.com"


def test_sessions_over_the_cap_get_421(env):
    clients = [_client(env) for _ in range(3)]
    try:
        host, port = env["service"].address
        with pytest.raises(smtplib.SMTPConnectError) as e:
            smtplib.SMTP(host, port, timeout=10)
        assert e.value.smtp_code == 421
    finally:
        for c in clients:
            c.quit()
    with _client(env) as c:  # free again
        assert c.noop()[0] == 250


def test_the_supervisor_restarts_a_dead_gateway(env):
    service = env["service"]
    old_pid = service.pid
    restarts = service.restarts
    os.kill(old_pid, signal.SIGKILL)
    with gevent.Timeout(15):
        while service.restarts == restarts:
            gevent.sleep(0.05)
    assert service.pid != old_pid
    with _client(env) as c:
        assert c.noop()[0] == 250


def test_starttls_when_a_certificate_is_configured(env, tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    config = env["config"].replace(smtp_tls_cert=cert, smtp_tls_key=key)
    service = SmtpGatewayService(config, config.database_url)
    service.start()
    try:
        host, port = service.address
        with smtplib.SMTP(host, port, timeout=30) as c:
            c.ehlo()
            assert c.has_extn("starttls")
            ctx = ssl.create_default_context(cafile=cert)
            ctx.check_hostname = False
            assert c.starttls(context=ctx)[0] == 220
            c.ehlo()
            msg = mail("alice@example.com", _box_address(env, "12025550177"),
                       attachments=[(make_pdf(), "application/pdf", "tls.pdf")])
            assert c.sendmail("alice@example.com", [_box_address(env, "12025550177")], msg) == {}
        assert _rows(env, "SELECT count(*) AS n FROM jobs WHERE to_number = '+12025550177'")[0]["n"] == 1
    finally:
        service.stop_intake()
        service.stop()


def test_garbage_instead_of_a_mail_is_refused_cleanly(env):
    junk = b"\r\n".join(os.urandom(60).replace(b"\r", b"").replace(b"\n", b"") for _ in range(200))
    code, text = _data_refused(env, "alice@example.com", _box_address(env), junk)
    assert code == 554 and text.startswith("5.6.1")


def test_a_mime_bomb_of_empty_parts_is_refused_cleanly(env):
    parts = "".join(f"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=p{i}.pdf\r\n\r\n\r\n"
                    for i in range(300))
    raw = ("From: alice@example.com\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + "--b--\r\n").encode()
    code, text = _data_refused(env, "alice@example.com", _box_address(env), raw)
    assert code == 554 and text.startswith("5.6.1 No usable attachment")
    log = _last_log(env)
    assert len(log["attachments"]) == 300 and all(a["error"] == "empty attachment" for a in log["attachments"])


def test_a_faxbox_without_caller_id_or_number_cannot_send(env):
    bare = env["store"].create_faxbox(env["account_id"], {"name": "bare", "smtp_permission_list": ["alice@example.com"]},
                                      DOMAIN)
    with _client(env) as c:
        c.mail("alice@example.com")
        code, text = c.rcpt("12025550123@" + bare["smtp_email_address"])
    assert code == 550 and b"5.7.0 This faxbox has no caller ID" in text
    assert _last_log(env)["errors"][0].startswith("faxbox_without_caller_id: ")


def test_recipients_over_the_cap_get_452(env):
    from faxd.smtp.server import MAX_RECIPIENTS
    with _client(env) as c:
        c.mail("alice@example.com")
        codes = [c.rcpt(_box_address(env, f"1202555{1000 + i}"))[0] for i in range(MAX_RECIPIENTS + 1)]
        c.rset()
    assert codes == [250] * MAX_RECIPIENTS + [452]


def _with_message_id(message: bytes, message_id: str) -> bytes:
    return f"Message-ID: {message_id}\r\n".encode() + message


def test_the_same_email_sent_again_queues_one_fax(env):
    """A client that re-sends after a timeout (same Message-ID, same recipient) sends one fax."""
    pdf = make_pdf("sent twice")
    msg = _with_message_id(mail("alice@example.com", _box_address(env, "12025550140"),
                                attachments=[(pdf, "application/pdf", "twice.pdf")]), "<resend-1@example.com>")
    with _client(env) as c:
        assert c.sendmail("alice@example.com", [_box_address(env, "12025550140")], msg) == {}
    first = _last_log(env)
    before = _counts(env)
    with _client(env) as c:
        c.mail("alice@example.com")
        c.rcpt(_box_address(env, "12025550140"))
        code, text = c.data(msg)
    assert code == 250 and first["job_id"] in text.decode()
    assert _counts(env) == before, "a re-sent email must not create a job or a document"
    again = _last_log(env)
    assert again["id"] != first["id"] and again["job_id"] == first["job_id"]
    assert "Already queued" in again["smtp_text"]
    # Another address in the same mail is a fax of its own.
    with _client(env) as c:
        assert c.sendmail("alice@example.com", [_box_address(env, "12025550141")],
                          _with_message_id(mail("alice@example.com", _box_address(env, "12025550141"),
                                                attachments=[(pdf, "application/pdf", "twice.pdf")]),
                                           "<resend-1@example.com>")) == {}
    assert _last_log(env)["job_id"] != first["job_id"]


def test_a_message_id_reused_for_other_content_is_refused(env):
    rcpt = _box_address(env, "12025550142")
    one = _with_message_id(mail("alice@example.com", rcpt, attachments=[(make_pdf("one"), "application/pdf", "a.pdf")]),
                           "<reused@example.com>")
    with _client(env) as c:
        assert c.sendmail("alice@example.com", [rcpt], one) == {}
    two = _with_message_id(mail("alice@example.com", rcpt, attachments=[(make_pdf("two"), "application/pdf", "a.pdf")]),
                           "<reused@example.com>")
    code, text = _data_refused(env, "alice@example.com", rcpt, two)
    assert code == 554 and "Message-ID <reused@example.com> was already used" in text
    assert _last_log(env)["smtp_code"] == 554

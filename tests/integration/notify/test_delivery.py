"""Notification delivery end to end: rows queued in the change's transaction, delivered by the
real NotificationService to a real SMTP sink (aiosmtpd) and real HTTP receivers on loopback."""
from __future__ import annotations

import json
import os
import socket

import pytest
from psycopg2.extras import Json

from faxd.notify import signing
from faxd.notify.service import NotificationService, backoff
from tests.integration.smtp.helpers import HttpReceiver, SmtpSink, make_pdf

SECRET = "test-webhook-secret"


@pytest.fixture
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture
def receiver():
    r = HttpReceiver().start()
    yield r
    r.stop()


def _config(config, **kw):
    base = dict(fetch_allow=("127.0.0.1/32",), notify_retry_base=0.05, notify_retry_max=0.2,
                webhook_secret=SECRET, notify_from="faxd@fax.test")
    base.update(kw)
    return config.replace(**base)


@pytest.fixture
def running():
    services = []

    def start(config, store):
        s = NotificationService(config, store)
        s.start()
        services.append(s)
        return s
    yield start
    for s in services:
        s.stop_intake()
        s.stop()


def _faxbox(store, notifications, **extra):
    acct = store.create_account("notify tests")
    doc = {"name": "Front desk", "caller_id": "+12025550100", "fax_timezone": "America/New_York",
           "notifications": notifications, "numbers": ["+12025550100"]}
    doc.update(extra)
    return acct.account_id, store.create_faxbox(acct.account_id, doc, "fax.test")


def _completed_job(store, account_id, faxbox_id, pdf: bytes | None, *, status="completed", doc_extra=None):
    doc = {"to_number": "+12025550123", "from_number": "+12025550100", "retries": 1, "subject": "Q3 report"}
    doc.update(doc_extra or {})
    job = store.enqueue_job(account_id, doc, faxbox_id=faxbox_id)
    tx = {"success": status == "completed", "pages_sent": 2, "fax_speed": 14400, "fax_receiver_id": "FAR END",
          "fax_error_correction": True, "error_message": "" if status == "completed" else "Busy signal"}
    with store.transaction() as cur:
        cur.execute("UPDATE jobs SET status = %s, tx_result = %s, page_count = 2, attempts = 1, "
                    "delivered = now() WHERE id = %s", (status, Json(tx), job["id"]))
        if pdf is not None:
            store.add_document(account_id, job_id=job["id"], role="pdf", content_type="application/pdf",
                               data=pdf, cur=cur)
    return job["id"]


def _queue(store, event, **ids_):
    with store.transaction() as cur:
        return store.queue_notifications(cur, event, **ids_)


def _row(store, notification_id):
    with store.transaction() as cur:
        cur.execute("SELECT * FROM notifications WHERE id = %s", (notification_id,))
        return cur.fetchone()


def test_outbound_success_email_carries_the_sent_pdf(store, config, sink, running):
    account_id, box = _faxbox(store, {"outbound": {"email": {"send_to": ["ops@example.com"]}}})
    pdf = make_pdf("sent document")
    job_id = _completed_job(store, account_id, box["id"], pdf,
                            doc_extra={"notifications": {"email": {"send_to": "alice@example.com"}}})
    rows = _queue(store, "outbound_success", job_id=job_id)
    assert sorted(r["target"] for r in rows) == ["alice@example.com", "ops@example.com"]
    service = running(_config(config, smtp_relay=sink.address), store)
    got = sorted((sink.get(), sink.get()), key=lambda m: m[1])
    for (mail_from, rcpts, msg), to in zip(got, ["alice@example.com", "ops@example.com"]):
        assert mail_from == "faxd@fax.test" and rcpts == [to]
        assert msg["Subject"] == "Fax sent to +12025550123 (2 pages)"
        assert msg["Auto-Submitted"] == "auto-generated"
        body = msg.get_body(("plain",)).get_content()
        assert "14400 bps" in body and "FAR END" in body and "Q3 report" in body
        assert ("EST" in body) or ("EDT" in body)  # the faxbox's time zone
        [att] = list(msg.iter_attachments())
        assert att.get_content_type() == "application/pdf"
        assert att.get_filename().startswith("fax-to-+12025550123-") and att.get_filename().endswith(".pdf")
        assert att.get_content() == pdf
    service.drain(5)
    assert {_row(store, r["id"])["status"] for r in rows} == {"delivered"}


def test_final_failure_email_gives_the_reason(store, config, sink, running):
    account_id, box = _faxbox(store, {"outbound": {"email": {"send_to": ["ops@example.com"]}}})
    job_id = _completed_job(store, account_id, box["id"], None, status="failed")
    _queue(store, "outbound_failure", job_id=job_id)
    running(_config(config, smtp_relay=sink.address), store)
    _from, _to, msg = sink.get()
    assert msg["Subject"] == "Fax to +12025550123 failed: Busy signal"
    assert "could not be delivered: Busy signal" in msg.get_body(("plain",)).get_content()


def test_an_inbound_fax_is_emailed_with_its_pdf(store, config, sink, running):
    account_id, box = _faxbox(store, {"inbound": {"email": {"send_to": ["inbox@example.com"]}}})
    pdf = make_pdf("received")
    inbox_id = store.save_reception(
        incoming_id=None, account_id=account_id, faxbox_id=box["id"], call_id="call-1",
        from_number="+12025550199", from_name="Sender", to_number="+12025550100",
        rx_result={"success": True, "pages_sent": 1, "fax_speed": 9600, "fax_receiver_id": "CALLER"},
        success=True, pages=1, tiff=b"II*\x00fake-tiff", pdf=pdf)
    notes = store.list_notifications(inbox_id=inbox_id)
    assert [(n["channel"], n["target"], n["event"]) for n in notes] == \
        [("email", "inbox@example.com", "inbound_success")]
    running(_config(config, smtp_relay=sink.address), store)
    _from, rcpts, msg = sink.get()
    assert rcpts == ["inbox@example.com"]
    assert msg["Subject"] == "Fax received from +12025550199 (1 page)"
    [att] = list(msg.iter_attachments())
    assert att.get_content() == pdf and att.get_filename().startswith("fax-from-+12025550199-")


def test_webhooks_are_signed_retried_and_keep_their_event_id(store, config, running):
    receiver = HttpReceiver(statuses=[500, 503]).start()
    try:
        account_id, box = _faxbox(store, {"outbound": {"callback": {"url": receiver.url("/fax")}}})
        job_id = _completed_job(store, account_id, box["id"], None)
        [row] = _queue(store, "outbound_success", job_id=job_id)
        service = running(_config(config), store)
        tries = [receiver.get() for _ in range(3)]
        assert [t["status"] for t in tries] == [500, 503, 200]
        event_ids = {t["headers"]["X-Faxd-Event-Id"] for t in tries}
        assert event_ids == {row["event_id"]}, "a retry carries the same event id"
        assert len({t["body"] for t in tries}) == 1
        for t in tries:
            assert t["method"] == "POST" and t["path"] == "/fax"
            assert signing.verify(SECRET, t["headers"]["X-Faxd-Signature"], t["body"])
            assert not signing.verify("wrong", t["headers"]["X-Faxd-Signature"], t["body"])
        body = json.loads(tries[0]["body"])
        assert body["event"] == "outbound_success" and body["event_id"] == row["event_id"]
        assert body["fax_id"] == job_id and body["tx_result"]["pages_sent"] == 2
        assert "_delivery" not in body
        service.drain(5)
        final = _row(store, row["id"])
        assert (final["status"], final["attempts"]) == ("delivered", 3)
        # a later event about the same fax is a different event
        with store.transaction() as cur:
            cur.execute("UPDATE jobs SET status = 'processing' WHERE id = %s", (job_id,))
        [row2] = _queue(store, "outbound_processing", job_id=job_id)
        assert receiver.get()["headers"]["X-Faxd-Event-Id"] == row2["event_id"] != row["event_id"]
    finally:
        receiver.stop()


def test_webhook_to_a_private_address_is_refused_unless_allowed(store, config, receiver):
    account_id, box = _faxbox(store, {"outbound": {"callback": {"url": receiver.url()}}})
    job_id = _completed_job(store, account_id, box["id"], None)
    [row] = _queue(store, "outbound_success", job_id=job_id)
    service = NotificationService(_config(config, fetch_allow=()), store)
    [claimed] = store.claim_due_notifications()
    assert service.deliver_one(claimed) == "failed"
    assert "127.0.0.1" in _row(store, row["id"])["last_error"]
    assert receiver.requests.empty()


def test_a_relay_that_is_down_delays_notifications_without_losing_them(store, config, running):
    with socket.socket() as s:  # a port with nothing listening (yet)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    account_id, box = _faxbox(store, {"outbound": {"email": {"send_to": ["ops@example.com"]}}})
    job_id = _completed_job(store, account_id, box["id"], make_pdf())
    [row] = _queue(store, "outbound_success", job_id=job_id)
    cfg = _config(config, smtp_relay=f"127.0.0.1:{port}")
    service = NotificationService(cfg, store)
    [claimed] = store.claim_due_notifications()
    assert service.deliver_one(claimed) == "pending"
    after = _row(store, row["id"])
    assert after["status"] == "pending" and after["attempts"] == 1
    assert "unavailable" in after["last_error"]
    sink = SmtpSink(port=port).start()  # the relay comes back
    try:
        running(cfg, store)
        _from, rcpts, msg = sink.get()
        assert rcpts == ["ops@example.com"] and msg["X-Faxd-Event-Id"] == row["event_id"]
    finally:
        sink.stop()


def test_without_a_relay_email_is_kept_as_undeliverable(store, config):
    account_id, box = _faxbox(store, {"outbound": {"email": {"send_to": ["ops@example.com"]}}})
    job_id = _completed_job(store, account_id, box["id"], None)
    [row] = _queue(store, "outbound_success", job_id=job_id)
    service = NotificationService(_config(config, smtp_relay=None), store)
    [claimed] = store.claim_due_notifications()
    assert service.deliver_one(claimed) == "undeliverable"
    final = _row(store, row["id"])
    assert final["status"] == "undeliverable" and "FAXD_SMTP_RELAY" in final["last_error"]


def test_sms_through_the_http_provider(store, config, receiver, running):
    account_id, box = _faxbox(store, {"outbound": {"sms": {"send_to": ["+12025550111"]}}})
    job_id = _completed_job(store, account_id, box["id"], None)
    _queue(store, "outbound_success", job_id=job_id)
    cfg = _config(config, sms_url_template=receiver.url("/sms") + "?to=$to", sms_auth="user:pass")
    running(cfg, store)
    req = receiver.get()
    assert req["path"] == "/sms" and req["query"] == "to=+12025550111"
    assert req["headers"]["Authorization"] == "Basic dXNlcjpwYXNz"
    assert json.loads(req["body"]) == {"to": "+12025550111", "text": "Fax to +12025550123 sent, 2 page(s)."}


def test_a_refused_email_is_answered(store, config, sink, running):
    account_id, box = _faxbox(store, {})
    row = store.record_smtp_refusal(
        email_sender=True,  # the faxbox accepted this sender (see the gateway)
        mail_from="alice@example.com", rcpt_to="12025550123@" + box["smtp_email_address"], account_id=account_id,
        faxbox_id=box["id"], subject="Contract", original_number="12025550123",
        translated_number="+12025550123", attachments=[{"filename": "c.docx", "content_type": "x"}],
        errors=["no_attachment: 5.6.1 No usable attachment"], smtp_code=554, smtp_text="5.6.1 No usable attachment")
    assert [n["target"] for n in store.list_notifications(smtplog_id=row["id"])] == ["alice@example.com"]
    running(_config(config, smtp_relay=sink.address), store)
    _from, rcpts, msg = sink.get()
    assert rcpts == ["alice@example.com"] and msg["Subject"] == "Your fax to +12025550123 was not sent"
    assert "No usable attachment" in msg.get_body(("plain",)).get_content()


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n, 30, 3600) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


def test_progress_events_reach_webhooks_only(store, config):
    account_id, box = _faxbox(store, {"outbound": {"email": {"send_to": ["ops@example.com"]},
                                                   "callback": {"url": "https://hooks.example.com/x"}}})
    job_id = _completed_job(store, account_id, box["id"], None, status="completed")
    with store.transaction() as cur:
        cur.execute("UPDATE jobs SET status = 'pending' WHERE id = %s", (job_id,))
    rows = _queue(store, "outbound_queued", job_id=job_id)
    assert [r["channel"] for r in rows] == ["webhook"]


def test_two_notifiers_on_one_database_deliver_each_event_once(store, config, receiver, running):
    account_id, box = _faxbox(store, {"outbound": {"callback": {"url": receiver.url()}}})
    job_ids = [_completed_job(store, account_id, box["id"], None) for _ in range(3)]
    queued = []
    for job_id in job_ids:
        for event in ("outbound_queued", "outbound_processing", "outbound_success"):
            queued += _queue(store, event, job_id=job_id)
    cfg = _config(config)
    first, second = running(cfg, store), running(cfg, store)
    got = [receiver.get()["headers"]["X-Faxd-Event-Id"] for _ in queued]
    assert sorted(got) == sorted(r["event_id"] for r in queued)
    first.drain(5)
    second.drain(5)
    assert receiver.requests.empty()
    assert {_row(store, r["id"])["status"] for r in queued} == {"delivered"}


def test_a_failed_reception_is_emailed_with_the_reason(store, config, sink, running):
    account_id, box = _faxbox(store, {"inbound": {"email": {"send_to": ["inbox@example.com"]}}})
    store.save_reception(
        incoming_id=None, account_id=account_id, faxbox_id=box["id"], call_id="call-2",
        from_number="+12025550199", from_name="", to_number="+12025550100",
        rx_result={"success": False, "error_message": "Far end hung up during page 2"},
        success=False, pages=0, tiff=None, pdf=None)
    running(_config(config, smtp_relay=sink.address), store)
    _from, rcpts, msg = sink.get()
    assert rcpts == ["inbox@example.com"]
    assert msg["Subject"] == "Fax from +12025550199 not received: Far end hung up during page 2"
    assert list(msg.iter_attachments()) == []


def test_a_pdf_too_large_for_the_relay_is_left_out_not_the_notice(store, config, running):
    sink = SmtpSink(max_bytes=20_000).start()
    try:
        account_id, box = _faxbox(store, {"outbound": {"email": {"send_to": ["ops@example.com"]}}})
        big_pdf = b"%PDF-1.4\n" + os.urandom(40_000)
        job_id = _completed_job(store, account_id, box["id"], big_pdf)
        [row] = _queue(store, "outbound_success", job_id=job_id)
        service = running(_config(config, smtp_relay=sink.address), store)
        _from, rcpts, msg = sink.get()
        assert list(msg.iter_attachments()) == []
        assert f"too large for the mail server; get it from the fax API (fax id {job_id})" in \
            msg.get_body(("plain",)).get_content()
        service.drain(5)
        assert _row(store, row["id"])["status"] == "delivered"
    finally:
        sink.stop()

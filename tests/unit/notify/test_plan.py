import datetime as dt

import pytest

from faxd import notification_plan as plan


def _job(status="completed", faxbox=None, doc=None):
    return {"id": "j1", "account_id": "a1", "faxbox_id": "f1", "status": status,
            "faxbox_notifications": faxbox or {}, "doc": doc or {}, "created": dt.datetime(2026, 1, 1)}


FAXBOX = {"outbound": {"email": {"send_to": ["Ops@Example.com", "ops@example.com"]},
                       "sms": {"send_to": "+12025550111"},
                       "callback": {"url": "https://hooks.example.com/fax", "method": "put", "secret": "s"}},
          "inbound": {"email": {"send_to": "in@example.com"}, "callback": {"url": "https://in.example.com/"}}}


def test_outbound_success_notifies_every_channel_once():
    doc = {"notifications": {"email": {"send_to": ["sender@example.org"]},
                             "webhook": {"url": ["https://job.example.com/cb", "ftp://no"]}}}
    out = plan.plan("outbound_success", _job(faxbox=FAXBOX, doc=doc))
    assert out == [
        ("email", "Ops@Example.com", {}),
        ("email", "sender@example.org", {}),
        ("sms", "+12025550111", {}),
        ("webhook", "https://hooks.example.com/fax", {"method": "put", "secret": "s"}),
        ("webhook", "https://job.example.com/cb", {"method": "post"}),
    ]


def test_progress_events_only_go_to_webhooks():
    out = plan.plan("outbound_processing", _job(status="processing", faxbox=FAXBOX))
    assert [c for c, _, _ in out] == ["webhook"]


def test_a_failure_that_will_be_retried_sends_no_email():
    out = plan.plan("outbound_failure", _job(status="pending", faxbox=FAXBOX))
    assert [c for c, _, _ in out] == ["webhook"]
    out = plan.plan("outbound_failure", _job(status="failed", faxbox=FAXBOX))
    assert sorted({c for c, _, _ in out}) == ["email", "sms", "webhook"]


def test_inbound_uses_the_inbound_block():
    row = {"id": "i1", "faxbox_notifications": FAXBOX}
    assert plan.plan("inbound_success", row) == [("email", "in@example.com", {}),
                                                 ("webhook", "https://in.example.com/", {"method": "post"})]


def test_refused_mail_answers_the_sender_unless_it_would_be_backscatter():
    row = {"id": "s1", "mail_from": "alice@example.org", "errors": ["no_attachment: no attachment"],
           "faxbox_notifications": {}, "sender_accepted": True}
    assert plan.plan("smtp_refused", row) == [("email", "alice@example.org", {})]
    for error in ("sender_not_allowed: not in list", "auth_required: log in"):
        row["errors"] = [error]
        assert plan.plan("smtp_refused", row) == []


def test_a_sender_nobody_vouched_for_gets_no_refusal_email():
    # e.g. MAIL FROM:<forged> SIZE=99999999: refused before any faxbox accepted the sender
    row = {"id": "s1", "mail_from": "victim@example.org", "errors": ["too_large: too large"],
           "faxbox_notifications": {}}
    assert plan.plan("smtp_refused", row) == []
    row["sender_accepted"] = False
    assert plan.plan("smtp_refused", row) == []


def test_unknown_event_is_an_error():
    with pytest.raises(ValueError):
        plan.plan("outbound_exploded", _job())

import pytest

from faxd.notify import channels


@pytest.mark.parametrize("relay, parsed", [
    ("mail.example.com", ("mail.example.com", 25, None, None)),
    ("127.0.0.1:2526", ("127.0.0.1", 2526, None, None)),
    ("smtp://user%40x:p%3Ass@relay:587", ("relay", 587, "user@x", "p:ss")),
])
def test_parse_relay(relay, parsed):
    assert channels.parse_relay(relay) == parsed


def test_parse_relay_rejects_nonsense():
    with pytest.raises(channels.Undeliverable):
        channels.parse_relay("relay:port")


@pytest.mark.parametrize("status, outcome", [
    (200, None), (204, None),
    (500, channels.Retry), (503, channels.Retry), (429, channels.Retry), (408, channels.Retry),
    (401, channels.Retry), (404, channels.Retry),
    (410, channels.GiveUp), (301, channels.GiveUp), (307, channels.GiveUp),
])
def test_http_status_classification(status, outcome):
    if outcome is None:
        channels._classify(status, "webhook")
    else:
        with pytest.raises(outcome):
            channels._classify(status, "webhook")


def test_email_message_headers_and_attachment():
    payload = {"event_id": "e1", "direction": "inbound", "from_number": "+12025550199",
               "to_number": "+12025550100", "created": 63900000000, "timezone": "UTC", "page_count": 1}
    msg = channels.build_email("inbound_success", payload, "a@example.com", "faxd@fax.test", b"%PDF-1.4 x")
    assert msg["To"] == "a@example.com" and msg["From"] == "faxd@fax.test"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Faxd-Event-Id"] == "e1"
    [att] = list(msg.iter_attachments())
    assert att.get_filename().startswith("fax-from-+12025550199-") and att.get_content() == b"%PDF-1.4 x"

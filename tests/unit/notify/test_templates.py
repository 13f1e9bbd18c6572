import datetime as dt

import pytest

from faxd.models import gregorian
from faxd.notify import templates


@pytest.mark.parametrize("name, expected", [
    ("report.pdf", "report.pdf"),
    ("Rapport annuel é 2026.pdf", "Rapport_annuel_e_2026.pdf"),
    ("../../etc/passwd", "etc_passwd.pdf"),
    ("CON", "fax_CON.pdf"),
    ("nul.pdf", "fax_nul.pdf"),
    ("a:b*c?d\"e<f>g|h", "a_b_c_d_e_f_g_h.pdf"),
    ("", "fax.pdf"),
    ("传真", "fax.pdf"),
    ("x" * 300, "x" * 96 + ".pdf"),
])
def test_safe_filename(name, expected):
    assert templates.safe_filename(name) == expected


def test_times_are_shown_in_the_faxbox_zone():
    t = gregorian(dt.datetime(2026, 1, 15, 15, 30, 5, tzinfo=dt.timezone.utc))
    assert templates.local_time(t, "America/New_York") == "2026-01-15 10:30:05 EST"
    assert templates.local_time(t, "Europe/Paris") == "2026-01-15 16:30:05 CET"
    assert templates.local_time(t, "Not/AZone") == "2026-01-15 15:30:05 UTC"


def _outbound(**kw):
    t = gregorian(dt.datetime(2026, 1, 15, 15, 30, 5, tzinfo=dt.timezone.utc))
    p = {"direction": "outbound", "to_number": "+12025550123", "from_number": "+12025550100",
         "faxbox_name": "Front desk", "timezone": "America/Chicago", "created": t, "delivered": t + 95,
         "attempts": 1, "fax_id": "j1", "subject": "Invoice\r\nBcc: evil@example.com",
         "tx_result": {"success": True, "pages_sent": 3, "fax_speed": 14400,
                       "fax_receiver_id": "REMOTE FAX", "fax_error_correction": True}}
    p.update(kw)
    return p


def test_outbound_success_email_shows_pages_speed_station_and_local_times():
    subject, body = templates.email("outbound_success", _outbound(), has_pdf=True)
    assert subject == "Fax sent to +12025550123 (3 pages)"
    assert "Pages:" in body and " 3\n" in body
    assert "14400 bps" in body
    assert "REMOTE FAX" in body
    assert "2026-01-15 09:30:05 CST" in body and "2026-01-15 09:31:40 CST" in body
    assert "attached as a PDF" in body


def test_failure_subject_carries_the_reason_and_no_header_injection():
    p = _outbound(tx_result={"success": False, "error_message": "Busy\r\nX-Evil: 1"}, status="failed")
    subject, body = templates.email("outbound_failure", p, has_pdf=False)
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("Fax to +12025550123 failed: Busy")
    assert "could not be delivered" in body


def test_pdf_name_uses_number_and_local_time():
    assert templates.pdf_name("outbound_success", _outbound()) == "fax-to-+12025550123-20260115-093140.pdf"


def test_sms_is_short():
    p = _outbound(tx_result={"error_message": "x" * 400})
    assert len(templates.sms("outbound_failure", p)) == 160
    assert templates.sms("outbound_success", _outbound()) == "Fax to +12025550123 sent, 3 page(s)."

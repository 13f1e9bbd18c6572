"""An email with no attachment is faxed as its text: which text, decoded how."""
from email import message_from_bytes, policy
from email.message import EmailMessage

from faxd.smtp.gateway import body_document, extract_attachments


def _parse(msg: EmailMessage):
    return message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)


def test_plain_body_in_its_own_charset_becomes_utf8_text():
    msg = EmailMessage()
    msg.set_content("Bonjour,\nCafé crème à Noël\n", charset="iso-8859-1", cte="quoted-printable")
    parsed = _parse(msg)
    assert extract_attachments(parsed) == []
    doc = body_document(parsed)
    assert doc.declared == "text/plain; charset=utf-8"
    assert doc.data.decode("utf-8") == "Bonjour,\nCafé crème à Noël\n"


def test_html_only_body_is_faxed_as_its_visible_text():
    msg = EmailMessage()
    msg.set_content("<html><head><style>p{color:red}</style></head><body><p>First &amp; foremost</p>"
                    "<p>Second<br>line</p><script>alert(1)</script></body></html>", subtype="html")
    doc = body_document(_parse(msg))
    assert doc.data.decode() == "First & foremost\nSecond\nline\n"


def test_plain_text_wins_over_html_in_an_alternative():
    msg = EmailMessage()
    msg.set_content("The plain words")
    msg.add_alternative("<p>The <b>rich</b> words</p>", subtype="html")
    assert body_document(_parse(msg)).data == b"The plain words\n"


def test_an_empty_body_is_no_document():
    msg = EmailMessage()
    msg.set_content("  \n\n")
    assert body_document(_parse(msg)) is None

"""The gateway's pure rules: addresses, numbers, sender permissions, attachment extraction."""
from email.message import EmailMessage

import pytest

from faxd.smtp.gateway import extract_attachments, number_from_local_part, sender_allowed, split_address


@pytest.mark.parametrize("address, local, domain", [
    ("12025550123@abc.fax.localhost", "12025550123", "abc.fax.localhost"),
    ("<12025550123@ABC.Fax.LocalHost.>", "12025550123", "abc.fax.localhost"),
    ('"+1 (202) 555-0123"@Box.Example', "+1 (202) 555-0123", "box.example"),
    ("no-at-sign", "no-at-sign", ""),
    ("a@b@c.example", "a@b", "c.example"),
])
def test_split_address(address, local, domain):
    assert split_address(address) == (local, domain)


@pytest.mark.parametrize("local, number", [
    ("12025550123", "12025550123"),
    ("+1-202-555-0123", "+12025550123"),
    ("+44 20 7946 0000", "+442079460000"),
    ("(202) 555.0123", "2025550123"),
    ("fax", ""),
    ("", ""),
])
def test_number_from_local_part(local, number):
    assert number_from_local_part(local) == number


@pytest.mark.parametrize("sender, permissions, owner, allowed", [
    ("Alice@Example.com", ["alice@example.com"], None, True),
    ("alice@example.com", ["ALICE@EXAMPLE.COM"], None, True),
    ("bob@example.com", ["alice@example.com"], None, False),
    ("bob@example.com", ["example.com"], None, True),
    ("bob@mail.example.com", ["@example.com"], None, True),
    ("bob@badexample.com", ["example.com"], None, False),
    ("fax-7@sub.example.com", ["fax-*@*.example.com"], None, True),
    ("other@sub.example.com", ["fax-*@*.example.com"], None, False),
    ("owner@corp.example", [], "Owner@Corp.Example", True),
    ("someone@corp.example", [], "owner@corp.example", False),
    ("anyone@x.example", [], None, False),
    ("", ["*"], None, False),
    ("anyone@x.example", "x.example", None, True),
    ("anyone@x.example", {"not": "a list"}, None, False),
])
def test_sender_allowed(sender, permissions, owner, allowed):
    assert sender_allowed(sender, permissions, owner) is allowed


def test_extract_attachments_in_order_and_skips_the_body():
    msg = EmailMessage()
    msg["Subject"] = "two docs"
    msg.set_content("Please fax these.")
    msg.add_alternative("<p>Please fax these.</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 first", maintype="application", subtype="pdf", filename="a.pdf")
    msg.add_attachment(b"plain words\n", maintype="text", subtype="plain", filename="notes.txt")
    msg.add_attachment(b"\x89PNG\r\n\x1a\nxx", maintype="image", subtype="png", filename="c.png")
    found = extract_attachments(msg)
    assert [(a.filename, a.declared) for a in found] == [
        ("a.pdf", "application/pdf"), ("notes.txt", "text/plain"), ("c.png", "image/png")]
    assert found[0].data == b"%PDF-1.4 first"


def test_a_body_that_is_a_document_counts():
    msg = EmailMessage()
    msg.set_content(b"%PDF-1.4 body", maintype="application", subtype="pdf")
    found = extract_attachments(msg)
    assert [(a.filename, a.declared, a.data) for a in found] == [(None, "application/pdf", b"%PDF-1.4 body")]


def test_text_only_mail_has_no_attachment():
    msg = EmailMessage()
    msg.set_content("just words")
    assert extract_attachments(msg) == []

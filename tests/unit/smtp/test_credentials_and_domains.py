"""Faxbox SMTP passwords, custom-domain grants and the mail-structure guard, on their own."""
from __future__ import annotations

import pytest

from faxd.config import Config
from faxd.errors import ConfigError
from faxd import passwords
from faxd.smtp import domains
from faxd.smtp.gateway import MAX_MULTIPARTS, Unparseable, parse_message, safe_filename

A, B = "a" * 32, "b" * 32


def test_a_password_is_stored_as_a_salted_scrypt_hash():
    one, two = passwords.hash_password("correct horse battery"), passwords.hash_password("correct horse battery")
    assert one.startswith("scrypt$16384$8$1$") and one != two and "correct" not in one
    assert passwords.verify_password("correct horse battery", one)
    assert passwords.verify_password(b"correct horse battery", two)
    assert not passwords.verify_password("correct horse batterY", one)
    for stored in (None, "", "md5$x", "scrypt$1$2$3$!!$!!", "scrypt$x"):
        assert not passwords.verify_password("correct horse battery", stored)


def test_grants_name_exact_domains_or_subdomains():
    grants = (f"fax.example.com={A}", f"*.example.org={B}")
    assert domains.granted_to(grants, "FAX.example.com.") == {A}
    assert domains.may_claim(grants, "a.b.example.org", B) and not domains.may_claim(grants, "a.b.example.org", A)
    assert not domains.may_claim(grants, "example.org", B)  # the wildcard is for subdomains only
    assert not domains.may_claim(grants, "evilexample.org", B)
    assert not domains.may_claim(grants, "sub.fax.example.com", A)
    assert domains.granted_to((), "fax.example.com") == set()


def test_grants_are_checked_when_the_configuration_is_read():
    config = Config.load(path=None, env={"FAXD_SMTP_CUSTOM_DOMAINS": f" Fax.Example.com={A} , *.example.org={B}"})
    assert config.smtp_custom_domains == (f"fax.example.com={A}", f"*.example.org={B}")
    for bad in ("fax.example.com", f"fax.example.com=acct", f"*={A}", f"exa mple.com={A}", f"a.*.com={A}"):
        with pytest.raises(ConfigError, match="smtp_custom_domains"):
            Config.load(path=None, env={"FAXD_SMTP_CUSTOM_DOMAINS": bad})


def _nest(depth: int) -> bytes:
    head = b"Subject: n\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    parts = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i) for i in range(1, depth))
    return head + parts + b"--b%d\r\nContent-Type: application/pdf\r\n\r\n%%PDF\r\n" % (depth - 1)


def test_a_nesting_bomb_is_unparseable_and_ordinary_nesting_is_not():
    _msg, attachments = parse_message(_nest(5))
    assert [a.declared for a in attachments] == ["application/pdf"]
    for depth in (MAX_MULTIPARTS + 1, 2000):
        with pytest.raises(Unparseable, match="^5.6.0 "):
            parse_message(_nest(depth))


def test_attachment_names_lose_control_characters():
    assert safe_filename("a\x00b\r\n.pdf") == "ab.pdf" and safe_filename("\x00") is None
    assert len(safe_filename("x" * 1000)) == 255


def test_past_the_count_the_parsers_own_recursion_limit_is_unparseable_too(monkeypatch):
    from faxd.smtp import gateway
    monkeypatch.setattr(gateway, "MAX_MULTIPARTS", 10 ** 6)  # only the parser stands in the way
    with pytest.raises(Unparseable, match="^5.6.0 The message structure is nested too deeply"):
        parse_message(_nest(2000))

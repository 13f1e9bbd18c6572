import hashlib
import hmac

from faxd.notify import signing


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    body = b'{"event":"outbound_success"}'
    header = signing.signature_header("s3cret", body, timestamp=1700000000)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert signing.verify("s3cret", header, body, now=1700000010)


def test_verify_rejects_tampering_wrong_key_and_old_timestamps():
    body = b'{"a":1}'
    header = signing.signature_header("k", body, timestamp=1000)
    assert not signing.verify("k", header, b'{"a":2}', now=1000)
    assert not signing.verify("other", header, body, now=1000)
    assert not signing.verify("k", header, body, now=1000 + 301)
    assert not signing.verify("k", "garbage", body, now=1000)
    assert not signing.verify("k", "", body, now=1000)


def test_generated_secret_is_kept(tmp_path):
    path = str(tmp_path / "home" / "webhook.key")
    first = signing.load_or_create_secret(path)
    assert len(first) == 64
    assert signing.load_or_create_secret(path) == first
    import os
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_generated_secret_has_no_trailing_newline(tmp_path):
    """What `cat webhook.key` or `open(...).read()` gives is the key faxd signs with."""
    path = tmp_path / "webhook.key"
    key = signing.load_or_create_secret(str(path))
    assert path.read_text() == key


def test_verify_tolerates_a_key_read_with_its_newline():
    body = b'{"a":1}'
    header = signing.signature_header("k3y", body, timestamp=1000)
    assert signing.verify("k3y\n", header, body, now=1000)
    assert signing.verify(b"k3y\r\n", header, body, now=1000)
    assert signing.signature_header("k3y\n", body, timestamp=1000) == header
    assert not signing.verify("k3y \n", header, body, now=1000)   # only line ends are dropped


def _doc_python_blocks():
    import os
    import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    with open(os.path.join(root, "docs", "smtp-and-notifications.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("### Webhooks", 1)[1].split("### Retries", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_documented_verification_snippets_accept_faxd_signatures_with_the_generated_key(tmp_path, monkeypatch):
    """Both snippets in docs/smtp-and-notifications.md, run as written against var/webhook.key."""
    monkeypatch.chdir(tmp_path)
    key = signing.load_or_create_secret(str(tmp_path / "var" / "webhook.key"))
    body = b'{"event":"outbound_success"}'
    header = signing.signature_header(key, body)
    with_faxd, by_hand = _doc_python_blocks()

    class Request:
        headers = {"X-Faxd-Signature": header}
    scope = {"request": Request, "body": body}
    scope["request"].body = body
    exec(with_faxd, scope)
    assert scope["ok"] is True
    scope = {}
    exec(by_hand, scope)
    assert scope["verified"](header, body)
    assert not scope["verified"](header, body + b" ")
    # a key file written by an older faxd, with a newline, verifies too
    (tmp_path / "var" / "webhook.key").write_text(key + "\n")
    scope = {"request": Request}
    exec(with_faxd, scope)
    assert scope["ok"] is True

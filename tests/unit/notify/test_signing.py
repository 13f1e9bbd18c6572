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

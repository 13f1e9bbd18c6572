"""What failed API key attempts are counted against, and what of the key is kept."""
import pytest

from faxd.api.resources.auth import client_block, key_fingerprint


@pytest.mark.parametrize("address, block", [
    ("127.0.0.2", "127.0.0.2"),
    ("2001:db8::1", "2001:db8::/64"),
    ("2001:db8::ffff:1:2", "2001:db8::/64"),     # another address of the same host's /64
    ("::ffff:10.0.0.1", "10.0.0.1"),
    (None, "unknown"),
])
def test_failures_count_per_ipv4_address_and_ipv6_64(address, block):
    assert client_block(address) == block


def test_the_fingerprint_keeps_nothing_of_the_key_but_a_digest_of_its_prefix():
    key = "0123456789abcdef" * 4
    fp = key_fingerprint(key)
    assert fp == key_fingerprint(key[:8] + "f" * 56) != key_fingerprint("1" + key[1:])
    assert key[:8] not in fp and len(fp) == 16

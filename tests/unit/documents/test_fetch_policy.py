"""The address policy of faxd.fetch: refusals happen before any socket exists."""
import re
import socket

import pytest

from faxd import fetch
from faxd.documents import FetchError


@pytest.fixture
def no_sockets(monkeypatch):
    """Any attempt to open a socket fails the test: refusals must come first."""
    def forbidden(*a, **k):
        raise AssertionError("a socket was opened")
    monkeypatch.setattr(fetch.socket, "socket", forbidden)
    monkeypatch.setattr(fetch.socket, "create_connection", forbidden)


@pytest.mark.parametrize("url, kind", [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.8.9.10:8080/x", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://10.1.2.3/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://172.16.5.5/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://224.0.0.251/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://100.64.0.1/", "not a public address"),
    ("http://localhost/", "loopback"),
])
def test_refused_addresses(no_sockets, url, kind, caplog):
    caplog.set_level("INFO", logger="faxd.fetch")
    with pytest.raises(fetch.FetchRefused, match=r"could not be fetched \(not allowed\)") as e:
        fetch.request("GET", url)
    assert "fetch_allow" in str(e.value)
    assert isinstance(e.value, FetchError) and e.value.http_status == 422
    # The client learns the reason class only; the operator's log says which address and why.
    assert kind not in str(e.value) and not re.search(r"\d+\.\d+\.\d+|::", str(e.value))
    assert kind in caplog.text


def test_allow_list_by_network_and_host():
    p = fetch._Policy(("10.0.0.0/8", "intranet.example"))
    assert p.check("docs", ["10.9.8.7"], "http://docs/") == ["10.9.8.7"]
    assert p.check("intranet.example", ["192.168.1.1"], "http://intranet.example/") == ["192.168.1.1"]
    with pytest.raises(fetch.FetchRefused):
        p.check("other", ["192.168.1.1"], "http://other/")
    # Mixed answers: only the allowed addresses are used.
    assert fetch._Policy(()).check("h", ["127.0.0.1", "8.8.8.8"], "http://h/") == ["8.8.8.8"]


def test_only_http_and_https(no_sockets):
    for url in ("ftp://example.com/a.pdf", "file:///etc/passwd", "gopher://x/"):
        with pytest.raises(FetchError, match="only http and https"):
            fetch.request("GET", url)


def test_redact_hides_credentials():
    assert fetch.redact("http://user:pw@host:81/a?b") == "http://host:81/a?b"


def test_size_error_is_a_413():
    assert fetch.FetchTooLarge("x").http_status == 413

"""Strict HTTP framing in front of the API: every ambiguous form is 400 and a closed connection,
and nothing in a request body is ever served as a request. Raw sockets against the real server.
"""
from __future__ import annotations

import logging
import socket
import time

import gevent
import pytest

from faxd.api.app import create_app
from faxd.api.server import ApiServer
from faxd.httpserver import HttpLimits
from tests.unit.api.conftest import acct, app, client, config, dsn, store  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def address(config, store):  # noqa: F811
    srv = ApiServer(("127.0.0.1", 0), create_app(config, store),
                    HttpLimits(header_timeout=0.6, idle_timeout=0.6, max_connections_per_client=4))
    srv.bind()
    srv.start()
    yield srv.address
    srv.stop()


def exchange(address, data: bytes, bind: str | None = None, wait: float = 3.0) -> tuple[bytes, bool]:
    """Send ``data``, read until the server closes or ``wait`` passes: (bytes, closed by server)."""
    s = socket.socket()
    if bind:
        s.bind((bind, 0))
    s.settimeout(wait)
    s.connect(address)
    s.sendall(data)
    out, closed = b"", False
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            out += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = True
    finally:
        s.close()
    return out, closed


def smuggled(account) -> bytes:
    """A request that would answer 200 with the account's outbox if it were ever served."""
    return (f"GET {account.base}/faxes/outbox HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {account.token}\r\n"
            f"Connection: close\r\n\r\n").encode()


def request_with(headers: str, body: bytes, account) -> bytes:
    return (f"PUT {account.base}/faxes HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {account.token}\r\n"
            f"Content-Type: application/json\r\n{headers}\r\n").encode() + body


def _cl(body: bytes) -> str:
    return f"Content-Length: {len(body)}\r\n"


# Each form: (name, headers given the body, body given the smuggled request).
FORMS = [
    ("space before the colon",
     lambda b: f"Transfer-Encoding : chunked\r\n{_cl(b)}", lambda s: b"0\r\n\r\n" + s),
    ("tab before the colon",
     lambda b: f"Transfer-Encoding\t: chunked\r\n{_cl(b)}", lambda s: b"0\r\n\r\n" + s),
    ("two different Content-Length",
     lambda b: f"Content-Length: 0\r\n{_cl(b)}", lambda s: s),
    ("two equal Content-Length",
     lambda b: f"{_cl(b)}{_cl(b)}", lambda s: s),
    ("a Content-Length list",
     lambda b: f"Content-Length: {len(b)}, {len(b)}\r\n", lambda s: s),
    ("a signed Content-Length",
     lambda b: f"Content-Length: +{len(b)}\r\n", lambda s: s),
    ("Content-Length with Transfer-Encoding",
     lambda b: f"{_cl(b)}Transfer-Encoding: chunked\r\n", lambda s: b"0\r\n\r\n" + s),
    ("Transfer-Encoding with Content-Length",
     lambda b: f"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", lambda s: b"0\r\n\r\n" + s),
    ("a transfer coding other than chunked",
     lambda b: "Transfer-Encoding: gzip, chunked\r\n", lambda s: b"0\r\n\r\n" + s),
    ("an unknown transfer coding",
     lambda b: "Transfer-Encoding: xchunked\r\n", lambda s: b"0\r\n\r\n" + s),
    ("two Transfer-Encoding headers",
     lambda b: "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", lambda s: b"0\r\n\r\n" + s),
    ("a folded Transfer-Encoding",
     lambda b: f"{_cl(b)}Transfer-Encoding:\r\n chunked\r\n", lambda s: b"0\r\n\r\n" + s),
    ("a bare LF between headers",
     lambda b: f"X-A: 1\n{_cl(b)}", lambda s: s),
    ("a bare CR inside a header",
     lambda b: f"X-A: 1\rTransfer-Encoding: chunked\r\n{_cl(b)}", lambda s: s),
]


@pytest.mark.parametrize("name,headers,body", FORMS, ids=[f[0] for f in FORMS])
def test_ambiguous_framing_is_400_and_closed(address, acct, name, headers, body):  # noqa: F811
    payload = body(smuggled(acct))
    out, closed = exchange(address, request_with(headers(payload), payload, acct))
    assert out.startswith(b"HTTP/1.1 400 "), (name, out[:200])
    assert b"Connection: close" in out
    assert closed, f"{name}: the connection stayed open"
    assert out.count(b"HTTP/1.1 ") == 1, f"{name}: something in the body was served: {out!r}"
    assert b'"status": "error"' in out and b"faxes" not in out.split(b"\r\n\r\n", 1)[1]


def test_the_smuggled_request_is_itself_well_formed(address, acct):  # noqa: F811
    """The control: sent as a request of its own, the body of the forms above is a 200."""
    out, closed = exchange(address, smuggled(acct))
    assert out.startswith(b"HTTP/1.1 200 ") and closed


def test_well_formed_requests_keep_the_connection(address, acct):  # noqa: F811
    body = b'{"data": {}}'
    one = (f"GET {acct.base}/faxes/outbox HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {acct.token}\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    chunked = (f"GET {acct.base}/faxes/outgoing HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {acct.token}\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").encode()
    out, closed = exchange(address, one + chunked + smuggled(acct))
    assert out.count(b"HTTP/1.1 200 ") == 3 and closed


@pytest.mark.parametrize("headers", [b"X-A: 1\r\n" * 101, b"X-A: " + b"a" * 70000 + b"\r\n"],
                         ids=["101 lines", "a 70 KB line"])
def test_oversized_headers_are_431_and_closed(address, headers):
    out, closed = exchange(address, b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 ") and closed


def test_slow_headers_get_408_and_are_closed(address):
    s = socket.create_connection(address, timeout=5)
    started = time.monotonic()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    out = b""
    try:
        for _ in range(30):  # one header byte every 0.1 s: never a whole header block
            s.sendall(b"X")
            time.sleep(0.1)
    except OSError:
        pass
    try:
        while chunk := s.recv(65536):
            out += chunk
    except OSError:
        pass
    s.close()
    assert out.startswith(b"HTTP/1.1 408 "), out
    assert time.monotonic() - started < 2.5


def test_a_connection_that_never_speaks_is_closed(address):
    s = socket.create_connection(address, timeout=5)
    started = time.monotonic()
    assert s.recv(65536) == b""   # closed without an answer after header_timeout
    assert 0.4 < time.monotonic() - started < 2.0
    s.close()


def test_idle_keep_alive_connections_are_closed(address):
    s = socket.create_connection(address, timeout=5)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(65536).startswith(b"HTTP/1.1 ")
    started = time.monotonic()
    assert s.recv(65536) == b""  # the server closes the silent connection
    assert 0.4 < time.monotonic() - started < 2.0
    s.close()


def test_connections_per_address_are_capped(address):
    held = [socket.create_connection(address, timeout=5) for _ in range(4)]
    try:
        gevent.sleep(0.1)
        out, closed = exchange(address, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in out and closed
        # Another client address is not affected.
        out, _ = exchange(address, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          bind="127.0.0.2")
        assert out.startswith(b"HTTP/1.1 200 ")
    finally:
        for s in held:
            s.close()
    gevent.sleep(0.1)
    out, _ = exchange(address, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("how", ["closes", "goes silent"])
def test_an_abandoned_upload_is_logged_as_info(address, acct, caplog, how):  # noqa: F811
    caplog.set_level(logging.INFO)
    head = (f"PUT {acct.base}/faxes HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {acct.token}\r\n"
            f"Content-Type: multipart/mixed; boundary=b\r\nContent-Length: 100000\r\n\r\n").encode()
    s = socket.create_connection(address, timeout=5)
    s.sendall(head + b"--b\r\nContent-Type: application/json\r\n\r\n{\"data\": {")
    if how == "closes":
        s.close()
        gevent.sleep(0.5)
    else:
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        s.close()
        assert out == b"" or out.startswith(b"HTTP/1.1 400 ")
    gevent.sleep(0.2)
    records = [r for r in caplog.records if "abandoned" in r.getMessage()]
    assert records and all(r.levelno == logging.INFO and r.exc_info is None for r in records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

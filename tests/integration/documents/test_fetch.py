"""faxd.fetch and DocumentPipeline.fetch against HTTP servers on loopback that count connections."""
import time

import gevent
import gevent.event
import pytest
from gevent.server import StreamServer

from faxd import fetch
from faxd.documents import DocumentTooLarge, FetchError
from tests.integration.documents.helpers import make_pipeline


class Server:
    """A tiny HTTP/1.0 server: routes map a path to a function(request) -> (status, headers, body)."""

    def __init__(self, host="127.0.0.1", ssl_context=None):
        self.routes = {}
        self.requests = []
        self.connections = 0
        self.release = gevent.event.Event()
        tls = {"ssl_context": ssl_context} if ssl_context is not None else {}
        self._server = StreamServer((host, 0), self._handle, **tls)
        self._server.start()
        scheme = "https" if ssl_context is not None else "http"
        self.base = f"{scheme}://{host}:{self._server.server_port}"

    def _handle(self, sock, _addr):
        self.connections += 1
        f = sock.makefile("rb")
        line = f.readline().decode()
        method, path, _ = line.split(" ", 2)
        headers = {}
        while True:
            h = f.readline().decode()
            if h in ("\r\n", "\n", ""):
                break
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = f.read(int(headers.get("content-length", 0) or 0))
        req = {"method": method, "path": path, "headers": headers, "body": body}
        self.requests.append(req)
        status, rheaders, rbody = self.routes.get(path, lambda r: (404, {}, b"not found"))(req)
        head = f"HTTP/1.0 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in rheaders.items()) + "\r\n"
        try:
            sock.sendall(head.encode())
            for chunk in ([rbody] if isinstance(rbody, bytes) else rbody):
                sock.sendall(chunk)
        except OSError:
            pass
        sock.close()

    def stop(self):
        self.release.set()
        self._server.stop(timeout=1)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def other_server():
    """A second loopback server at 127.0.0.2: never allowed in these tests."""
    s = Server("127.0.0.2")
    yield s
    s.stop()


ALLOW = ("127.0.0.1/32",)


def test_get(server):
    server.routes["/doc.pdf"] = lambda r: (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 data")
    resp = fetch.request("GET", server.base + "/doc.pdf", allow=ALLOW)
    assert (resp.status, resp.body, resp.headers["content-type"]) == (200, b"%PDF-1.4 data", "application/pdf")
    assert resp.url == server.base + "/doc.pdf"


def test_refused_without_allow_list_and_no_connection_is_made(server, caplog):
    caplog.set_level("INFO", logger="faxd.fetch")
    with pytest.raises(fetch.FetchRefused, match=r"\(not allowed\)") as e:
        fetch.request("GET", server.base + "/doc.pdf")
    assert "127.0.0.1" not in str(e.value)
    assert "127.0.0.1, a loopback address" in caplog.text  # for the operator
    assert server.connections == 0


def test_allow_by_host_name(server):
    server.routes["/x"] = lambda r: (200, {}, b"ok")
    url = server.base.replace("127.0.0.1", "localhost") + "/x"
    with pytest.raises(fetch.FetchRefused):
        fetch.request("GET", url)
    assert fetch.request("GET", url, allow=("localhost",)).body == b"ok"


def test_redirect_from_allowed_to_refused_host(server, other_server):
    other_server.routes["/secret"] = lambda r: (200, {}, b"secret")
    server.routes["/go"] = lambda r: (302, {"Location": other_server.base + "/secret"}, b"")
    with pytest.raises(fetch.FetchRefused, match=r"\(not allowed\)"):
        fetch.request("GET", server.base + "/go", allow=ALLOW)
    assert other_server.connections == 0
    assert server.connections == 1


def test_redirects_are_followed_and_post_becomes_get_on_303(server):
    server.routes["/a"] = lambda r: (301, {"Location": "/b"}, b"")
    server.routes["/b"] = lambda r: (303, {"Location": server.base + "/c"}, b"")
    server.routes["/c"] = lambda r: (200, {}, r["method"].encode())
    resp = fetch.request("POST", server.base + "/a", body=b"x=1", allow=ALLOW)
    assert resp.body == b"GET" and resp.url == server.base + "/c"


def test_too_many_redirects(server):
    server.routes["/loop"] = lambda r: (302, {"Location": "/loop"}, b"")
    with pytest.raises(FetchError, match="redirected more than 3 times"):
        fetch.request("GET", server.base + "/loop", allow=ALLOW, max_redirects=3)
    assert server.connections == 4


def test_redirects_not_followed_when_max_redirects_is_zero(server):
    server.routes["/go"] = lambda r: (307, {"Location": "/elsewhere"}, b"")
    resp = fetch.request("POST", server.base + "/go", body=b"{}", allow=ALLOW, max_redirects=0)
    assert (resp.status, resp.headers["location"], server.connections) == (307, "/elsewhere", 1)


def test_slow_url_times_out(server):
    def slow(_r):
        def body():
            yield b"%PDF-1.4 "
            server.release.wait(30)   # stalls until the test ends
            yield b"rest"
        return 200, {}, body()
    server.routes["/slow"] = slow
    started = time.monotonic()
    with pytest.raises(fetch.FetchTimeout, match=r"\(unreachable\)"):
        fetch.request("GET", server.base + "/slow", allow=ALLOW, timeout=0.5)
    assert time.monotonic() - started < 2


def test_huge_body_with_and_without_length(server):
    server.routes["/big"] = lambda r: (200, {"Content-Length": str(50 << 20)}, b"x" * 1000)
    server.routes["/stream"] = lambda r: (200, {}, (b"x" * 65536 for _ in range(64)))   # 4 MB, no length
    with pytest.raises(fetch.FetchTooLarge, match="52428800 bytes; the limit is 1048576") as e:
        fetch.request("GET", server.base + "/big", allow=ALLOW, max_bytes=1 << 20)
    assert isinstance(e.value, DocumentTooLarge) and e.value.http_status == 413
    with pytest.raises(fetch.FetchTooLarge, match="more than the 1048576 byte limit"):
        fetch.request("GET", server.base + "/stream", allow=ALLOW, max_bytes=1 << 20)


def test_connection_refused_is_a_fetch_error():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(FetchError, match=r"\(unreachable\)"):
        fetch.request("GET", f"http://127.0.0.1:{port}/", allow=ALLOW)


def test_refused_timed_out_and_unresolvable_read_the_same(caplog):
    """Port scanning through document URLs: a closed port, a port that never answers and a name
    that does not resolve give the client one message; only the log tells them apart."""
    import socket
    caplog.set_level("INFO", logger="faxd.fetch")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)   # accepts, never answers
    try:
        messages = []
        for url in (f"http://127.0.0.1:{closed_port}/", f"http://127.0.0.1:{silent.getsockname()[1]}/",
                    "http://no-such-host.invalid/"):
            with pytest.raises(FetchError) as e:
                fetch.request("GET", url, allow=ALLOW + ("no-such-host.invalid",), timeout=0.5)
            messages.append(str(e.value))
    finally:
        silent.close()
    assert len(set(messages)) == 1, messages
    assert messages[0] == ("the document URL could not be fetched (unreachable): the server could not be "
                           "reached or did not answer in time")
    assert "cannot connect" in caplog.text and "timed out" in caplog.text and "cannot resolve" in caplog.text


def test_pipeline_fetch_sends_kazoo_document_fields(tmp_path, server):
    pipeline, _ = make_pipeline(tmp_path, fetch_allow="127.0.0.1/32")
    server.routes["/get"] = lambda r: (200, {"Content-Type": "image/png"}, b"\x89PNG...")
    body, ctype = pipeline.fetch(server.base + "/get", host="docs.example.com", referer="https://portal.example/")
    assert (body, ctype) == (b"\x89PNG...", "image/png")
    req = server.requests[-1]
    assert req["headers"]["host"] == "docs.example.com"
    assert req["headers"]["referer"] == "https://portal.example/"
    server.routes["/post"] = lambda r: (200, {}, r["body"] + b"|" + r["headers"]["content-type"].encode())
    body, _ = pipeline.fetch(server.base + "/post", method="post", content="id=42",
                             content_type="application/x-www-form-urlencoded")
    assert body == b"id=42|application/x-www-form-urlencoded"
    assert server.requests[-1]["method"] == "POST"


def test_pipeline_fetch_errors(tmp_path, server):
    pipeline, _ = make_pipeline(tmp_path, fetch_allow="127.0.0.1/32")
    with pytest.raises(FetchError, match="answered HTTP 404"):
        pipeline.fetch(server.base + "/missing")
    server.routes["/empty"] = lambda r: (200, {}, b"")
    with pytest.raises(FetchError, match="empty document"):
        pipeline.fetch(server.base + "/empty")
    with pytest.raises(FetchError, match="get or post"):
        pipeline.fetch(server.base + "/x", method="delete")
    refusing, _ = make_pipeline(tmp_path)
    with pytest.raises(fetch.FetchRefused):
        refusing.fetch(server.base + "/missing")
    assert server.connections == 2


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for that address."""
    import subprocess
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    s = Server(ssl_context=ctx)
    s.routes["/doc"] = lambda r: (200, {}, b"over tls")
    yield s, cert
    s.stop()


def test_https_verifies_the_certificate(tls_server, monkeypatch):
    server, cert = tls_server
    with pytest.raises(FetchError, match=r"\(unreachable\)"):
        fetch.request("GET", server.base + "/doc", allow=ALLOW)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))   # trust it: the request goes through
    assert fetch.request("GET", server.base + "/doc", allow=ALLOW).body == b"over tls"

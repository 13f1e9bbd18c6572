"""The HTTP spool server a FreeSWITCH on another host fetches outbound TIFFs from."""
import http.client

import pytest

from faxd.switch.freeswitch.spool import SpoolServer


@pytest.fixture
def server():
    s = SpoolServer(("127.0.0.1", 0))
    s.start()
    yield s
    s.stop()


def _request(server, method, url):
    host, port = server.address
    c = http.client.HTTPConnection(host, port, timeout=5)
    try:
        c.request(method, url)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def test_a_published_file_is_served_until_withdrawn(server, tmp_path):
    doc = tmp_path / "doc.tif"
    doc.write_bytes(b"II*\x00" + bytes(range(256)) * 600)       # larger than one read
    token, url = server.publish(str(doc))
    host, port = server.address
    assert url == f"http://{host}:{port}/spool/{token}.tif" and len(token) == 64
    path = url[len(f"http://{host}:{port}"):]
    status, headers, body = _request(server, "GET", path)
    assert (status, headers["Content-Type"], headers["Cache-Control"]) == (200, "image/tiff", "no-store")
    assert body == doc.read_bytes() and headers["Content-Length"] == str(len(body))
    status, headers, body = _request(server, "HEAD", path)
    assert (status, body, headers["Content-Length"]) == (200, b"", str(doc.stat().st_size))
    assert server.hits == 2
    server.withdraw(token)
    assert _request(server, "GET", path)[0] == 404
    assert server.hits == 2


def test_unknown_tokens_other_paths_methods_and_vanished_files_are_404(server, tmp_path):
    doc = tmp_path / "doc.tif"
    doc.write_bytes(b"II*\x00")
    token, _ = server.publish(str(doc))
    assert _request(server, "GET", "/spool/" + "0" * 64 + ".tif")[0] == 404
    assert _request(server, "GET", f"/other/{token}.tif")[0] == 404
    assert _request(server, "POST", f"/spool/{token}.tif")[0] == 404
    doc.unlink()
    assert _request(server, "GET", f"/spool/{token}.tif")[0] == 404
    assert server.hits == 0


def test_the_base_url_given_is_the_one_published():
    s = SpoolServer(("127.0.0.1", 0), base_url="http://faxd.example:8084/")
    s.start()
    try:
        token, url = s.publish("/nonexistent.tif")
        assert url == f"http://faxd.example:8084/spool/{token}.tif"
    finally:
        s.stop()

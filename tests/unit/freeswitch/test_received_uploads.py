"""Received faxes pushed by a FreeSWITCH on another host (PUT <spool_url>/received/<token>.tif),
through the spool server's real HTTP listener: one slot per call, taken once, precise refusals."""
from __future__ import annotations

import http.client

import pytest
import requests

from faxd.switch.freeswitch.spool import SpoolServer
from faxd.switch.freeswitch.commands import http_put

TIFF = b"II*\x00" + b"\x00" * 4096


@pytest.fixture
def server():
    s = SpoolServer(("127.0.0.1", 0))
    s.start()
    yield s
    s.stop()


def test_a_slot_takes_one_upload_into_place(server, tmp_path):
    dest = tmp_path / "spool" / "rx-call.tif"
    token, url = server.uploads.expect(str(dest), server.base_url)
    assert url == f"{server.base_url}/received/{token}.tif" and len(token) == 64
    r = requests.put(url, data=TIFF, headers={"Content-Type": "image/tiff"}, timeout=10)
    assert (r.status_code, r.text) == (201, "stored\n")
    assert dest.read_bytes() == TIFF and server.uploads.received == 1
    assert not (tmp_path / "spool" / "rx-call.tif.upload").exists()
    again = requests.put(url, data=b"II*\x00other", timeout=10)       # once only
    assert again.status_code == 404 and dest.read_bytes() == TIFF


def test_unknown_closed_and_wrong_requests_are_refused_precisely(server, tmp_path):
    dest = tmp_path / "rx.tif"
    token, url = server.uploads.expect(str(dest), server.base_url)
    assert requests.put(f"{server.base_url}/received/{'0' * 64}.tif", data=TIFF, timeout=10).status_code == 404
    r = requests.get(url, timeout=10)
    assert (r.status_code, r.headers.get("Allow")) == (405, "PUT")
    server.uploads.max_size = 100
    r = requests.put(url, data=TIFF, timeout=10)
    assert r.status_code == 413 and "at most 100 bytes" in r.text
    host, port = server.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("PUT", url[len(server.base_url):])
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"0\r\n\r\n")
    assert conn.getresponse().status == 411
    conn.close()
    server.uploads.close(token)                                      # the call ended
    assert requests.put(url, data=b"II*\x00", timeout=10).status_code == 404
    assert not dest.exists()
    # Outbound TIFFs are still served by the same listener.
    assert requests.get(f"{server.base_url}/spool/{'1' * 64}.tif", timeout=10).status_code == 404


def test_http_put_line_refuses_arguments_freeswitch_would_split():
    assert http_put("http://faxd:8085/received/ab.tif", "/tmp/faxd-rx-1.tif") == \
        "http_put http://faxd:8085/received/ab.tif /tmp/faxd-rx-1.tif"
    with pytest.raises(ValueError):
        http_put("http://faxd:8085/received/ab.tif", "/tmp/with space.tif")

"""The API server answers keep-alive requests without the 40 ms Nagle/delayed-ACK stall."""
import time

import falcon
import requests

from faxd.daemon import ApiServer


class Ping:
    def on_get(self, req, resp):
        resp.media = {"ok": True}


def test_keep_alive_requests_do_not_wait_for_delayed_acks():
    app = falcon.App()
    app.add_route("/ping", Ping())
    server = ApiServer(("127.0.0.1", 0), app)
    server.bind()
    server.start()
    try:
        host, port = server.address
        with requests.Session() as s:  # one connection, kept alive
            s.get(f"http://{host}:{port}/ping", timeout=5)
            started = time.monotonic()
            for _ in range(25):
                assert s.get(f"http://{host}:{port}/ping", timeout=5).json() == {"ok": True}
            elapsed = time.monotonic() - started
    finally:
        server.stop()
    # With Nagle on, each response waits ~40 ms for the client's delayed ACK: 25 take ~1 s.
    assert elapsed < 0.6, f"25 keep-alive requests took {elapsed:.2f} s"

"""The API server answers keep-alive requests without the 40 ms Nagle/delayed-ACK stall."""
import time

import falcon
import requests

from faxd.api.server import ApiServer


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


class Recorder:
    def __init__(self):
        self.order = []

    def on_get(self, req, resp, who, n):
        self.order.append(who)
        resp.media = {"n": n}


_CLIENTS = """
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
greedy, polite = socket.create_connection((host, port)), socket.create_connection((host, port))
greedy.sendall(b"".join(b"GET /greedy/%d HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" % i for i in range(2000)))
time.sleep(0.002)
polite.sendall(b"GET /polite/0 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
polite.recv(1000)
time.sleep(0.5)
"""


def test_keep_alive_connections_take_turns():
    """A client pipelining many requests does not hold the server while another one waits."""
    import subprocess
    import sys

    import gevent

    rec = Recorder()
    app = falcon.App()
    app.add_route("/{who}/{n}", rec)
    server = ApiServer(("127.0.0.1", 0), app)
    server.bind()
    server.start()
    try:
        host, port = server.address
        # The clients run in another process, so they send while the server is busy.
        clients = subprocess.Popen([sys.executable, "-c", _CLIENTS, host, str(port)])
        with gevent.Timeout(20):
            while "polite" not in rec.order:
                gevent.sleep(0.01)
            while clients.poll() is None:
                gevent.sleep(0.01)
    finally:
        server.stop()
    waited = rec.order.index("polite")
    assert waited < 1000, f"the polite client waited for {waited} requests of the greedy one"

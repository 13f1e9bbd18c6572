"""Outbound TIFFs over HTTP for a FreeSWITCH on another host.

FreeSWITCH's ``txfax`` takes a URL as well as a path: with ``spool_http_listen`` set, the
backend publishes each outbound TIFF here under an unguessable token for as long as its call
lasts, and the originate line names ``<base>/spool/<token>.tif`` (``spool_url`` is the base as
FreeSWITCH reaches it; default: the address listened on). The same listener takes received
faxes back (``PUT <base>/received/<token>.tif``, see received.py).
"""
from __future__ import annotations

import logging
import os

import gevent.pool
import gevent.pywsgi

from faxd.switch.freeswitch.received import ReceivedUploads
from faxd.switch.freeswitch.tokens import TokenPaths

logger = logging.getLogger(__name__)


class SpoolServer:
    """Outbound TIFFs over HTTP for a FreeSWITCH on another host: one unguessable URL per call,
    valid while the call lasts (``GET <base>/spool/<token>.tif``)."""

    def __init__(self, listen: tuple[str, int], base_url: str | None = None):
        self._files = TokenPaths("/spool/")
        self._server = gevent.pywsgi.WSGIServer(listen, self._app, log=None, error_log=logger,
                                                spawn=gevent.pool.Pool(1000))
        self._base = base_url
        self.hits = 0
        self.uploads = ReceivedUploads()     # received faxes pushed back (PUT /received/...)

    def start(self) -> None:
        self._server.start()
        if self._base is None:
            host, port = self._server.address[:2]
            self._base = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop(timeout=1)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address[:2]

    def publish(self, path: str) -> tuple[str, str]:
        """(token, the URL FreeSWITCH reads ``path`` from while the call lasts)."""
        return self._files.add(path, self._base)

    def withdraw(self, token: str) -> None:
        self._files.remove(token)

    @property
    def base_url(self) -> str:
        return self._base

    def _app(self, environ, start_response):
        if self.uploads.handles(environ):
            return self.uploads(environ, start_response)
        _token, fname = self._files.lookup(environ)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or fname is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        try:
            size = os.path.getsize(fname)
            f = open(fname, "rb")
        except OSError:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        self.hits += 1
        start_response("200 OK", [("Content-Type", "image/tiff"), ("Content-Length", str(size)),
                                  ("Cache-Control", "no-store")])
        if environ["REQUEST_METHOD"] != "GET":
            f.close()
            return [b""]
        return _chunks(f)


def _chunks(f, size: int = 65536):
    with f:
        while True:
            block = f.read(size)
            if not block:
                return
            yield block

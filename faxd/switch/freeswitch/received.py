"""Received faxes pushed over HTTP by a FreeSWITCH on another host.

With ``spool_http_listen`` set, FreeSWITCH does not share faxd's spool: ``rxfax`` writes into
its own ``freeswitch_rx_dir``, and when rxfax has ended faxd asks it, on the call's own
outbound-socket connection, to ``http_put`` (mod_http_cache) the file to
``<spool_url>/received/<token>.tif``. The token is 256 random bits, made for that one call,
accepted once and only while the call is being received: it is the upload's credential, as
the outbound TIFF's URL is the download's. The body is written beside its destination and
renamed into place, so the reception never reads half a file.
"""
from __future__ import annotations

import logging
import os

from faxd.switch.freeswitch.tokens import TokenPaths

logger = logging.getLogger(__name__)

# Largest upload taken: a received fax is a few hundred KiB a page; 64 MiB is hundreds of pages.
MAX_UPLOAD = 64 * 1024 * 1024
PREFIX = "/received/"


class ReceivedUploads:
    """Upload slots: ``expect(dest)`` opens one, the PUT fills it, ``close(token)`` ends it."""

    def __init__(self, max_size: int = MAX_UPLOAD):
        self._slots = TokenPaths(PREFIX)
        self.max_size = max_size
        self.received = 0

    def expect(self, dest_path: str, base_url: str) -> tuple[str, str]:
        """A fresh slot for ``dest_path``: (token, the URL FreeSWITCH puts the file to)."""
        return self._slots.add(dest_path, base_url)

    def close(self, token: str) -> None:
        self._slots.remove(token)

    def handles(self, environ) -> bool:
        return self._slots.handles(environ)

    def __call__(self, environ, start_response):
        token, dest = self._slots.lookup(environ)
        if dest is None:
            return _answer(start_response, "404 Not Found", "no reception expects this upload\n")
        if environ.get("REQUEST_METHOD") != "PUT":
            return _answer(start_response, "405 Method Not Allowed", "PUT the received TIFF here\n",
                           [("Allow", "PUT")])
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return _answer(start_response, "411 Length Required", "Content-Length is required\n")
        if length > self.max_size:
            return _answer(start_response, "413 Content Too Large",
                           f"a received fax is at most {self.max_size} bytes\n")
        partial = f"{dest}.upload"
        body = environ["wsgi.input"]
        got = 0
        try:
            os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
            with open(partial, "wb") as f:
                while got < length:
                    block = body.read(min(65536, length - got))
                    if not block:
                        break
                    f.write(block)
                    got += len(block)
            if got != length:
                os.unlink(partial)
                return _answer(start_response, "400 Bad Request",
                               f"the body ended after {got} of {length} bytes\n")
            os.replace(partial, dest)
        except OSError as e:
            logger.error("received fax upload to %s failed: %s", dest, e.strerror)
            return _answer(start_response, "500 Internal Server Error", "the upload could not be stored\n")
        self._slots.remove(token)         # once
        self.received += 1
        return _answer(start_response, "201 Created", "stored\n")


def _answer(start_response, status: str, text: str, extra: list | None = None):
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                            *(extra or [])])
    return [body]

"""GET /ops/ and its assets: the operator's page (faxd/ops/static), no build step, no CDN.

Public: the page itself holds no data; it signs in with an API key (PUT /v2/api_auth) and
reads the event stream and /metrics with the token.
"""
from __future__ import annotations

import os

import falcon

from faxd.api.errors import not_found

STATIC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "ops", "static")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class OpsPage:
    public = True
    any_content = True

    def _send(self, resp, name: str) -> None:
        ext = os.path.splitext(name)[1]
        if ext not in TYPES or "/" in name or name.startswith("."):
            raise not_found("no such file")
        path = os.path.join(STATIC, name)
        try:
            with open(path, "rb") as f:
                resp.data = f.read()
        except FileNotFoundError:
            raise not_found("no such file") from None
        resp.content_type = TYPES[ext]
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:")

    def on_get(self, req, resp):
        self._send(resp, "index.html")

    def on_get_asset(self, req, resp, name: str):
        self._send(resp, name)

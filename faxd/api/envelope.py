"""Kazoo's envelope, applied in one place.

A resource sets ``resp.context.data`` (and, for a listing, ``resp.context.page``); this
middleware writes ``{"data": ..., "revision": ..., "request_id": ..., "status": "success",
"auth_token": ..., "timestamp": ..., "version": ...}``. Keys starting with ``_`` or ``pvt_``
are private: ``_rev`` becomes the envelope's ``revision`` and the ``ETag``; none leak.
"""
from __future__ import annotations

import hashlib
import time
import uuid

import falcon
import orjson

from faxd import __version__ as VERSION
from faxd.api.errors import field_error


def unwrap(body) -> dict:
    """The ``data`` object of a request body ``{"data": {...}}``."""
    if not isinstance(body, dict):
        raise field_error("data", "type", "the request body must be a JSON object with a data object")
    if "data" not in body:
        raise field_error("data", "required", "Field is required but missing")
    data = body["data"]
    if not isinstance(data, dict):
        raise field_error("data", "type", "Value did not match type(s): object")
    return data


def strip_private(doc: dict) -> tuple[dict, object]:
    """(doc without private keys, its revision)."""
    rev = doc.get("_rev")
    return {k: v for k, v in doc.items() if not (k.startswith("_") or k.startswith("pvt_"))}, rev


def _list_revision(items: list) -> str:
    """md5 over each row's ``id:modified;`` (``created`` when a row has no ``modified``)."""
    parts = [f"{item.get('id')}:{item['modified'] if 'modified' in item else item.get('created')};"
             for item in items if isinstance(item, dict)]
    return hashlib.md5("".join(parts).encode(), usedforsecurity=False).hexdigest()


_stamp: list = [None, ""]     # [Unix second, its text]: formatted once a second, not per request


def _timestamp() -> str:
    now = int(time.time())
    if now != _stamp[0]:
        _stamp[:] = [now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))]
    return _stamp[1]


class Envelope:
    """Request ids for every request; the success envelope for every Kazoo resource."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = uuid.uuid4().hex
        resp.set_header("X-Request-ID", req.context.request_id)

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        if not req_succeeded or "data" not in resp.context:
            return
        data = resp.context.data
        revision = None
        if isinstance(data, dict):
            data, revision = strip_private(data)
            if revision is not None:
                resp.set_header("ETag", f'"{revision}"')
        elif isinstance(data, list):
            # Listing rows are built field by field from columns: nothing private to strip.
            page = resp.context.get("page")
            if page is not None and page.rows is data:
                # Encoded once per page: a page the listing cache serves again reuses it.
                if page.rendered is None:
                    page.rendered = (orjson.Fragment(orjson.dumps(data)), _list_revision(data))
                rows, revision = page.rendered
            else:
                rows, revision = data, _list_revision(data)
        body = {
            "data": rows if isinstance(data, list) else data,
            "revision": str(revision) if revision is not None else "undefined",
            "request_id": req.context.request_id,
            "status": "success",
            "timestamp": _timestamp(),
            "version": VERSION,
        }
        token = req.context.get("auth_token")
        if token:
            body["auth_token"] = token
        page = resp.context.get("page")
        if page is not None:
            body["page_size"] = len(data)
            # Kazoo's keys are view keys, JSON arrays (the seed shows ["{START_KEY}"]); ours
            # wrap one opaque string the same way. Either form is accepted back.
            if page.start_key is not None:
                body["start_key"] = [page.start_key]
            if page.next_start_key is not None:
                body["next_start_key"] = [page.next_start_key]
        resp.media = body

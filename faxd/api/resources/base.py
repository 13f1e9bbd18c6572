"""What the Kazoo resources share: identifiers, the faxbox scope, attachments."""
from __future__ import annotations

import re

import falcon
import gevent

from faxd.api.errors import KazooError, not_found
from faxd.api.params import list_query

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PDF = "application/pdf"
TIFF = "image/tiff"


def check_id(value: str, what: str = "fax") -> str:
    """Ids we could never have issued answer 404 without a database query."""
    if not _ID.match(value):
        raise not_found(f"bad identifier: no such {what}")
    return value


class Resource:
    def __init__(self, config, store):
        self._config = config
        self._store = store

    def faxbox_scope(self, account_id: str, faxbox_id: str | None) -> dict | None:
        """The faxbox of a /faxboxes/{id}/faxes/... route (404 when not this account's)."""
        if faxbox_id is None:
            return None
        check_id(faxbox_id, "faxbox")
        faxbox = self._store.get_faxbox(account_id, faxbox_id)
        if faxbox is None:
            raise not_found(f"bad identifier: faxbox {faxbox_id} not found")
        return faxbox


class Folder(Resource):
    """GET of a folder (outbox, inbox, ...): one keyset page of its rows."""

    def page(self, account_id: str, query, faxbox_id: str | None):
        raise NotImplementedError

    def on_get(self, req, resp, account_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        page = self.page(account_id, list_query(req), faxbox_id)
        resp.context.data = page.rows
        resp.context.page = page


class Entry(Resource):
    """One item of a folder. ``fetch`` returns it or None; None (or an id we could never have
    issued, or another faxbox's item) answers 404 with ``missing``."""

    kind = "fax"
    missing = "bad identifier: fax {id} not found"

    def fetch(self, account_id: str, item_id: str, faxbox_id: str | None):
        raise NotImplementedError

    def entry(self, account_id: str, item_id: str, faxbox_id: str | None):
        self.faxbox_scope(account_id, faxbox_id)
        found = self.fetch(account_id, check_id(item_id, self.kind), faxbox_id)
        if found is None:
            raise not_found(self.missing.format(id=item_id))
        return found


def wanted_attachment_type(req: falcon.Request) -> str:
    """application/pdf (default) or image/tiff, from Accept; 406 otherwise."""
    accept = req.get_header("Accept")
    if not accept or accept.strip() in ("*/*", ""):
        return PDF
    best = req.client_prefers([PDF, TIFF])
    if best is None:
        raise KazooError(falcon.HTTP_406, "attachments are available as application/pdf or image/tiff",
                         {"message": "attachments are available as application/pdf or image/tiff",
                          "target": [PDF, TIFF]})
    return best


def send_attachment(req: falcon.Request, resp: falcon.Response, fetch, fax_id: str) -> None:
    """Answer with a fax document. ``fetch(role)`` returns a documents row or None."""
    disposition = req.get_param("disposition") or "attachment"
    if disposition not in ("attachment", "inline"):
        raise KazooError(falcon.HTTP_400, "invalid data",
                         {"disposition": {"enum": {"message": "Value not found in enumerated list of values",
                                                   "target": ["attachment", "inline"]}}})
    wanted = wanted_attachment_type(req)
    if wanted == TIFF:
        doc = fetch("fax_tiff")
        if doc is None:
            raise not_found(f"fax {fax_id} has no fax TIFF (not converted yet, or its attachments were deleted)")
        data, ext = bytes(doc["data"]), "tif"
    else:
        doc = fetch("pdf")
        if doc is not None:
            data = bytes(doc["data"])
        else:
            tiff = fetch("fax_tiff")
            if tiff is None:
                raise not_found(f"fax {fax_id} has no document (not converted yet, or its attachments were deleted)")
            data = tiff_to_pdf(bytes(tiff["data"]))
        ext = "pdf"
    resp.content_type = wanted
    resp.data = data
    resp.set_header("Content-Disposition", f'{disposition}; filename="fax-{fax_id}.{ext}"')
    resp.set_header("X-Content-Type-Options", "nosniff")


def tiff_to_pdf(data: bytes) -> bytes:
    """Wrap a fax TIFF in a PDF without re-encoding (the document pipeline's), off the hub."""
    from faxd.documents import DocumentError
    from faxd.documents.pipeline import tiff_to_pdf as render
    try:
        return gevent.get_hub().threadpool.spawn(render, data).get()
    except DocumentError as e:
        raise KazooError(falcon.HTTP_422, f"the fax TIFF could not be turned into a PDF: {e}") from None

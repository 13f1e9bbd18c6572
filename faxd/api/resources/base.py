"""What the Kazoo resources share: identifiers, the faxbox scope, folders and their items, attachments."""
from __future__ import annotations

import re

import falcon
import gevent

from faxd.api.errors import KazooError, not_found
from faxd.api.params import list_query
from faxd.api.resources.actions import read_action
from faxd.api.schemas import validate_job
from faxd.documents.errors import DocumentError
from faxd.documents.pipeline import tiff_to_pdf as render_pdf
from faxd.policy import require_submission

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
    """One item of a folder, at the route's ``{id_field}``. ``fetch`` returns it or None; None
    (or an id we could never have issued, or another faxbox's item) answers 404 with ``missing``."""

    kind = "fax"
    id_field = "fax_id"
    missing = "bad identifier: fax {id} not found"

    def fetch(self, account_id: str, item_id: str, faxbox_id: str | None):
        raise NotImplementedError

    def entry(self, account_id: str, item_id: str, faxbox_id: str | None):
        self.faxbox_scope(account_id, faxbox_id)
        found = self.fetch(account_id, check_id(item_id, self.kind), faxbox_id)
        if found is None:
            raise not_found(self.missing.format(id=item_id))
        return found

    def on_get(self, req, resp, account_id, faxbox_id=None, **route):
        resp.context.data = self.entry(account_id, route[self.id_field], faxbox_id)


class FinalFax(Entry):
    """A final fax (outbox, inbox): read it, queue a new job from it with the PUT ``action``,
    remove it with every trace of it, or remove its documents and keep the metadata."""

    action = ""

    def job_request(self, account_id: str, fax: dict, data: dict) -> tuple[dict, dict | None]:
        """The new job's fields and their defaults, from the fax and the action's ``data``."""
        raise NotImplementedError

    def queue(self, account_id: str, fax_id: str, doc: dict, faxbox_id: str | None) -> dict:
        raise NotImplementedError

    def remove(self, account_id: str, fax_id: str, faxbox_id: str | None) -> None:
        raise NotImplementedError

    def remove_documents(self, account_id: str, fax_id: str, faxbox_id: str | None) -> dict:
        """Remove the documents; the fax as it is afterwards."""
        raise NotImplementedError

    def document(self, account_id: str, fax_id: str, role: str) -> dict | None:
        raise NotImplementedError

    def on_put(self, req, resp, account_id, fax_id, faxbox_id=None):
        fax = self.entry(account_id, fax_id, faxbox_id)
        _action, data = read_action(req, (self.action,))
        fields, defaults = self.job_request(account_id, fax, data)
        doc = validate_job(fields, region=self._config.default_region, has_documents=True, defaults=defaults)
        require_submission(self._store, self._config, account_id, doc["to_number"])
        resp.context.data = self.queue(account_id, fax_id, doc, faxbox_id)
        resp.status = falcon.HTTP_201

    def on_delete(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        self.remove(account_id, check_id(fax_id), faxbox_id)
        resp.context.data = {"id": fax_id, "deleted": True}

    def on_get_attachment(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.entry(account_id, fax_id, faxbox_id)
        send_attachment(req, resp, lambda role: self.document(account_id, fax_id, role), fax_id)

    def on_delete_attachment(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        resp.context.data = self.remove_documents(account_id, check_id(fax_id), faxbox_id)


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
    try:
        return gevent.get_hub().threadpool.spawn(render_pdf, data).get()
    except DocumentError as e:
        raise KazooError(falcon.HTTP_422, f"the fax TIFF could not be turned into a PDF: {e}") from None

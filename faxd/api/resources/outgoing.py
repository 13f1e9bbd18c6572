"""Queue faxes (PUT /faxes, PUT /faxes/outgoing) and follow them until they finish."""
from __future__ import annotations

import falcon

from faxd.api.body import read_job_request
from faxd.api.errors import field_error
from faxd.api.resources.base import Entry, Folder, Resource, check_id
from faxd.api.schemas import faxbox_defaults, validate_job
from faxd.api import upload_limits
from faxd.documents.detect import document_type
from faxd.policy import require_submission


class Queue(Resource):
    """PUT: queue a fax given by document.url or uploaded in a multipart body.

    The account's fax policy and submission limits apply (400 naming the rule, 429)."""

    def on_put(self, req, resp, account_id, faxbox_id=None):
        faxbox = self.faxbox_scope(account_id, faxbox_id)
        data, uploads = read_job_request(req, self._config.max_upload_bytes)
        if faxbox is None and isinstance(data, dict) and data.get("faxbox_id") is not None:
            named = data["faxbox_id"]
            if not isinstance(named, str):
                raise field_error("faxbox_id", "type", "Value did not match type(s): string")
            faxbox = self._store.get_faxbox(account_id, named) if len(named) <= 64 else None
            if faxbox is None:
                raise field_error("faxbox_id", "not_found", f"no faxbox {named} in this account")
        doc = validate_job(data, region=self._config.default_region, has_documents=bool(uploads),
                           defaults=faxbox_defaults(faxbox))
        require_submission(self._store, self._config, account_id, doc["to_number"])
        documents = [(u.data, document_type(u.data, u.content_type, u.filename), u.filename) for u in uploads]
        upload_limits.check_all(documents, self._config.max_pages)
        job = self._store.enqueue_job(account_id, doc, faxbox_id=faxbox["id"] if faxbox else None,
                                      documents=documents)
        resp.context.data = job
        resp.status = falcon.HTTP_201
        resp.set_header("Location", f"{req.path.rstrip('/').removesuffix('/outgoing')}/outgoing/{job['id']}")



class Outgoing(Queue, Folder):
    """GET: the jobs not yet final."""

    def page(self, account_id, query, faxbox_id):
        return self._store.list_jobs(account_id, "outgoing", query, faxbox_id=faxbox_id)


class OutgoingItem(Entry):
    def fetch(self, account_id, fax_id, faxbox_id):
        return self._store.get_job(account_id, fax_id, faxbox_id=faxbox_id)

    def on_get(self, req, resp, account_id, fax_id, faxbox_id=None):
        resp.context.data = self.entry(account_id, fax_id, faxbox_id)

    def on_delete(self, req, resp, account_id, fax_id, faxbox_id=None):
        """Cancel: at once when waiting, by hanging up the call when on one."""
        self.faxbox_scope(account_id, faxbox_id)
        resp.context.data = self._store.cancel_job(account_id, check_id(fax_id), faxbox_id=faxbox_id)

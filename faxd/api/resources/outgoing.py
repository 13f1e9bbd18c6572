"""Queue faxes (PUT /faxes, PUT /faxes/outgoing) and follow them until they finish."""
from __future__ import annotations

import hashlib
import re

import falcon
import orjson

from faxd.api import broadcast
from faxd.api.body import read_job_request
from faxd.api.errors import KazooError, field_error, not_found
from faxd.api.resources.base import Entry, Folder, Resource, check_id
from faxd.api.schemas import check_cover_template, faxbox_defaults, validate_job
from faxd.api import upload_limits
from faxd.documents import DocumentPipeline
from faxd.documents.detect import document_type
from faxd.policy import require_submission


IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


def idempotency_key(req) -> str | None:
    """The request's Idempotency-Key header: 1 to 255 printable ASCII characters, or absent."""
    key = req.get_header("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key) or not key.strip():
        raise KazooError(falcon.HTTP_400, "Idempotency-Key must be 1 to 255 printable ASCII characters",
                         {"Idempotency-Key": {"pattern": {"message": "1 to 255 printable ASCII characters",
                                                          "target": "[\\x20-\\x7e]{1,255}"}}})
    return key


def request_digest(data, uploads, faxbox_id: str | None) -> str:
    """What makes two submissions the same request: the faxbox route, the JSON body as sent
    (keys in any order) and each uploaded document's bytes, type and name, in order."""
    h = hashlib.sha256(orjson.dumps({"faxbox": faxbox_id, "data": data}, option=orjson.OPT_SORT_KEYS))
    for u in uploads:
        h.update(orjson.dumps([hashlib.sha256(u.data).hexdigest(), u.content_type, u.filename]))
    return h.hexdigest()


class Queue(Resource):
    _documents = None

    @property
    def documents(self):
        """The DocumentPipeline that converts broadcasts (the daemon's, or one of our own)."""
        if self._documents is None:
            self._documents = DocumentPipeline(self._config)
        return self._documents

    @documents.setter
    def documents(self, pipeline) -> None:
        self._documents = pipeline

    """PUT: queue a fax given by document.url or uploaded in a multipart body.

    The account's fax policy and submission limits apply (400 naming the rule, 429). With an
    Idempotency-Key, the same request again within 24 hours answers 200 with the job it
    created (``Idempotent-Replayed: true``) and creates nothing; the key with a different
    request is 409."""

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
        if broadcast.is_broadcast(data):
            if req.get_header("Idempotency-Key") is not None:
                raise field_error("Idempotency-Key", "unsupported", "a broadcast takes no Idempotency-Key (yet): "
                                                                    "its batch_id identifies it")
            return broadcast.queue(self, req, resp, account_id, data, uploads, faxbox)
        key = idempotency_key(req)
        digest = request_digest(data, uploads, faxbox_id) if key is not None else None
        if key is not None:
            held = self._store.held_idempotency_key(account_id, key)
            if held is not None:  # a repeat: answered before any limit counts it
                return self._answer(req, resp, self._store.job_under_key(account_id, key, digest, held), True)
        doc = validate_job(data, region=self._config.default_region, has_documents=bool(uploads),
                           defaults=faxbox_defaults(faxbox))
        check_cover_template(doc, faxbox)
        require_submission(self._store, self._config, account_id, doc["to_number"])
        documents = [(u.data, document_type(u.data, u.content_type, u.filename), u.filename) for u in uploads]
        upload_limits.check_all(documents, self._config.max_pages)
        enqueue = {"faxbox_id": faxbox["id"] if faxbox else None, "documents": documents}
        if key is None:
            return self._answer(req, resp, self._store.enqueue_job(account_id, doc, **enqueue), False)
        self._answer(req, resp, *self._store.enqueue_job_once(account_id, key, digest, doc, **enqueue))

    @staticmethod
    def _answer(req, resp, job: dict, replayed: bool) -> None:
        resp.context.data = job
        resp.status = falcon.HTTP_200 if replayed else falcon.HTTP_201
        if replayed:
            resp.set_header("Idempotent-Replayed", "true")
        resp.set_header("Location", f"{req.path.rstrip('/').removesuffix('/outgoing')}/outgoing/{job['id']}")



class Outgoing(Queue, Folder):
    """GET: the jobs not yet final."""

    def page(self, account_id, query, faxbox_id):
        return self._store.list_jobs(account_id, "outgoing", query, faxbox_id=faxbox_id)


class OutgoingItem(Entry):
    def fetch(self, account_id, fax_id, faxbox_id):
        return self._store.get_job(account_id, fax_id, faxbox_id=faxbox_id)

    def on_delete(self, req, resp, account_id, fax_id, faxbox_id=None):
        """Cancel: at once when waiting, by hanging up the call when on one."""
        self.faxbox_scope(account_id, faxbox_id)
        resp.context.data = self._store.cancel_job(account_id, check_id(fax_id), faxbox_id=faxbox_id)


class Batch(Resource):
    """A broadcast's summary: its jobs counted by status."""

    def on_get(self, req, resp, account_id, batch_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        summary = self._store.batch_summary(account_id, check_id(batch_id, "batch"), faxbox_id=faxbox_id)
        if summary is None:
            raise not_found(f"bad identifier: no batch {batch_id}")
        resp.context.data = summary

"""The outbox: final outbound faxes, their documents, resubmission and deletion."""
from __future__ import annotations

import falcon

from faxd.api.resources.actions import read_action
from faxd.api.resources.base import Entry, Folder, check_id, send_attachment
from faxd.api.schemas import JOB_SYSTEM_FIELDS, validate_job
from faxd.policy import require_submission


class Outbox(Folder):
    def page(self, account_id, query, faxbox_id):
        return self._store.list_jobs(account_id, "outbox", query, faxbox_id=faxbox_id)


class OutboxItem(Entry):
    missing = "bad identifier: fax {id} not found in the outbox"

    def fetch(self, account_id, fax_id, faxbox_id):
        return self._store.get_job(account_id, fax_id, folder="outbox", faxbox_id=faxbox_id)

    def on_get(self, req, resp, account_id, fax_id, faxbox_id=None):
        resp.context.data = self.entry(account_id, fax_id, faxbox_id)

    def on_put(self, req, resp, account_id, fax_id, faxbox_id=None):
        """Resubmit: a new job from this one, ``data`` overriding its fields."""
        old = self.entry(account_id, fax_id, faxbox_id)
        _action, overrides = read_action(req, ("resubmit",))
        base = {k: v for k, v in old.items()
                if k not in JOB_SYSTEM_FIELDS and not k.startswith("_")
                and k not in ("fax_identity_number", "fax_identity_name", "attempts", "send_at", "expires_at",
                              "ttl")}
        for k in ("fax_identity_number", "fax_identity_name"):
            if old.get(k):
                base[k] = old[k]
        doc = validate_job({**base, **overrides}, region=self._config.default_region, has_documents=True)
        require_submission(self._store, self._config, account_id, doc["to_number"])
        job = self._store.resubmit_job(account_id, fax_id, doc, faxbox_id=faxbox_id)
        resp.context.data = job
        resp.status = falcon.HTTP_201


    def on_delete(self, req, resp, account_id, fax_id, faxbox_id=None):
        """Remove the fax and every trace of it."""
        self.faxbox_scope(account_id, faxbox_id)
        self._store.delete_job(account_id, check_id(fax_id), faxbox_id=faxbox_id)
        resp.context.data = {"id": fax_id, "deleted": True}

    def on_get_attachment(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.entry(account_id, fax_id, faxbox_id)
        send_attachment(req, resp, lambda role: self._store.get_job_document(account_id, fax_id, role), fax_id)

    def on_delete_attachment(self, req, resp, account_id, fax_id, faxbox_id=None):
        """Remove the documents, keep the metadata."""
        self.faxbox_scope(account_id, faxbox_id)
        self._store.delete_job_documents(account_id, check_id(fax_id), folder="outbox", faxbox_id=faxbox_id)
        resp.context.data = self._store.get_job(account_id, fax_id)

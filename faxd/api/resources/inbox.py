"""The inbox: received faxes, their documents, forwarding and deletion."""
from __future__ import annotations

import falcon

from faxd.api.resources.actions import read_action
from faxd.api.resources.base import Entry, Folder, check_id, send_attachment
from faxd.api.schemas import faxbox_defaults, validate_job
from faxd.policy import require_submission


class Inbox(Folder):
    def page(self, account_id, query, faxbox_id):
        return self._store.list_inbox(account_id, query, faxbox_id=faxbox_id)


class InboxItem(Entry):
    missing = "bad identifier: fax {id} not found in the inbox"

    def fetch(self, account_id, fax_id, faxbox_id):
        return self._store.get_inbox_fax(account_id, fax_id, faxbox_id=faxbox_id)

    def on_get(self, req, resp, account_id, fax_id, faxbox_id=None):
        resp.context.data = self.entry(account_id, fax_id, faxbox_id)

    def on_put(self, req, resp, account_id, fax_id, faxbox_id=None):
        """Forward: send the received fax on, as a new outbound job."""
        fax = self.entry(account_id, fax_id, faxbox_id)
        _action, data = read_action(req, ("forward",))
        box = self._store.get_faxbox(account_id, fax["faxbox_id"]) if fax.get("faxbox_id") else None
        defaults = {"from_number": fax["to_number"]}
        defaults.update(faxbox_defaults(box))
        doc = validate_job(data, region=self._config.default_region, has_documents=True, defaults=defaults)
        require_submission(self._store, self._config, account_id, doc["to_number"])
        job = self._store.forward_inbox_fax(account_id, fax_id, doc, faxbox_id=faxbox_id)
        resp.context.data = job
        resp.status = falcon.HTTP_201


    def on_delete(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        self._store.delete_inbox_fax(account_id, check_id(fax_id), faxbox_id=faxbox_id)
        resp.context.data = {"id": fax_id, "deleted": True}

    def on_get_attachment(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.entry(account_id, fax_id, faxbox_id)
        send_attachment(req, resp, lambda role: self._store.get_inbox_document(account_id, fax_id, role), fax_id)

    def on_delete_attachment(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        self._store.delete_inbox_documents(account_id, check_id(fax_id), faxbox_id=faxbox_id)
        resp.context.data = self._store.get_inbox_fax(account_id, fax_id)

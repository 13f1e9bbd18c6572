"""The inbox: received faxes, their documents, forwarding and deletion."""
from __future__ import annotations

from faxd.api.resources.base import FinalFax, Folder
from faxd.api.schemas import faxbox_defaults


class Inbox(Folder):
    def page(self, account_id, query, faxbox_id):
        return self._store.list_inbox(account_id, query, faxbox_id=faxbox_id)


class InboxItem(FinalFax):
    missing = "bad identifier: fax {id} not found in the inbox"
    action = "forward"

    def fetch(self, account_id, fax_id, faxbox_id):
        return self._store.get_inbox_fax(account_id, fax_id, faxbox_id=faxbox_id)

    def job_request(self, account_id, fax, data):
        """Forward: send the received fax on, from the number it was sent to, with its faxbox's defaults."""
        box = self._store.get_faxbox(account_id, fax["faxbox_id"]) if fax.get("faxbox_id") else None
        return data, {"from_number": fax["to_number"], **faxbox_defaults(box)}

    def queue(self, account_id, fax_id, doc, faxbox_id):
        return self._store.forward_inbox_fax(account_id, fax_id, doc, faxbox_id=faxbox_id)

    def remove(self, account_id, fax_id, faxbox_id):
        self._store.delete_inbox_fax(account_id, fax_id, faxbox_id=faxbox_id)

    def remove_documents(self, account_id, fax_id, faxbox_id):
        self._store.delete_inbox_documents(account_id, fax_id, faxbox_id=faxbox_id)
        return self._store.get_inbox_fax(account_id, fax_id)

    def document(self, account_id, fax_id, role):
        return self._store.get_inbox_document(account_id, fax_id, role)

"""Calls being received right now, with live progress."""
from __future__ import annotations

from faxd.api.resources.base import Entry, Folder


class Incoming(Folder):
    def page(self, account_id, query, faxbox_id):
        return self._store.list_incoming_calls(account_id, query, faxbox_id=faxbox_id)


class IncomingItem(Entry):
    missing = "bad identifier: no call {id} being received"

    def fetch(self, account_id, fax_id, faxbox_id):
        return self._store.get_incoming_call(account_id, fax_id, faxbox_id=faxbox_id)

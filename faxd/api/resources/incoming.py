"""Calls being received right now, with live progress."""
from __future__ import annotations

from faxd.api.errors import not_found
from faxd.api.params import list_query
from faxd.api.resources.base import Resource, check_id


class Incoming(Resource):
    def on_get(self, req, resp, account_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        page = self._store.list_incoming_calls(account_id, list_query(req), faxbox_id=faxbox_id)
        resp.context.data = page.rows
        resp.context.page = page


class IncomingItem(Resource):
    def on_get(self, req, resp, account_id, fax_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        call = self._store.get_incoming_call(account_id, check_id(fax_id), faxbox_id=faxbox_id)
        if call is None:
            raise not_found(f"bad identifier: no call {fax_id} being received")
        resp.context.data = call

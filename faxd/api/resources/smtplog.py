"""Every email-to-fax attempt, with its errors."""
from __future__ import annotations

from faxd.api.errors import not_found
from faxd.api.params import list_query
from faxd.api.resources.base import Resource, check_id


class Smtplog(Resource):
    def on_get(self, req, resp, account_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        page = self._store.list_smtplog(account_id, list_query(req), faxbox_id=faxbox_id)
        resp.context.data = page.rows
        resp.context.page = page


class SmtplogItem(Resource):
    def on_get(self, req, resp, account_id, attempt_id, faxbox_id=None):
        self.faxbox_scope(account_id, faxbox_id)
        entry = self._store.get_smtplog_entry(account_id, check_id(attempt_id, "attempt"), faxbox_id=faxbox_id)
        if entry is None:
            raise not_found(f"bad identifier: no smtplog entry {attempt_id}")
        resp.context.data = entry

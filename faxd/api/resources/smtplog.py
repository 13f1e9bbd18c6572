"""Every email-to-fax attempt, with its errors."""
from __future__ import annotations

from faxd.api.resources.base import Entry, Folder


class Smtplog(Folder):
    def page(self, account_id, query, faxbox_id):
        return self._store.list_smtplog(account_id, query, faxbox_id=faxbox_id)


class SmtplogItem(Entry):
    kind = "attempt"
    id_field = "attempt_id"
    missing = "bad identifier: no smtplog entry {id}"

    def fetch(self, account_id, attempt_id, faxbox_id):
        return self._store.get_smtplog_entry(account_id, attempt_id, faxbox_id=faxbox_id)

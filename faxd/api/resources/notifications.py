"""An account's notifications (email, SMS, webhooks) and whether they were delivered."""
from __future__ import annotations

from faxd.api.resources.base import Folder


class Notifications(Folder):
    def page(self, account_id, query, faxbox_id):
        return self._store.list_account_notifications(account_id, query)

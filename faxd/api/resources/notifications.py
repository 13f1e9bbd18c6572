"""An account's notifications (email, SMS, webhooks) and whether they were delivered."""
from __future__ import annotations

from faxd.api.params import list_query
from faxd.api.resources.base import Resource


class Notifications(Resource):
    def on_get(self, req, resp, account_id):
        page = self._store.list_account_notifications(account_id, list_query(req))
        resp.context.data = page.rows
        resp.context.page = page

"""Store methods: calls being received right now (GET /faxes/incoming), read side."""
from __future__ import annotations

from faxd.models import gregorian
from faxd.store.listing import ListQuery, Listing, Page, account_scope, list_page, read_in_scope

# A row whose lease ran out belongs to a node that died mid-call: not live.
LIVE = "lease_expires IS NULL OR lease_expires > now()"

INCOMING_LISTING = Listing(
    table="incoming_calls",
    columns=("id, account_id, faxbox_id, call_id, node, switch, from_number, from_name, to_number, "
             "progress, lease_expires, created, modified"),
    filters=("id", "call_id", "faxbox_id", "from_number", "to_number", "switch"),
    aliases={"from": "from_number", "to": "to_number"},
)


def incoming_view(row: dict) -> dict:
    progress = {"stage": "answer", "pages_received": 0, "fax_speed": 0, "text": "Receiving"}
    progress.update(row.get("progress") or {})
    return {
        "id": row["id"], "status": "receiving", "call_id": row["call_id"],
        "faxbox_id": row["faxbox_id"], "from_number": row["from_number"],
        "from_name": row["from_name"], "to_number": row["to_number"], "switch": row["switch"],
        "progress": progress, "created": gregorian(row["created"]),
        "modified": gregorian(row["modified"]),
    }


class IncomingMixin:
    def get_incoming_call(self, account_id: str, call_row_id: str, faxbox_id: str | None = None) -> dict | None:
        return read_in_scope(self, "get_incoming_call", call_row_id, account_id, faxbox_id, view=incoming_view)

    def list_incoming_calls(self, account_id: str, q: ListQuery, faxbox_id: str | None = None) -> Page:
        return list_page(self, INCOMING_LISTING, account_scope(account_id, faxbox_id), q, where=LIVE,
                         view=incoming_view)

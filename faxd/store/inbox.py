"""Store methods: received faxes (the inbox) as the API sees them."""
from __future__ import annotations

from typing import Any

from faxd.errors import NotFound
from faxd.models import gregorian
from faxd.store.jobs import tx_view
from faxd.store.listing import ListQuery, Listing, Page, account_scope, list_page, read_in_scope

_SYSTEM = frozenset({"id", "status", "created", "modified", "rx_result", "page_count", "faxbox_id",
                     "from_number", "from_name", "to_number", "call_id", "revision"})

INBOX_LISTING = Listing(
    table="inbox",
    columns="id, faxbox_id, status, from_number, from_name, to_number, page_count, rx_result, created, modified",
    filters=("id", "status", "faxbox_id", "from_number", "from_name", "to_number", "page_count", "call_id"),
    aliases={"from": "from_number", "to": "to_number"},
    doc_column="doc",
)


def inbox_view(row: dict) -> dict:
    doc = row.get("doc") or {}
    out: dict[str, Any] = {k: v for k, v in doc.items() if k not in _SYSTEM}
    out.update(
        id=row["id"], status=row["status"], faxbox_id=row["faxbox_id"], call_id=row["call_id"],
        from_number=row["from_number"], from_name=row["from_name"], to_number=row["to_number"],
        page_count=row["page_count"], rx_result=tx_view(row["rx_result"]),
        created=gregorian(row["created"]), modified=gregorian(row["modified"]),
        _rev=row["revision"],
    )
    return out


def inbox_summary(row: dict) -> dict:
    rx = row.get("rx_result") or {}
    return {
        "id": row["id"], "status": row["status"], "from": row["from_number"],
        "from_name": row["from_name"], "to": row["to_number"], "faxbox_id": row["faxbox_id"],
        "page_count": row["page_count"], "success": bool(rx.get("success", row["status"] == "received")),
        "created": gregorian(row["created"]), "modified": gregorian(row["modified"]),
    }


class InboxMixin:
    def get_inbox_fax(self, account_id: str, fax_id: str, faxbox_id: str | None = None) -> dict | None:
        return read_in_scope(self, "get_inbox_fax", fax_id, account_id, faxbox_id, view=inbox_view)

    def list_inbox(self, account_id: str, q: ListQuery, faxbox_id: str | None = None) -> Page:
        return list_page(self, INBOX_LISTING, account_scope(account_id, faxbox_id), q, view=inbox_summary)

    def _locked_inbox_fax(self, c, account_id, fax_id, faxbox_id):
        row = self._one("lock_inbox_fax", {"id": fax_id, "account_id": account_id}, cur=c)
        if row is None or (faxbox_id is not None and row["faxbox_id"] != faxbox_id):
            raise NotFound(f"fax {fax_id} not found in the inbox")
        return row

    def delete_inbox_fax(self, account_id: str, fax_id: str, faxbox_id: str | None = None) -> None:
        """Remove a received fax and every trace of it (documents, notifications)."""
        with self.transaction() as c:
            self._locked_inbox_fax(c, account_id, fax_id, faxbox_id)
            params = {"id": fax_id, "account_id": account_id}
            self._one("delete_inbox_notifications", params, cur=c)
            self._one("delete_inbox_fax", params, cur=c)

    def delete_inbox_documents(self, account_id: str, fax_id: str, faxbox_id: str | None = None) -> None:
        with self.transaction() as c:
            self._locked_inbox_fax(c, account_id, fax_id, faxbox_id)
            self._one("delete_inbox_documents", {"id": fax_id, "account_id": account_id}, cur=c)

    def get_inbox_document(self, account_id: str, fax_id: str, role: str) -> dict | None:
        return self.opened(self.read_one("get_inbox_document", {"id": fax_id, "account_id": account_id,
                                                                "role": role}))

"""Store methods: an account's notifications and their delivery state (GET /notifications), read side."""
from __future__ import annotations

from faxd.models import gregorian
from faxd.store.listing import InvalidListQuery, ListQuery, Listing, Page, decode_key, list_page

NOTIFICATION_LISTING = Listing(
    table="notifications",
    columns=("id, event_id, channel, event, job_id, inbox_id, smtplog_id, target, status, attempts, "
             "next_attempt, last_error, created, delivered"),
    filters=("event_id", "channel", "event", "status", "inbox_id", "smtplog_id", "target"),
    aliases={"fax_id": "job_id"},
)


def notification_view(row: dict) -> dict:
    pending = row["status"] == "pending"
    return {
        "event_id": row["event_id"], "event": row["event"], "channel": row["channel"],
        "target": row["target"], "status": row["status"], "attempts": row["attempts"],
        "last_error": row["last_error"] or "",
        "next_attempt": gregorian(row["next_attempt"]) if pending else "undefined",
        "fax_id": row["job_id"], "inbox_id": row["inbox_id"], "smtplog_id": row["smtplog_id"],
        "created": gregorian(row["created"]),
        "delivered": gregorian(row["delivered"]) if row["delivered"] else "undefined",
    }


class NotificationLogMixin:
    def list_account_notifications(self, account_id: str, q: ListQuery) -> Page:
        if q.start_key is not None and not decode_key(q.start_key)[1].isdigit():
            # The row id of this table is a number: anything else is not a key we gave out.
            raise InvalidListQuery("start_key", "format", "not a start key this server gave out")
        return list_page(self, NOTIFICATION_LISTING, {"account_id": account_id}, q, view=notification_view)

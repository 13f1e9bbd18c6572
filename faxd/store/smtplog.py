"""Store methods: the email-to-fax log (GET /faxes/smtplog), read side."""
from __future__ import annotations

from faxd.models import gregorian
from faxd.store.listing import ListQuery, Listing, Page, account_scope, list_page, read_in_scope

SMTPLOG_LISTING = Listing(
    table="smtplog",
    columns=("id, account_id, faxbox_id, mail_from, rcpt_to, subject, original_number, "
             "translated_number, attachments, job_id, errors, smtp_code, smtp_text, created"),
    filters=("id", "faxbox_id", "subject", "original_number", "smtp_code"),
    aliases={"from": "mail_from", "to": "rcpt_to", "number": "translated_number", "fax_id": "job_id"},
)


def smtplog_view(row: dict) -> dict:
    """Kazoo's smtplog names (from, to, number, fax_id) plus the SMTP reply we gave."""
    return {
        "id": row["id"], "faxbox_id": row["faxbox_id"], "from": row["mail_from"],
        "to": row["rcpt_to"], "subject": row["subject"] or "",
        "original_number": row["original_number"], "number": row["translated_number"],
        "attachments": row["attachments"], "fax_id": row["job_id"], "errors": row["errors"],
        "smtp_code": row["smtp_code"], "smtp_text": row["smtp_text"] or "",
        "created": gregorian(row["created"]),
    }


class SmtplogMixin:
    def get_smtplog_entry(self, account_id: str, entry_id: str, faxbox_id: str | None = None) -> dict | None:
        return read_in_scope(self, "get_smtplog_entry", entry_id, account_id, faxbox_id, view=smtplog_view)

    def list_smtplog(self, account_id: str, q: ListQuery, faxbox_id: str | None = None) -> Page:
        return list_page(self, SMTPLOG_LISTING, account_scope(account_id, faxbox_id), q, view=smtplog_view)

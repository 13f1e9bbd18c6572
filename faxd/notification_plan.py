"""Who hears about an event: pure functions from a job/inbox/smtplog row to notification rows.

Neutral ground between the store, which queues the rows in the transaction of the change
(``queue_notifications``), the notify flow, which delivers them, and the outbound flow, which
asks whether anyone listens before it builds an event.

Sources (Kazoo's faxbox schema, plus the job's own document):
- faxbox ``notifications.outbound`` / ``notifications.inbound``:
  ``{"email": {"send_to": [...]}, "sms": {"send_to": [...]}, "callback": {"url": ..., "method": ..., "secret": ...}}``
- a job's ``doc.notifications``: ``email.send_to``, ``sms.send_to``, and webhooks in
  ``webhook.url`` (a URL or a list of URLs) or ``callback.url`` (Kazoo's spelling).
  Mail-to-fax jobs get ``email.send_to`` = the sender.

Channels per event: webhooks for every event; email and SMS for the outcomes people act on
(outbound success and final failure, inbound success and failure; email also for a refused mail).
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Iterable

from faxd.models import gregorian

OUTBOUND_EVENTS = ("outbound_queued", "outbound_processing", "outbound_success",
                   "outbound_failure", "outbound_cancelled")
INBOUND_EVENTS = ("inbound_success", "inbound_failure")
EVENTS = OUTBOUND_EVENTS + INBOUND_EVENTS + ("smtp_refused",)

EMAIL_EVENTS = frozenset({"outbound_success", "outbound_failure", "inbound_success",
                          "inbound_failure", "smtp_refused"})
SMS_EVENTS = frozenset({"outbound_success", "outbound_failure", "inbound_success", "inbound_failure"})

# smtplog errors that mean the sender must not hear back (unknown box, sender not allowed):
# a reply would be backscatter to a possibly forged address.
SILENT_SMTP_REFUSALS = ("unknown_faxbox", "sender_not_allowed", "invalid_recipient", "auth_required",
                        "invalid_address")

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[,;\s]+", value)]
    if not isinstance(value, (list, tuple)):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _unique(items: Iterable[tuple], key=lambda t: t) -> list[tuple]:
    seen, out = set(), []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def settings_for(event: str, row: dict) -> list[dict]:
    """The notification settings blocks that apply (faxbox direction block, then the job's own)."""
    faxbox = _dict(row.get("faxbox_notifications"))
    if event in INBOUND_EVENTS:
        return [_dict(faxbox.get("inbound"))]
    blocks = [_dict(faxbox.get("outbound"))]
    if event != "smtp_refused":
        blocks.append(_dict(_dict(row.get("doc")).get("notifications")))
    return blocks


def webhook_targets(blocks: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for block in blocks:
        for key in ("callback", "webhook"):
            cb = block.get(key)
            for cb in (cb if isinstance(cb, list) else [cb]):
                if isinstance(cb, str):
                    cb = {"url": cb}
                cb = _dict(cb)
                method = str(cb.get("method") or "post").lower()
                opts = {"method": method if method in ("post", "put") else "post"}
                if isinstance(cb.get("secret"), str) and cb["secret"]:
                    opts["secret"] = cb["secret"]
                for url in _as_list(cb.get("url")):
                    if url.lower().startswith(("http://", "https://")):
                        out.append((url, opts))
    return _unique(out, key=lambda t: t[0])


def plan(event: str, row: dict) -> list[tuple[str, str, dict]]:
    """``(channel, target, options)`` for every notification ``event`` about ``row`` needs."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    blocks = settings_for(event, row)
    if not any(blocks) and event != "smtp_refused":
        return []  # nothing configured: the common case, on every call
    out: list[tuple[str, str, dict]] = []
    final_failure = event != "outbound_failure" or row.get("status") in ("failed", None)
    if event in EMAIL_EVENTS and final_failure:
        emails: list[str] = []
        if event == "smtp_refused":
            errors = [str(e) for e in (row.get("errors") or [])]
            silent = any(e.startswith(SILENT_SMTP_REFUSALS) for e in errors)
            # Only a sender the faxbox accepted (authenticated, or on its list) hears back: any
            # other MAIL FROM may be forged, and mail to it would be backscatter.
            if not silent and row.get("sender_accepted") is True and row.get("mail_from"):
                emails.append(row["mail_from"])
        else:
            for block in blocks:
                emails += _as_list(_dict(block.get("email")).get("send_to"))
        emails = [e for e in emails if _EMAIL.match(e)]
        out += [("email", e, {}) for e, in _unique([(e,) for e in emails], key=lambda t: t[0].lower())]
    if event in SMS_EVENTS and final_failure:
        numbers: list[str] = []
        for block in blocks:
            numbers += _as_list(_dict(block.get("sms")).get("send_to"))
        out += [("sms", n, {}) for n, in _unique([(n,) for n in numbers])]
    out += [("webhook", url, opts) for url, opts in webhook_targets(blocks)]
    return out


def _iso(value) -> str | None:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.astimezone(_dt.timezone.utc).isoformat()
    return value


def snapshot(event: str, row: dict, now: _dt.datetime) -> dict:
    """The event as webhooks see it (JSON-ready); emails and SMS render from it too."""
    base = {
        "event": event,
        "timestamp": gregorian(now),
        "occurred": _iso(now),
        "account_id": row.get("account_id"),
        "faxbox_id": row.get("faxbox_id"),
        "faxbox_name": row.get("faxbox_name"),
        "timezone": row.get("timezone") or "UTC",
    }
    if event in OUTBOUND_EVENTS:
        doc = _dict(row.get("doc"))
        base.update({
            "fax_id": row["id"], "job_id": row["id"], "direction": "outbound",
            "status": row.get("status"), "source": row.get("source"),
            "to_number": row.get("to_number"), "from_number": row.get("from_number"),
            "to_name": row.get("to_name"), "from_name": row.get("from_name"),
            "subject": doc.get("subject"),
            "attempts": row.get("attempts"), "retries": row.get("retries"),
            "page_count": row.get("page_count"), "error": row.get("error"),
            "tx_result": _dict(row.get("tx_result")),
            "created": gregorian(row.get("created")), "modified": gregorian(row.get("modified")),
            "delivered": gregorian(row.get("delivered")),
            "created_at": _iso(row.get("created")), "delivered_at": _iso(row.get("delivered")),
        })
    elif event in INBOUND_EVENTS:
        base.update({
            "fax_id": row["id"], "inbox_id": row["id"], "direction": "inbound",
            "status": row.get("status"), "call_id": row.get("call_id"),
            "to_number": row.get("to_number"), "from_number": row.get("from_number"),
            "from_name": row.get("from_name"), "page_count": row.get("page_count"),
            "rx_result": _dict(row.get("rx_result")),
            "created": gregorian(row.get("created")), "created_at": _iso(row.get("created")),
        })
    else:
        base.update({
            "smtplog_id": row["id"], "direction": "email",
            "mail_from": row.get("mail_from"), "rcpt_to": row.get("rcpt_to"),
            "subject": row.get("subject"), "original_number": row.get("original_number"),
            "translated_number": row.get("translated_number"),
            "attachments": row.get("attachments") or [], "errors": row.get("errors") or [],
            "smtp_code": row.get("smtp_code"), "smtp_text": row.get("smtp_text"),
            "created": gregorian(row.get("created")), "created_at": _iso(row.get("created")),
        })
    return base

"""Notification texts: email subject/body and SMS, rendered from an event snapshot.

Times are shown in the faxbox's time zone (``fax_timezone``, else the account's, else UTC).
Attachment names are safe on every OS: ASCII letters, digits, ``+-._`` only, no Windows
reserved device names, at most 100 characters.
"""
from __future__ import annotations

import datetime as _dt
import re
import unicodedata
import zoneinfo

from faxd.models import from_gregorian

_UNSAFE = re.compile(r"[^A-Za-z0-9+._-]+")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def safe_filename(name: str, default: str = "fax", ext: str = ".pdf") -> str:
    """A file name that every mail client and file system accepts, ending in ``ext``."""
    name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii")
    if ext and name.lower().endswith(ext.lower()):
        name = name[: -len(ext)]
    name = _UNSAFE.sub("_", name).strip("._ ")
    name = re.sub(r"_{2,}", "_", name)
    if not name or name.split(".")[0].upper() in _RESERVED:
        name = f"{default}_{name}" if name else default
    name = name[: 100 - len(ext)].rstrip("._ ")
    return name + ext


def _zone(name: str | None) -> _dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return _dt.timezone.utc


def local_time(gregorian_seconds: int | None, tz: str | None) -> str:
    """``2026-11-26 10:30:05 EST`` in the faxbox's zone ("" when unknown)."""
    if not gregorian_seconds:
        return ""
    t = from_gregorian(int(gregorian_seconds)).astimezone(_zone(tz))
    return t.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _result(p: dict) -> dict:
    return p.get("tx_result") or p.get("rx_result") or {}


def reason(p: dict) -> str:
    """Why a fax failed, in words."""
    r = _result(p)
    for text in (r.get("error_message"), r.get("result_text"), p.get("error"), r.get("hangup_cause")):
        if text:
            return str(text)
    if p.get("errors"):
        return "; ".join(str(e).split(": ", 1)[-1] for e in p["errors"])
    return p.get("smtp_text") or "unknown error"


def _pages(p: dict) -> int:
    r = _result(p)
    return int(r.get("pages_sent") or r.get("transferred_pages") or p.get("page_count") or 0)


def _lines(p: dict) -> list[str]:
    r = _result(p)
    tz = p.get("timezone") or "UTC"
    rows = [
        ("Faxbox", p.get("faxbox_name")),
        ("To", p.get("to_number")),
        ("From", " ".join(x for x in (p.get("from_name"), p.get("from_number")) if x)),
        ("Subject", p.get("subject")),
        ("Pages", _pages(p) if (_pages(p) or r) else None),
        ("Speed", f"{r['fax_speed']} bps" if r.get("fax_speed") else None),
        ("Remote station", r.get("fax_receiver_id") or r.get("remote_station_id")),
        ("Error correction", ("yes" if r.get("fax_error_correction") else "no") if r else None),
        ("Submitted" if p.get("direction") == "outbound" else "Received", local_time(p.get("created"), tz)),
        ("Completed", local_time(p.get("delivered"), tz) if p.get("delivered") else None),
        ("Attempts", p.get("attempts") if p.get("direction") == "outbound" else None),
        ("Fax id", p.get("fax_id")),
    ]
    width = max(len(k) for k, _ in rows)
    return [f"{k + ':':<{width + 1}} {v}" for k, v in rows if v not in (None, "")]


def email(event: str, p: dict, has_pdf: bool) -> tuple[str, str]:
    """``(subject, plain-text body)`` for an email notification."""
    pages = _pages(p)
    if event == "outbound_success":
        subject = f"Fax sent to {p.get('to_number')} ({pages} page{'s' if pages != 1 else ''})"
        intro = f"Your fax to {p.get('to_number')} was delivered."
    elif event == "outbound_failure":
        subject = f"Fax to {p.get('to_number')} failed: {reason(p)}"
        intro = f"Your fax to {p.get('to_number')} could not be delivered: {reason(p)}."
    elif event == "inbound_success":
        subject = f"Fax received from {p.get('from_number') or 'unknown'} ({pages} page{'s' if pages != 1 else ''})"
        intro = f"A fax from {p.get('from_number') or 'an unknown number'} arrived for {p.get('to_number')}."
    elif event == "inbound_failure":
        subject = f"Fax from {p.get('from_number') or 'unknown'} not received: {reason(p)}"
        intro = f"A fax from {p.get('from_number') or 'an unknown number'} to {p.get('to_number')} " \
                f"could not be received: {reason(p)}."
    elif event == "smtp_refused":
        number = p.get("translated_number") or p.get("original_number") or p.get("rcpt_to")
        subject = f"Your fax to {number} was not sent"
        intro = (f"Your email to {p.get('rcpt_to')} was refused and no fax was sent: {reason(p)}.")
        lines = [intro, "", f"Subject:  {p.get('subject') or ''}",
                 f"Sent:     {local_time(p.get('created'), p.get('timezone'))}"]
        names = [a.get("filename") or "(unnamed)" for a in p.get("attachments") or [] if isinstance(a, dict)]
        if names:
            lines.append("Attachments: " + ", ".join(names))
        lines += ["", "Attach PDF, TIFF, PNG, JPEG or plain-text files and send the email again."]
        return _clean(subject), "\n".join(lines) + "\n"
    else:
        subject, intro = f"Fax {event.replace('_', ' ')}", f"Fax event: {event}."
    body = [intro, ""] + _lines(p)
    if has_pdf:
        body += ["", "The fax is attached as a PDF."]
    return _clean(subject), "\n".join(body) + "\n"


def sms(event: str, p: dict) -> str:
    """A short text (fits one 160-character SMS for usual numbers and reasons)."""
    pages = _pages(p)
    if event == "outbound_success":
        text = f"Fax to {p.get('to_number')} sent, {pages} page(s)."
    elif event == "outbound_failure":
        text = f"Fax to {p.get('to_number')} failed: {reason(p)}"
    elif event == "inbound_success":
        text = f"Fax from {p.get('from_number') or 'unknown'} received, {pages} page(s)."
    elif event == "inbound_failure":
        text = f"Fax from {p.get('from_number') or 'unknown'} not received: {reason(p)}"
    else:
        text = f"Fax {event.replace('_', ' ')}"
    return text if len(text) <= 160 else text[:157] + "..."


def _clean(subject: str) -> str:
    """One line, no control characters (header injection), at most 200 characters."""
    subject = re.sub(r"[\x00-\x1f\x7f]+", " ", subject).strip()
    return subject[:200]


def pdf_name(event: str, p: dict) -> str:
    """``fax-to-+12025550123-20261126-103005.pdf`` (local time of the faxbox)."""
    other = p.get("to_number") if p.get("direction") == "outbound" else p.get("from_number")
    stamp = ""
    when = p.get("delivered") or p.get("created")
    if when:
        stamp = from_gregorian(int(when)).astimezone(_zone(p.get("timezone"))).strftime("%Y%m%d-%H%M%S")
    word = "fax-to" if p.get("direction") == "outbound" else "fax-from"
    return safe_filename("-".join(x for x in (word, other or "unknown", stamp) if x))

"""Validation of fax and faxbox documents, as the seed's schema states.

Errors are collected, not raised one by one, so a client sees every problem at once, in
Kazoo's shape: ``{"<field>": {"<rule>": {"message": ..., "target"?: ...}}}`` (nested fields
are named with dots, e.g. ``document.url``). Unknown fields are kept; private ones
(``pvt_*``, ``_*``) and system-owned ones are dropped.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from faxd import passwords, schedule
from faxd.policy import RETENTION_KEYS, retention_problem
from faxd.documents import cover as covers
from faxd.api.errors import invalid_data
from faxd.numbers import InvalidNumber, normalize

REQUIRED = "Field is required but missing"
_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class Errors:
    def __init__(self):
        self.errors: dict[str, dict] = {}

    def add(self, field: str, rule: str, message: str, **extra: Any) -> None:
        self.errors.setdefault(field, {})[rule] = {"message": message, **extra}

    def raise_if_any(self) -> None:
        if self.errors:
            raise invalid_data(self.errors)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items()
            if isinstance(k, str) and not (k.startswith("pvt_") or k.startswith("_"))}


def _client_fields(errs: Errors, data: Any, system_fields) -> dict:
    """The request's object without its private and system-owned fields (400 when not an object)."""
    if not isinstance(data, dict):
        errs.add("data", "type", "Value did not match type(s): object")
        errs.raise_if_any()
    doc = _public(data)
    for name in system_fields:
        doc.pop(name, None)
    return doc


def _string(errs: Errors, doc: dict, field: str, name: str | None = None, *, required=False,
            min_len: int | None = None, max_len: int | None = None) -> str | None:
    name = name or field
    if field not in doc or doc[field] is None:
        if required:
            errs.add(name, "required", REQUIRED)
        return None
    v = doc[field]
    if not isinstance(v, str):
        errs.add(name, "type", "Value did not match type(s): string", value=_safe(v))
        return None
    if min_len is not None and len(v) < min_len:
        errs.add(name, "minLength", f"String must be at least {min_len} characters", target=min_len)
    if max_len is not None and len(v) > max_len:
        errs.add(name, "maxLength", f"String must not be more than {max_len} characters", target=max_len)
    return v


def _shown(limit: float) -> str:
    return f"{limit:g}" if isinstance(limit, float) else str(limit)


def _bounded(errs: Errors, doc: dict, field: str, lo: float, hi: float, *, kind: str,
             default: float | None = None) -> float | None:
    """An ``integer``, or a ``number`` (an integer or a decimal, as a duration in seconds),
    within [lo, hi]; ``default`` when absent or of another type."""
    if field not in doc or doc[field] is None:
        return default
    v = doc[field]
    if not _is_int(v) and (kind == "integer" or not isinstance(v, float) or v != v):
        errs.add(field, "type", f"Value did not match type(s): {kind}", value=_safe(v))
        return default
    if v < lo:
        errs.add(field, "minimum", f"Value must be at least {_shown(lo)}", target=lo, value=v)
    elif v > hi:
        errs.add(field, "maximum", f"Value must be at most {_shown(hi)}", target=hi, value=v)
    return v


def _number(errs: Errors, doc: dict, field: str, region: str, *, required: bool) -> str | None:
    v = _string(errs, doc, field, required=required)
    if v is None:
        return None
    try:
        return normalize(v, region)
    except InvalidNumber as e:
        errs.add(field, "format", f"not a valid phone number: {e.reason}", value=v)
        return None


def _object(errs: Errors, doc: dict, field: str, name: str | None = None) -> dict | None:
    name = name or field
    if field not in doc or doc[field] is None:
        return None
    v = doc[field]
    if not isinstance(v, dict):
        errs.add(name, "type", "Value did not match type(s): object", value=_safe(v))
        return None
    return v


def _recipients(errs: Errors, obj: dict, name: str) -> None:
    if "send_to" not in obj:
        return
    v = obj["send_to"]
    if isinstance(v, str):
        return
    if isinstance(v, list) and all(isinstance(i, str) for i in v):
        return
    errs.add(f"{name}.send_to", "type", "Value did not match type(s): array(string()), string()")


def _notifications(errs: Errors, doc: dict, prefix: str = "notifications") -> None:
    notes = _object(errs, doc, "notifications", prefix)
    if notes is None:
        return
    for channel in ("email", "sms"):
        obj = _object(errs, notes, channel, f"{prefix}.{channel}")
        if obj is not None:
            _recipients(errs, obj, f"{prefix}.{channel}")
    hooks = notes.get("webhook")
    if hooks is not None:
        if isinstance(hooks, dict):
            _webhook_urls(errs, hooks, f"{prefix}.webhook.url")
        else:
            errs.add(f"{prefix}.webhook", "type", "Value did not match type(s): object")


MAX_WEBHOOK_URLS = 10


def _webhook_urls(errs: Errors, hooks: dict, name: str) -> None:
    """``url``: one http(s) URL or a list of them (each is called)."""
    urls = hooks.get("url")
    if urls is None:
        return
    if isinstance(urls, str):
        urls = [urls]
    elif not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        errs.add(name, "type", "Value did not match type(s): array(string()), string()", value=_safe(urls))
        return
    if len(urls) > MAX_WEBHOOK_URLS:
        errs.add(name, "maxItems", f"at most {MAX_WEBHOOK_URLS} URLs", target=MAX_WEBHOOK_URLS)
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https"):
            errs.add(name, "format", "must be an http or https URL", value=_safe(url))


def _safe(v: Any) -> Any:
    """A rejected value, echoed back only when small and plain."""
    if isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 64):
        return v
    return type(v).__name__ if not isinstance(v, str) else v[:64]


# --- fax jobs

# How long a job's call may ring before it is given up (seconds); FreeSWITCH and Asterisk
# round it to whole seconds (at least 1).
RING_TIMEOUT_MIN, RING_TIMEOUT_MAX = 0.1, 600.0

JOB_SYSTEM_FIELDS = ("id", "status", "created", "modified", "delivered", "tx_result", "progress",
                     "page_count", "attempt_history", "revision", "faxbox_id", "source", "origin_id")


def validate_job(data: Any, *, region: str, has_documents: bool, defaults: dict | None = None,
                 now: datetime | None = None) -> dict:
    """The job document to store: numbers in E.164, defaults applied, unknown fields kept.

    ``has_documents``: the request carried the document itself (multipart), so
    ``document.url`` is not required. ``defaults`` come from the faxbox. ``send_at``,
    ``expires_at``/``ttl`` and ``send_window`` are checked and stored as faxd/schedule.py says.
    """
    errs = Errors()
    doc = _client_fields(errs, data, JOB_SYSTEM_FIELDS)
    for key, value in (defaults or {}).items():
        if doc.get(key) in (None, ""):
            doc[key] = value

    to_number = _number(errs, doc, "to_number", region, required=True)
    from_number = _number(errs, doc, "from_number", region, required=True)
    for field in ("to_name", "from_name", "subject", "fax_timezone", "fax_header",
                  "fax_identity_name"):
        _string(errs, doc, field)
    if "fax_identity_number" in doc:
        ident = _number(errs, doc, "fax_identity_number", region, required=False)
        if ident is not None:
            doc["fax_identity_number"] = ident
    retries = _bounded(errs, doc, "retries", 0, 4, kind="integer", default=1)
    _bounded(errs, doc, "attempts", 0, 4, kind="integer", default=0)
    _bounded(errs, doc, "ring_timeout", RING_TIMEOUT_MIN, RING_TIMEOUT_MAX, kind="number")
    _notifications(errs, doc)
    _cover_page(errs, doc)

    document = _object(errs, doc, "document")
    if document is None and "document" not in doc and not has_documents:
        errs.add("document.url", "required", REQUIRED)
    if document is not None:
        url = _string(errs, document, "url", "document.url", required=not has_documents, min_len=7)
        if url is not None and len(url) >= 7:
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                errs.add("document.url", "format", "must be an http or https URL", value=_safe(url))
        method = document.get("method", "get")
        if method is None:
            method = "get"
        if not isinstance(method, str):
            errs.add("document.method", "type", "Value did not match type(s): string")
        elif method.lower() not in ("get", "post"):
            errs.add("document.method", "enum", "Value not found in enumerated list of values",
                     target=["get", "post"], value=_safe(method))
        else:
            document = {**document, "method": method.lower()}
        _string(errs, document, "content", "document.content", max_len=256)
        for field in ("content_type", "host", "referer"):
            _string(errs, document, field, f"document.{field}")
        doc["document"] = document
    errs.raise_if_any()

    try:
        schedule.normalize(doc, to_number or "", now or datetime.now(timezone.utc))
    except schedule.ScheduleError as e:
        errs.add(e.field, "format", str(e))
    errs.raise_if_any()

    doc["to_number"] = to_number
    doc["from_number"] = from_number
    doc["retries"] = retries
    doc["attempts"] = 0   # set by the system, reset on every put
    return doc


def _cover_page(errs: Errors, doc: dict) -> None:
    cover = doc.get("cover_page")
    if cover is None:
        return
    if not isinstance(cover, dict):
        errs.add("cover_page", "type", "Value did not match type(s): object")
        return
    for field in ("to_name", "from_name", "subject"):
        _string(errs, cover, field, f"cover_page.{field}", max_len=covers.DEFAULT_MAX_FIELD)
    _string(errs, cover, "message", "cover_page.message", max_len=covers.MAX_FIELD["message"])
    _string(errs, cover, "template", "cover_page.template", min_len=1, max_len=covers.TEMPLATE_NAME_MAX)


def check_cover_template(doc: dict, faxbox: dict | None) -> None:
    """A job's ``cover_page.template`` names one of its faxbox's templates (or ``default``)."""
    cover = doc.get("cover_page")
    name = cover.get("template") if isinstance(cover, dict) else None
    if name in (None, "default"):
        return
    if name not in (faxbox or {}).get("cover_templates", {}):
        errs = Errors()
        errs.add("cover_page.template", "not_found",
                 f"no cover page template {name!r} in the faxbox" if faxbox else
                 "only the default cover page is available to a fax sent without a faxbox")
        errs.raise_if_any()


def _cover_templates(errs: Errors, doc: dict) -> None:
    templates = doc.get("cover_templates")
    if templates is None:
        return
    if not isinstance(templates, dict) or len(templates) > 20:
        errs.add("cover_templates", "type", "an object of at most 20 templates: {\"name\": \"text with $fields\"}")
        return
    for name, text in templates.items():
        if not 1 <= len(name) <= covers.TEMPLATE_NAME_MAX or name == "default":
            errs.add("cover_templates", "name", f"template names are 1 to {covers.TEMPLATE_NAME_MAX} characters, "
                                                "and not 'default'")
            continue
        try:
            covers.check_template(text)
        except covers.TemplateError as e:
            errs.add(f"cover_templates.{name}", "template", str(e))


def faxbox_defaults(faxbox: dict | None) -> dict:
    """What a faxbox gives the jobs queued through it (where the job says nothing)."""
    if not faxbox:
        return {}
    out = {}
    pairs = (("from_number", "caller_id"), ("from_name", "caller_name"), ("retries", "retries"),
             ("fax_timezone", "fax_timezone"), ("fax_header", "fax_header"),
             ("fax_identity_name", "fax_identity"), ("fax_identity_number", "caller_id"),
             ("notifications", "notifications"))
    for job_key, box_key in pairs:
        v = faxbox.get(box_key)
        if v not in (None, "", {}):
            out[job_key] = v
    window = faxbox_send_window(faxbox)
    if window is not None:
        out["send_window"] = window
    return out


def faxbox_send_window(faxbox: dict) -> dict | None:
    """The faxbox's send window (kept in its document), the default of the jobs sent through it."""
    window = faxbox.get("send_window", (faxbox.get("doc") or {}).get("send_window"))
    return window if isinstance(window, dict) else None


# --- faxboxes

FAXBOX_SYSTEM_FIELDS = ("id", "smtp_email_address", "created", "modified", "revision")


def _smtp_auth(errs: Errors, doc: dict) -> None:
    """``smtp_auth``: ``{"password": ..., "required": true}`` sets the faxbox's SMTP AUTH password
    (user name: its smtp_email_address); without ``password`` the stored one stays; null removes
    it; absent (a client that knows nothing of it, even replacing the document) keeps it all."""
    if "smtp_auth" not in doc:
        return
    auth = doc["smtp_auth"]
    if auth is None:
        return
    if not isinstance(auth, dict):
        errs.add("smtp_auth", "type", "Value did not match type(s): object")
        return
    out: dict[str, Any] = {"password": None, "required": True}
    password = auth.get("password")
    if password is not None:
        if not isinstance(password, str):
            errs.add("smtp_auth.password", "type", "Value did not match type(s): string")
        elif not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
            errs.add("smtp_auth.password", "minLength" if len(password) < passwords.MIN_LENGTH else "maxLength",
                     f"the SMTP password must have {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters")
        else:
            out["password"] = password
    if "required" in auth:
        if not isinstance(auth["required"], bool):
            errs.add("smtp_auth.required", "type", "Value did not match type(s): boolean")
        else:
            out["required"] = auth["required"]
    # "username" is read-only (the faxbox's smtp_email_address) and ignored, as the GET shows it
    unknown = sorted(k for k in auth if k not in ("password", "required", "username"))
    if unknown:
        errs.add("smtp_auth", "additionalProperties", f"unknown field(s): {', '.join(map(str, unknown))[:200]}")
    doc["smtp_auth"] = out


def validate_faxbox(data: Any, *, region: str) -> dict:
    errs = Errors()
    doc = _client_fields(errs, data, FAXBOX_SYSTEM_FIELDS)
    name = _string(errs, doc, "name", required=True, min_len=1, max_len=128)
    del name
    for field in ("caller_name", "fax_header", "fax_timezone"):
        _string(errs, doc, field, max_len=256)
    # T.30's station identifier (TSI/CSI) holds at most 20 characters.
    _string(errs, doc, "fax_identity", max_len=20)
    if doc.get("caller_id") not in (None, ""):
        cid = _number(errs, doc, "caller_id", region, required=False)
        if cid is not None:
            doc["caller_id"] = cid
    else:
        doc.pop("caller_id", None)
    _bounded(errs, doc, "retries", 0, 4, kind="integer")
    _cover_templates(errs, doc)
    for key in RETENTION_KEYS:
        if doc.get(key) is not None and retention_problem(doc[key]):
            errs.add(key, "type", retention_problem(doc[key]))
    if doc.get("send_window") is not None:
        try:
            schedule.parse_window(doc["send_window"], "+")
        except schedule.ScheduleError as e:
            errs.add(e.field, "format", str(e))
    addr = _string(errs, doc, "custom_smtp_email_address", max_len=254)
    if addr is not None:
        # Mail for this faxbox goes to <number>@<address>: the address is a domain.
        addr = addr.strip().lower().rstrip(".")
        if not _DOMAIN.match(addr):
            errs.add("custom_smtp_email_address", "format",
                     "expected a domain such as fax.example.com (mail goes to <number>@<domain>)")
        doc["custom_smtp_email_address"] = addr
    numbers = doc.get("numbers", [])
    if numbers is None:
        numbers = []
    if not isinstance(numbers, list):
        errs.add("numbers", "type", "Value did not match type(s): array(string())")
        numbers = []
    e164 = []
    for i, n in enumerate(numbers):
        if not isinstance(n, str):
            errs.add(f"numbers.{i}", "type", "Value did not match type(s): string")
            continue
        try:
            e = normalize(n, region)
        except InvalidNumber as ex:
            errs.add(f"numbers.{i}", "format", f"not a valid phone number: {ex.reason}", value=_safe(n))
            continue
        if e in e164:
            errs.add("numbers", "uniqueItems", f"{e} is listed twice", value=e)
        e164.append(e)
    doc["numbers"] = e164
    perms = doc.get("smtp_permission_list", [])
    if perms is None:
        perms = []
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        errs.add("smtp_permission_list", "type", "Value did not match type(s): array(string())")
    else:
        doc["smtp_permission_list"] = perms
    _smtp_auth(errs, doc)
    _notifications(errs, doc)
    media = _object(errs, doc, "media")
    if media is not None and "fax_option" in media:
        opt = media["fax_option"]
        if not (isinstance(opt, bool) or opt == "auto"):
            errs.add("media.fax_option", "enum", "Value not found in enumerated list of values",
                     target=[True, False, "auto"])
    errs.raise_if_any()
    doc.setdefault("smtp_permission_list", [])
    doc.setdefault("notifications", {})
    doc.setdefault("media", {})
    return doc

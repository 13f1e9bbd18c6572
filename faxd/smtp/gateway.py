"""Email-to-fax policy: who may send, to which number, with which attachments.

No SMTP protocol here (that is :mod:`faxd.smtp.server`): these are plain blocking methods
run in their own greenlet per call. Every attempt, accepted or refused, is written to the
smtplog with the reason; a refused email creates no job.

- ``RCPT TO:<number>@<domain>``: ``<domain>`` is a faxbox's generated ``smtp_email_address``
  (``<faxbox_id>.<smtp_domain>``) or its ``custom_smtp_email_address``, compared without case;
  the local part's digits (a leading ``+`` kept, separators and quotes dropped) are the
  destination, normalised to E.164 in ``default_region``.
- A session authenticated (SMTP AUTH, after STARTTLS) with a faxbox's credentials may send
  through that faxbox, whatever its ``MAIL FROM``. A faxbox with ``smtp_auth.required`` takes
  nothing else. Otherwise the sender must match the faxbox's ``smtp_permission_list`` or be its
  owner's address (``owner_email`` in the faxbox document). Entries: an address (``a@b.com``, no
  case), a domain (``b.com`` or ``@b.com``, its subdomains too) or a glob (``*@b.com``,
  ``fax-*@*.b.com``). The list matches a forgeable ``MAIL FROM``: a filter, not authentication.
- A custom domain counts only while ``smtp_custom_domains`` grants it to the faxbox's account.
- Refusal emails (``smtp_refused``) go only to a sender the faxbox accepted (authenticated, or
  on its list): never to an address nobody vouched for (no backscatter).
- DATA: every attachment in order (and a body that is itself a document); each must be a
  supported type and all of them must convert, or the email is refused; one job per
  recipient carries all of them; the subject is kept; ``notifications.email.send_to`` is the sender.
  An email with no attachment at all faxes its text (the plain-text body, or the HTML body's
  text), as a person who types a message to a fax number means it.
"""
from __future__ import annotations

import email
import email.policy
import fnmatch
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

import gevent.lock

from faxd.errors import Conflict, StoreUnavailable
from faxd.smtp import credentials, domains
from faxd.policy import check_submission

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """An SMTP reply and the smtplog error code behind it."""
    code: int
    text: str
    error: str | None = None  # smtplog error code, e.g. "sender_not_allowed"

    def __str__(self) -> str:
        return f"{self.code} {self.text}"

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 400

    def log_line(self) -> str:
        return f"{self.error}: {self.text}" if self.error else self.text


@dataclass
class Recipient:
    """An accepted ``RCPT TO``: the faxbox and destination it maps to."""
    rcpt_to: str
    faxbox: dict
    original_number: str
    translated_number: str
    authenticated: bool = False  # the session logged in with this faxbox's credentials


@dataclass
class Attachment:
    filename: str | None
    declared: str
    data: bytes
    content_type: str | None = None  # detected
    error: str | None = None

    def log(self) -> dict:
        d: dict[str, Any] = {"filename": self.filename, "content_type": self.declared,
                             "size": len(self.data), "accepted": self.content_type is not None and not self.error}
        if self.content_type:
            d["detected_type"] = self.content_type
        if self.error:
            d["error"] = self.error
        return d


# --- pure helpers

_DOMAIN_OK = re.compile(r"^[a-z0-9.-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def split_address(address: str) -> tuple[str, str]:
    """``'"+1 (202) 555-0123"@Box.Fax.Example.'`` -> (local part, lower-case domain)."""
    address = (address or "").strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    local, sep, domain = address.rpartition("@")
    if not sep:
        return address, ""
    local = local.strip()
    if len(local) >= 2 and local[0] == local[-1] == '"':
        local = local[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    domain = domain.strip().strip("[]").rstrip(".").lower()
    return local, domain


def number_from_local_part(local: str) -> str:
    """The dialled digits of a local part, with a leading ``+`` when it had one ('' if none)."""
    local = local.strip()
    plus = local.startswith("+")
    digits = re.sub(r"\D", "", local)
    if not digits:
        return ""
    return ("+" if plus else "") + digits


def sender_allowed(sender: str, permissions: Any, owner_email: str | None = None) -> bool:
    """True when ``sender`` matches one entry of ``permissions`` or is ``owner_email``."""
    sender = (sender or "").strip().strip("<>").lower()
    if not sender or "@" not in sender:
        return False
    if isinstance(owner_email, str) and owner_email.strip().lower() == sender:
        return True
    if isinstance(permissions, str):
        permissions = [permissions]
    if not isinstance(permissions, list):
        return False
    domain = sender.rpartition("@")[2]
    for entry in permissions:
        if not isinstance(entry, str):
            continue
        p = entry.strip().lower()
        if not p:
            continue
        if any(c in p for c in "*?["):
            if fnmatch.fnmatchcase(sender, p):
                return True
        elif "@" in p and not p.startswith("@"):
            if p == sender:
                return True
        else:
            d = p.lstrip("@")
            if domain == d or domain.endswith("." + d):
                return True
    return False


def _part_is_body(part) -> bool:
    """The human-readable text of the email (not an attachment)."""
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return False
    return part.get_content_maintype() in ("text", "multipart", "message")


# Multipart containers (each declares a boundary) in one mail. Real mail has a handful, even a
# forwarded thread a few dozen; far more is a nesting bomb, refused before the parser, which
# recurses once per level, spends time on it.
MAX_MULTIPARTS = 100


class Unparseable(ValueError):
    """The mail's structure cannot be taken apart: refused for good (5.6.0), never retried."""


def count_multiparts(content: bytes, limit: int = MAX_MULTIPARTS) -> int:
    """How many ``boundary=`` parameters ``content`` declares (counting stops past ``limit``)."""
    count = 0
    for _ in re.finditer(rb"(?i)boundary\s*=", content):
        count += 1
        if count > limit:
            break
    return count


def parse_message(content: bytes):
    """The parsed mail and its attachments, or Unparseable for a structure the parser cannot
    take (a nesting bomb: Python's email parser recurses once per level)."""
    if count_multiparts(content) > MAX_MULTIPARTS:
        raise Unparseable(f"5.6.0 The message has more than {MAX_MULTIPARTS} multipart sections: "
                          f"send the documents as plain attachments")
    try:
        msg = email.message_from_bytes(content, policy=email.policy.default)
        attachments = extract_attachments(msg)
    except RecursionError:
        raise Unparseable("5.6.0 The message structure is nested too deeply to read") from None
    except Exception as e:  # noqa: BLE001 - whatever the parser chokes on is the mail's fault
        raise Unparseable(f"5.6.0 The message structure cannot be read ({type(e).__name__})") from None
    return msg, attachments


def safe_filename(value: Any) -> str | None:
    """An attachment's name as text the database and the logs take (no control characters)."""
    if value is None:
        return None
    text = re.sub(r"[\x00-\x1f\x7f]+", "", str(value)).strip()
    return text[:255] or None


def extract_attachments(msg) -> list[Attachment]:
    """Every attachment in order, and a single-part body that is itself a document."""
    out = []
    for part in msg.walk():
        if part.is_multipart() or _part_is_body(part):
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001 - a broken transfer encoding is that part's problem
            data = b""
        try:
            filename = safe_filename(part.get_filename())
        except Exception:  # noqa: BLE001 - a malformed parameter names no file
            filename = None
        declared = part.get_content_type()
        charset = part.get_content_charset()
        if charset:
            declared += f"; charset={charset}"
        out.append(Attachment(filename=filename, declared=safe_filename(declared) or "", data=data))
    return out


def body_document(msg) -> Attachment | None:
    """The email's own text as a document: its text/plain body, else its HTML body's text."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
    except Exception:  # noqa: BLE001 - an undecodable body is no body
        return None
    if not isinstance(text, str):
        return None
    text = text.replace("\r\n", "\n")
    if part.get_content_subtype() == "html":
        text = _html_text(text)
    text = text.strip()
    if not text:
        return None
    return Attachment(filename=None, declared="text/plain; charset=utf-8", data=(text + "\n").encode("utf-8"))


def _html_text(html: str) -> str:
    """The visible text of an HTML body: paragraphs and breaks become new lines."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.out: list[str] = []
            self._skip = 0

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style", "head"):
                self._skip += 1
            elif tag in ("br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4"):
                self.out.append("\n")

        def handle_endtag(self, tag):
            if tag in ("script", "style", "head") and self._skip:
                self._skip -= 1

        def handle_data(self, data):
            if not self._skip:
                self.out.append(data)

    parser = Text()
    parser.feed(html)
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def safe_subject(value: Any) -> str | None:
    if value is None:
        return None
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(value)).strip()
    return text[:500] or None


# --- the gateway

class Gateway:
    """Policy of the email-to-fax gateway. ``pipeline`` is the document pipeline
    (``convert(inputs, paper=...)`` raising ``DocumentError``, ``tiff_to_pdf(tiff)``)."""

    def __init__(self, config, store, *, pipeline=None, detect: Callable | None = None,
                 normalize: Callable | None = None):
        self._config = config
        self._store = store
        if detect is None:
            from faxd.documents.detect import document_type as detect
        if normalize is None:
            from faxd.numbers import normalize
        if pipeline is None:
            from faxd.documents import DocumentPipeline
            pipeline = DocumentPipeline(config)
        self._detect = detect
        self._pipeline = pipeline
        self._normalize = normalize
        # Sessions may be many; converters are CPU- and memory-hungry: at most one per core at once
        # (the others wait their turn; their SMTP clients simply wait for the reply).
        self._convert_slots = gevent.lock.BoundedSemaphore(max(1, os.cpu_count() or 1))

    # --- AUTH

    def authenticate(self, login: bytes, password: bytes) -> dict | None:
        """The faxbox whose credentials these are (user name: its ``smtp_email_address``), or None."""
        username = login.decode("utf-8", "replace").strip().lower()
        row = None
        if username and _DOMAIN_OK.match(username) and len(username) <= 254:
            row = self._store.faxbox_smtp_credentials(username)
        if not credentials.off_hub(credentials.verify_password, password, row["smtp_auth_hash"] if row else None):
            return None
        return {"faxbox_id": row["id"], "username": username}

    # --- RCPT

    def _faxbox_for(self, domain: str) -> dict | None:
        faxbox = self._store.faxbox_for_smtp_domain(domain)
        if faxbox is not None and faxbox["smtp_email_address"] != domain:
            # found by its custom domain: only while the operator grants that domain to the account
            if not domains.may_claim(self._config.smtp_custom_domains, domain, faxbox["account_id"]):
                logger.warning("custom domain %s of faxbox %s is not granted to account %s "
                               "(smtp_custom_domains): mail refused", domain, faxbox["id"], faxbox["account_id"])
                return None
        return faxbox

    def check_recipient(self, mail_from: str, rcpt_to: str, auth: dict | None = None) -> Recipient | Reply:
        """Map ``rcpt_to`` to a faxbox and number, and check the sender; log refusals.

        ``auth``: what :meth:`authenticate` returned for this session (None: not logged in)."""
        if _CONTROL.search(mail_from or "") or _CONTROL.search(rcpt_to or ""):
            reply = Reply(553, "5.1.7 An address contains control characters", "invalid_address")
            self._refuse(reply, mail_from, rcpt_to)
            return reply
        local, domain = split_address(rcpt_to)
        faxbox = None
        if domain and _DOMAIN_OK.match(domain):
            faxbox = self._faxbox_for(domain)
        if faxbox is None:
            reply = Reply(550, f"5.1.1 No faxbox at {domain or rcpt_to!r}: check the address "
                               f"(<number>@<faxbox address>)", "unknown_faxbox")
            self._refuse(reply, mail_from, rcpt_to, original_number=local or None)
            return reply
        number = number_from_local_part(local)
        if not number:
            reply = Reply(553, f"5.1.3 {local!r} is not a fax number: write <number>@{domain}",
                          "invalid_recipient")
            self._refuse(reply, mail_from, rcpt_to, faxbox=faxbox, original_number=local)
            return reply
        try:
            e164 = self._normalize(number, self._config.default_region)
        except Exception as e:  # InvalidNumber; kept generic so the normaliser is injectable
            reply = Reply(553, f"5.1.3 {local!r} is not a valid fax number: {getattr(e, 'reason', e)}",
                          "invalid_recipient")
            self._refuse(reply, mail_from, rcpt_to, faxbox=faxbox, original_number=local)
            return reply
        doc = faxbox.get("doc") or {}
        authenticated = bool(auth) and auth.get("faxbox_id") == faxbox["id"]
        if not authenticated and faxbox.get("smtp_auth_required"):
            reply = Reply(530, "5.7.0 Authentication required: this faxbox takes mail only from a session "
                               "logged in (AUTH, after STARTTLS) with its SMTP credentials", "auth_required")
            self._refuse(reply, mail_from, rcpt_to, faxbox=faxbox, original_number=local,
                         translated_number=e164)
            return reply
        if not authenticated and not sender_allowed(mail_from, faxbox.get("smtp_permission_list"),
                                                    doc.get("owner_email")):
            reply = Reply(550, f"5.7.1 Sender <{mail_from}> may not send faxes through this faxbox "
                               f"(not in its smtp_permission_list)", "sender_not_allowed")
            self._refuse(reply, mail_from, rcpt_to, faxbox=faxbox, original_number=local,
                         translated_number=e164)
            return reply
        if not (faxbox.get("caller_id") or faxbox.get("numbers")):
            reply = Reply(550, "5.7.0 This faxbox has no caller ID to send from: set its caller_id "
                               "or give it a number", "faxbox_without_caller_id")
            self._refuse(reply, mail_from, rcpt_to, faxbox=faxbox, original_number=local,
                         translated_number=e164, sender_accepted=True)
            return reply
        # The account's fax policy and limits, as for the API (this recipient counts as a submission).
        decision = check_submission(self._store, self._config, faxbox["account_id"], e164)
        if not decision.allowed:
            reply = (Reply(550, f"5.7.1 {decision.message}", decision.reason) if decision.permanent else
                     Reply(450, f"4.7.1 {decision.message}", decision.reason))
            self._refuse(reply, mail_from, rcpt_to, faxbox=faxbox, original_number=local,
                         translated_number=e164, sender_accepted=True)
            return reply
        return Recipient(rcpt_to=rcpt_to, faxbox=faxbox, original_number=local, translated_number=e164,
                         authenticated=authenticated)

    # --- DATA

    def accept_message(self, mail_from: str, recipients: list[Recipient], content: bytes) -> Reply:
        """Validate the attachments and queue one job per recipient, or refuse (nothing created)."""
        try:
            msg, attachments = parse_message(content)
        except Unparseable as e:
            reply = Reply(554, str(e), "unparseable")
            self._refuse_all(reply, mail_from, recipients, None, [])
            return reply
        try:
            subject = safe_subject(msg.get("subject"))
        except Exception:  # noqa: BLE001 - a malformed header must not refuse the fax
            subject = None
        if not attachments:
            body = body_document(msg)
            attachments = [body] if body else []
        usable: list[Attachment] = []
        for a in attachments:
            if not a.data:
                a.error = "empty attachment"
                continue
            if len(a.data) > self._config.max_upload_bytes:
                a.error = f"larger than {self._config.max_upload_bytes} bytes"
                continue
            try:
                a.content_type = self._detect(a.data, a.declared, a.filename)
            except Exception as e:  # UnsupportedDocument / DocumentError
                a.error = str(e)
                continue
            usable.append(a)
        logs = [a.log() for a in attachments]
        if not usable:
            if attachments:
                skipped = ", ".join(f"{a.filename or '(unnamed)'} ({a.declared})" for a in attachments)
                text = f"5.6.1 No usable attachment: send PDF, PostScript, TIFF, PNG, JPEG or text (not usable: {skipped})"
            else:
                text = ("5.6.1 No attachment and no text: attach the document to fax (PDF, PostScript, TIFF, "
                        "PNG, JPEG or text) or write the text to fax in the body")
            reply = Reply(554, text[:400], "no_attachment")
            self._refuse_all(reply, mail_from, recipients, subject, logs)
            return reply
        # Convert now, so the sender hears about a bad document in the SMTP reply; the jobs
        # then carry the result and skip the attacher (one conversion per mail, not two).
        paper = recipients[0].faxbox.get("account_paper") if recipients else None
        try:
            with self._convert_slots:
                converted = self._pipeline.convert([(a.data, a.content_type) for a in usable], paper=paper)
                pdf = self._pipeline.tiff_to_pdf(converted.tiff)
        except StoreUnavailable:
            raise
        except Exception as e:  # DocumentError (and its subclasses): the document is the problem
            name = _failed_name(e, usable)
            reply = Reply(554, f"5.6.0 Attachment {name} could not be converted: {e}"[:400], "conversion_failed")
            self._refuse_all(reply, mail_from, recipients, subject, logs)
            return reply
        documents = [(a.data, a.content_type, a.filename) for a in usable]
        message_id = _message_id(msg)
        entries = []
        for r in recipients:
            entries.append({
                **_idempotency(message_id, r.rcpt_to, documents),
                "faxbox": r.faxbox, "doc": self.job_document(r, mail_from, subject),
                "mail_from": mail_from, "rcpt_to": r.rcpt_to, "subject": subject,
                "original_number": r.original_number, "translated_number": r.translated_number,
                "attachments": logs,
                "errors": [f"attachment_skipped: {a.filename or '(unnamed)'}: {a.error}"
                           for a in attachments if a.error],
                "smtp_text": "2.0.0 Queued as fax job {job_id}",
            })
        fax = {"tiff": converted.tiff, "pdf": pdf, "pages": converted.pages, "width": converted.width,
               "resolution": converted.resolution}
        if len({r.faxbox.get("account_paper") for r in recipients}) > 1:
            fax = None  # faxboxes of accounts with different paper sizes: let the attacher convert each
        try:
            rows = self._store.accept_smtp_mail(entries, documents, fax=fax)
        except Conflict as e:
            reply = Reply(554, f"5.7.0 Message-ID {message_id} was already used: {e}"[:400], "duplicate_message_id")
            self._refuse_all(reply, mail_from, recipients, subject, logs)
            return reply
        ids = ", ".join(r["job_id"] for r in rows)
        return Reply(250, f"2.0.0 Queued as fax job{'s' if len(rows) > 1 else ''} {ids}")

    def refuse_too_large(self, mail_from: str, recipients: list[Recipient], rcpt_to: str | None = None) -> Reply:
        limit = self._config.smtp_max_bytes
        reply = Reply(552, f"5.3.4 Message too large: this gateway accepts at most {limit} bytes", "too_large")
        if recipients:
            self._refuse_all(reply, mail_from, recipients, None, [])
        else:
            self._refuse(reply, mail_from or "", rcpt_to or "")
        return reply

    def job_document(self, r: Recipient, mail_from: str, subject: str | None) -> dict:
        """The job as if posted to the API: destination, faxbox identity, subject, receipt to the sender."""
        fb = r.faxbox
        numbers = list(fb.get("numbers") or [])
        from_number = fb.get("caller_id") or numbers[0]  # check_recipient refuses a faxbox with neither
        doc: dict[str, Any] = {
            "to_number": r.translated_number,
            "from_number": from_number,
            "notifications": {"email": {"send_to": [mail_from.strip().strip("<>")]}},
        }
        if fb.get("caller_name"):
            doc["from_name"] = fb["caller_name"]
        if fb.get("fax_identity"):
            doc["fax_identity_name"] = fb["fax_identity"]
        if fb.get("fax_header"):
            doc["fax_header"] = fb["fax_header"]
        if fb.get("retries") is not None:
            doc["retries"] = fb["retries"]
        if fb.get("fax_timezone"):
            doc["fax_timezone"] = fb["fax_timezone"]
        window = (fb.get("doc") or {}).get("send_window")
        if isinstance(window, dict):
            doc["send_window"] = window
        if subject:
            doc["subject"] = subject
        return doc

    # --- smtplog

    def _refuse(self, reply: Reply, mail_from: str, rcpt_to: str, *, faxbox: dict | None = None,
                original_number: str | None = None, translated_number: str | None = None,
                subject: str | None = None, attachments: list[dict] | None = None,
                sender_accepted: bool = False) -> None:
        """Log a refusal. ``sender_accepted``: the faxbox accepted this sender (authenticated, or
        on its permission list), so the sender may get a refusal email; otherwise nobody vouched
        for the address and it gets none (no backscatter)."""
        try:
            self._store.record_smtp_refusal(
                mail_from=_CONTROL.sub("", mail_from or ""), rcpt_to=_CONTROL.sub("", rcpt_to or ""),
                account_id=faxbox["account_id"] if faxbox else None,
                faxbox_id=faxbox["id"] if faxbox else None, subject=subject,
                original_number=original_number, translated_number=translated_number,
                attachments=attachments or [], errors=[reply.log_line()],
                smtp_code=reply.code, smtp_text=reply.text,
                email_sender=bool(faxbox) and sender_accepted)
        except Exception as e:  # noqa: BLE001 - the refusal stands even when it cannot be logged
            logger.warning("smtplog: cannot record refusal of %s -> %s: %s", mail_from, rcpt_to, e)

    def _refuse_all(self, reply: Reply, mail_from: str, recipients: list[Recipient], subject, logs) -> None:
        # every recipient here passed check_recipient: its faxbox accepted the sender
        for r in recipients:
            self._refuse(reply, mail_from, r.rcpt_to, faxbox=r.faxbox, original_number=r.original_number,
                         translated_number=r.translated_number, subject=subject, attachments=logs,
                         sender_accepted=True)


def _message_id(msg) -> str | None:
    """The Message-ID header as sent (angle brackets and all), if it looks like one."""
    try:
        value = str(msg.get("message-id") or "").strip()
    except Exception:  # noqa: BLE001 - a malformed header is no Message-ID, not a refusal
        return None
    return value if 3 <= len(value) <= 200 and value.isprintable() else None


def _idempotency(message_id: str | None, rcpt_to: str, documents) -> dict:
    """A mail sent again with its Message-ID to the same address queues nothing new
    (faxd/store/idempotency.py); the digest tells a resend from another message reusing the id."""
    if message_id is None:
        return {}
    h = hashlib.sha256(rcpt_to.lower().encode())
    for data, content_type, filename in documents:
        h.update(hashlib.sha256(data).digest() + f"{content_type}\0{filename}\0".encode())
    return {"idempotency_key": f"email {message_id} {rcpt_to.lower()}"[:255], "request_hash": h.hexdigest()}


def _failed_name(error: Exception, usable: list[Attachment]) -> str:
    index = getattr(error, "index", None)
    if isinstance(index, int) and 0 <= index < len(usable):
        return usable[index].filename or f"#{index + 1}"
    if len(usable) == 1:
        return usable[0].filename or "#1"
    return "(one of " + ", ".join(a.filename or "(unnamed)" for a in usable) + ")"

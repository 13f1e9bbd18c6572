"""Delivery channels: email through the SMTP relay, SMS through an HTTP provider, webhooks.

Each ``deliver`` returns normally when the notification was delivered and raises
:class:`Retry` (try again later), :class:`GiveUp` (never deliverable to this target) or
:class:`Undeliverable` (faxd is not configured for this channel).
"""
from __future__ import annotations

import base64
import json
import logging
import smtplib
import socket
import ssl
import string
import urllib.parse
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from faxd import fetch
from faxd.documents.errors import FetchError
from faxd.errors import FaxdError
from faxd.notify import signing, templates

logger = logging.getLogger(__name__)


class DeliveryError(FaxdError):
    """The notification could not be delivered."""


class Retry(DeliveryError):
    """Temporary failure: try again later."""


class GiveUp(DeliveryError):
    """Permanent failure for this target."""


class Undeliverable(DeliveryError):
    """faxd has no way to send this kind of notification (not configured)."""


class MessageTooLarge(GiveUp):
    """The relay refused the message for its size (552 / 5.3.4)."""


def parse_relay(relay: str) -> tuple[str, int, str | None, str | None]:
    """``[user:password@]host[:port]`` -> (host, port, user, password); port 25 by default."""
    parts = urllib.parse.urlsplit("//" + relay.strip().removeprefix("smtp://"))
    try:
        port = parts.port or 25
    except ValueError:
        raise Undeliverable(f"FAXD_SMTP_RELAY {relay!r}: the port is not a number") from None
    if not parts.hostname:
        raise Undeliverable(f"FAXD_SMTP_RELAY {relay!r}: expected host:port")
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return parts.hostname, port, user, password


def build_email(event: str, payload: dict, to: str, sender: str,
                pdf: bytes | None, omitted_pdf: int | None = None) -> EmailMessage:
    subject, body = templates.email(event, payload, has_pdf=pdf is not None)
    if omitted_pdf:
        body += (f"\nThe fax as PDF ({omitted_pdf} bytes) was too large for the mail server; "
                 f"get it from the fax API (fax id {payload.get('fax_id')}).\n")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    # RFC 3834: automatic replies must not answer this, so no mail loops with autoresponders.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Faxd-Event"] = event
    msg["X-Faxd-Event-Id"] = payload.get("event_id", "")
    msg.set_content(body)
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf",
                           filename=templates.pdf_name(event, payload))
    return msg


class EmailChannel:
    def __init__(self, relay: str | None, sender: str, timeout: float = 30.0):
        self._relay = relay
        self._sender = sender
        self._timeout = timeout

    def send(self, msg: EmailMessage, to: str) -> None:
        if not self._relay:
            raise Undeliverable("no SMTP relay configured (FAXD_SMTP_RELAY)")
        host, port, user, password = parse_relay(self._relay)
        try:
            with smtplib.SMTP(host, port, timeout=self._timeout) as smtp:
                smtp.ehlo_or_helo_if_needed()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if user:
                    smtp.login(user, password or "")
                smtp.send_message(msg, from_addr=self._sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            err = f"relay refused {to}: {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
            raise (GiveUp(err) if 500 <= code < 600 else Retry(err)) from None
        except smtplib.SMTPResponseException as e:
            err = f"relay {host}:{port} answered {e.smtp_code} {e.smtp_error!r}"
            if e.smtp_code == 552:
                raise MessageTooLarge(err) from None
            raise (GiveUp(err) if 500 <= e.smtp_code < 600 and e.smtp_code != 530 else Retry(err)) from None
        except (OSError, smtplib.SMTPException) as e:
            raise Retry(f"relay {host}:{port} unavailable: {e}") from None


def http_request(method: str, url: str, *, headers: dict, body: bytes, timeout: float, allow):
    """Through the document pipeline's safe fetcher (private addresses refused unless allowed)."""
    return fetch.request(method, url, headers=headers, body=body, timeout=timeout,
                         max_bytes=64 * 1024, allow=allow, max_redirects=0, what="webhook URL")


# What a request through the fetcher raises: refused (a private address not allowed), or failed.
_REFUSED_ERRORS = (fetch.FetchRefused,)
_FETCH_ERRORS = (OSError, socket.timeout, FetchError)


def _classify(status: int, what: str) -> None:
    if 200 <= status < 300:
        return
    if status in (408, 425, 429) or status >= 500:
        raise Retry(f"{what} answered HTTP {status}")
    if status == 410:
        raise GiveUp(f"{what} answered HTTP 410 Gone")
    if 300 <= status < 400:
        raise GiveUp(f"{what} answered HTTP {status}: redirects are not followed, configure the final URL")
    raise Retry(f"{what} answered HTTP {status}")


class _HttpChannel:
    """A channel that delivers with one HTTP request through the fetcher (webhooks, SMS)."""

    def __init__(self, allow, timeout: float, request):
        self._allow = allow
        self._timeout = timeout
        self._request = request

    def _send(self, method: str, url: str, headers: dict, body: bytes, what: str) -> None:
        """Make the request; Retry or GiveUp as the failure or the answer's status says."""
        try:
            resp = self._request(method, url, headers=headers, body=body, timeout=self._timeout,
                                 allow=self._allow)
        except _REFUSED_ERRORS as e:
            raise GiveUp(f"{what} refused: {e}") from None
        except _FETCH_ERRORS as e:
            raise Retry(f"{what}: {e}") from None
        _classify(resp.status, what)


class WebhookChannel(_HttpChannel):
    def __init__(self, secret_for, allow, timeout: float = 15.0, request=http_request, clock=None):
        super().__init__(allow, timeout, request)
        self._secret_for = secret_for
        self._clock = clock

    def deliver(self, url: str, payload: dict) -> None:
        delivery = payload.get("_delivery") or {}
        public = {k: v for k, v in payload.items() if not k.startswith("_")}
        body = json.dumps(public, sort_keys=True, separators=(",", ":")).encode("utf-8")
        secret = self._secret_for(delivery)
        ts = int(self._clock()) if self._clock else None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "faxd-webhook/1",
            signing.EVENT_ID_HEADER: str(public.get("event_id", "")),
            signing.EVENT_HEADER: str(public.get("event", "")),
            signing.SIGNATURE_HEADER: signing.signature_header(secret, body, ts),
        }
        method = (delivery.get("method") or "post").upper()
        self._send(method, url, headers, body, f"webhook {url}")


class SmsChannel(_HttpChannel):
    def __init__(self, url_template: str | None, body_template: str | None, auth: str | None,
                 allow, timeout: float = 15.0, request=http_request):
        super().__init__(allow, timeout, request)
        self._url = url_template
        self._body = body_template
        self._auth = auth

    def deliver(self, number: str, text: str) -> None:
        if not self._url:
            raise Undeliverable("no SMS provider configured (FAXD_SMS_URL_TEMPLATE)")
        url = string.Template(self._url).safe_substitute(
            to=urllib.parse.quote(number, safe="+"), text=urllib.parse.quote(text, safe=""))
        headers = {"User-Agent": "faxd-sms/1"}
        if self._body:
            esc = lambda s: json.dumps(s)[1:-1]  # noqa: E731 - JSON string body without the quotes
            body = string.Template(self._body).safe_substitute(to=esc(number), text=esc(text)).encode("utf-8")
            headers["Content-Type"] = "application/json" if self._body.lstrip().startswith("{") \
                else "application/x-www-form-urlencoded"
        else:
            body = json.dumps({"to": number, "text": text}).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._auth:
            if ":" in self._auth and " " not in self._auth:
                headers["Authorization"] = "Basic " + base64.b64encode(self._auth.encode()).decode()
            else:
                headers["Authorization"] = self._auth
        self._send("POST", url, headers, body, "SMS provider")

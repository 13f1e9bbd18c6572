"""Safe HTTP(S) fetches for document URLs and webhooks.

Each hop (the URL and every redirect target) is resolved first, and every address it resolves
to is checked before a socket is opened: loopback, private, link-local (cloud metadata),
multicast, reserved and other non-global addresses are refused unless the host name or a
CIDR containing the address is in ``allow`` (``config.fetch_allow``). The connection then goes
to the checked address itself, so a second DNS answer cannot smuggle in another one.
One deadline covers the whole request, redirects included; the body is cut at ``max_bytes``.

What the caller (and so the client) is told names one reason class and nothing more: "not
allowed" (the address policy) or "unreachable" (no DNS answer, refused, timed out, reset, TLS
failure, not HTTP: all one message, so that fetches cannot map which internal hosts exist or
which ports are open). The details (the address, the errno) go to the log for the operator.
"""
from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import gevent

from faxd.documents.errors import DocumentTooLarge, FetchError

logger = logging.getLogger(__name__)

REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024

# Cloud metadata endpoints, named in refusals (they are link-local or private anyway).
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
             ipaddress.ip_address("100.100.100.200")}


class FetchRefused(FetchError):
    """The URL's address is not allowed."""


class FetchUnreachable(FetchError):
    """The URL's server could not be reached or did not answer."""


class FetchTimeout(FetchUnreachable):
    """The URL did not answer in time."""


def _public(e: FetchError, what: str) -> FetchError:
    """The same error class with the one neutral message of its reason class."""
    if isinstance(e, FetchRefused):
        return FetchRefused(f"the {what} could not be fetched (not allowed): it points to an address faxd "
                            f"does not fetch from; an operator can allow it with fetch_allow (FAXD_FETCH_ALLOW)")
    return type(e)(f"the {what} could not be fetched (unreachable): the server could not be reached "
                   f"or did not answer in time")


class FetchTooLarge(FetchError, DocumentTooLarge):
    """The URL's body is larger than allowed."""

    http_status = 413


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)   # lower-case names
    body: bytes = b""
    url: str = ""                                            # final URL, after redirects


def redact(url: str) -> str:
    """The URL without user info, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def request(method: str, url: str, *, headers: dict | None = None, body: bytes | None = None,
            timeout: float = 30.0, max_bytes: int = 8 * 1024 * 1024, allow: tuple[str, ...] = (),
            max_redirects: int = 5, what: str = "document URL") -> Response:
    """One HTTP request with the address policy, a total deadline, a body limit and redirects.

    Redirects are followed up to ``max_redirects`` times (each target checked again); with
    ``max_redirects=0`` a 3xx answer is returned as it is. Any status is returned: the caller
    decides what a 404 means.
    """
    policy = _Policy(allow)
    deadline = time.monotonic() + timeout
    expired = FetchTimeout(f"{method.upper()} {redact(url)} timed out after {timeout:g} s")
    try:
        with gevent.Timeout(timeout, expired):
            try:
                return _follow(method.upper(), url, dict(headers or {}), body, deadline, max_bytes, policy,
                               max_redirects)
            except socket.timeout:
                raise expired from None
            except OSError as e:
                raise FetchUnreachable(f"{method.upper()} {redact(url)} failed: {e}") from None
    except (FetchRefused, FetchUnreachable) as e:
        logger.info("fetch of %s %s failed: %s", method.upper(), redact(url), e)
        raise _public(e, what) from None


def _follow(method, url, headers, body, deadline, max_bytes, policy, max_redirects) -> Response:
    for hop in range(max_redirects + 1):
        resp = _one(method, url, headers, body, deadline, max_bytes, policy)
        if resp.status not in REDIRECTS or "location" not in resp.headers or max_redirects == 0:
            return resp   # max_redirects=0: the caller sees the redirect itself
        if hop == max_redirects:
            raise FetchError(f"{redact(url)} redirected more than {max_redirects} times")
        target = urljoin(url, resp.headers["location"])
        logger.debug("redirect %s -> %s (%s)", redact(url), redact(target), resp.status)
        if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
            method, body = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
        if urlsplit(target).hostname != urlsplit(url).hostname:
            # A Host override and credentials belong to the first server only.
            headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "authorization", "cookie")}
        url = target
    raise AssertionError("unreachable")  # pragma: no cover


class _Policy:
    def __init__(self, allow: tuple[str, ...]):
        self.hosts: set[str] = set()
        self.networks = []
        for item in allow:
            item = item.strip()
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.hosts.add(item.lower().rstrip("."))

    def check(self, host: str, addresses: list[str], url: str) -> list[str]:
        """The addresses that may be contacted; FetchRefused when none may."""
        if host.lower().rstrip(".") in self.hosts:
            return addresses
        allowed, refused = [], []
        for a in addresses:
            ip = ipaddress.ip_address(a.split("%")[0])
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if any(ip in net for net in self.networks) or (ip.is_global and not ip.is_multicast):
                allowed.append(a)
            else:
                refused.append((a, ip))
        if not allowed:
            a, ip = refused[0]
            raise FetchRefused(
                f"refusing to fetch {redact(url)}: {host} resolves to {a}, {_kind(ip)}; "
                f"add the host or network to fetch_allow (FAXD_FETCH_ALLOW) to permit it")
        return allowed


def _kind(ip) -> str:
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    return "not a public address"


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise FetchUnreachable(f"cannot resolve host {host}: {e.strerror or e}") from None
    out = []
    for *_rest, sockaddr in infos:
        if sockaddr[0] not in out:
            out.append(sockaddr[0])
    if not out:
        raise FetchUnreachable(f"cannot resolve host {host}")
    return out


def _one(method, url, headers, body, deadline, max_bytes, policy) -> Response:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs can be fetched, not {redact(url)}")
    host = parts.hostname
    if not host:
        raise FetchError(f"the URL {redact(url)} has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError(f"the URL {redact(url)} has an invalid port") from None
    addresses = policy.check(host, _resolve(host, port), url)
    sock = _connect(addresses, port, deadline, url)
    try:
        if scheme == "https":
            ctx = ssl.create_default_context()
            try:
                sock = ctx.wrap_socket(sock, server_hostname=host)
            except ssl.SSLError as e:
                raise FetchUnreachable(f"TLS error with {host}: {e.reason or e}: {getattr(e, 'verify_message', '')}"
                                       .rstrip(": ")) from None
            except OSError as e:
                raise FetchUnreachable(f"TLS handshake with {host} failed: {e.strerror or e}") from None
        conn = http.client.HTTPConnection(host, port, timeout=_left(deadline))
        conn.sock = sock
        resp = None
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        send_headers = dict(headers)
        if parts.username is not None and not any(k.lower() == "authorization" for k in send_headers):
            import base64
            cred = f"{parts.username}:{parts.password or ''}".encode()
            send_headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        if body is not None and not any(k.lower() == "content-length" for k in send_headers):
            send_headers["Content-Length"] = str(len(body))
        try:
            conn.request(method, path, body=body, headers=send_headers)
            resp = conn.getresponse()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            if resp.status in REDIRECTS and "location" in resp_headers:
                return Response(resp.status, resp_headers, b"", url)
            length = resp_headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise FetchTooLarge(f"{redact(url)} is {int(length)} bytes; the limit is {max_bytes} bytes")
            chunks, size = [], 0
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchTooLarge(f"{redact(url)} sent more than the {max_bytes} byte limit")
                chunks.append(chunk)
            return Response(resp.status, resp_headers, b"".join(chunks), url)
        except (http.client.HTTPException, ConnectionError) as e:
            raise FetchUnreachable(f"{method} {redact(url)} failed: {type(e).__name__}: {e}") from None
        except ssl.SSLError as e:
            raise FetchUnreachable(f"TLS error with {host}: {e.reason or e}") from None
        finally:
            if resp is not None:
                resp.close()
            conn.close()
    finally:
        sock.close()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout()
    return left


def _connect(addresses: list[str], port: int, deadline: float, url: str) -> socket.socket:
    last = None
    for a in addresses:
        family = socket.AF_INET6 if ":" in a else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(_left(deadline))
        try:
            s.connect((a, port))
            return s
        except socket.timeout:
            s.close()
            raise
        except OSError as e:
            s.close()
            last = e
    raise FetchUnreachable(f"cannot connect to {redact(url)}: {last.strerror if last else 'no address'}")

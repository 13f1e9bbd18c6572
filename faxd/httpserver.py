"""The API's HTTP/1.1 server: gevent.pywsgi with strict framing, timeouts and a per-address cap.

gevent.pywsgi parses headers with the standard library's email parser, which is lenient where
HTTP must not be: a header line such as ``Transfer-Encoding : chunked`` (space before the colon)
ends the header block silently, so the headers after it (a ``Content-Length``) are dropped and
the body is then read as the next request (request smuggling). It also takes the first of two
``Content-Length`` headers and lets ``Transfer-Encoding`` win over ``Content-Length``.

This handler reads the request line and header block itself and refuses, with 400 and a closed
connection, anything whose framing two parsers could read differently (RFC 9112 §6.3, §11.2):
whitespace before a colon, folded lines, bare CR or LF, control characters, more than one
``Content-Length`` or one that is not a plain number, ``Content-Length`` with
``Transfer-Encoding``, and a transfer coding other than ``chunked``. Only the validated bytes
are handed to gevent's parser, so both always see the same headers.
"""
from __future__ import annotations

import io
import json
import logging
import re
import socket
from collections import Counter
from dataclasses import dataclass

import gevent
import gevent.pywsgi

logger = logging.getLogger("faxd.api.http")

MAX_HEADER_LINES = 100
MAX_HEADER_BYTES = 64 * 1024
MAX_REQUEST_LINE = 8 * 1024

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_REQUEST_LINE = re.compile(rb"^(" + _TCHAR + rb"+) ([\x21-\x7e]+) HTTP/1\.([01])\r\n$")
_HEADER_LINE = re.compile(rb"(" + _TCHAR + rb"+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*)\r\n")


@dataclass(frozen=True)
class HttpLimits:
    """Timeouts and caps of the API server (from the http_* settings)."""

    header_timeout: float = 10.0       # request line + headers, from the first byte
    idle_timeout: float = 60.0         # silence between keep-alive requests, and inside a body
    max_connections_per_client: int = 64  # 0: no cap

    @classmethod
    def from_config(cls, config) -> "HttpLimits":
        return cls(header_timeout=config.http_header_timeout, idle_timeout=config.http_idle_timeout,
                   max_connections_per_client=config.http_max_connections_per_client)


class ClientDisconnected(IOError):
    """The client closed the connection, or went silent, before sending the whole body."""


class _Refused(ValueError):
    """A request refused before the application sees it (400, 408)."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _HeaderTimeout(Exception):
    pass


def _response(status: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"data": {"message": message}, "error": status.split()[0], "message": message,
                       "status": "error"}).encode()
    head = (f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def parse_header_block(lines: list[bytes], http_minor: int) -> None:
    """Refuse (``_Refused``) a header block whose framing is ambiguous. ``lines`` end in CRLF."""
    lengths, codings = [], []
    for line in lines:
        m = _HEADER_LINE.fullmatch(line)
        if m is None:
            if line[:1] in (b" ", b"\t"):
                raise _Refused("400 Bad Request", "folded header lines are not accepted")
            if re.match(rb"^" + _TCHAR + rb"+[ \t]+:", line):
                raise _Refused("400 Bad Request", "whitespace between a header name and its colon")
            raise _Refused("400 Bad Request", "malformed header line")
        name = m.group(1).lower()
        if name == b"content-length":
            lengths.append(m.group(2).rstrip(b" \t"))
        elif name == b"transfer-encoding":
            codings.append(m.group(2).rstrip(b" \t"))
    if len(lengths) > 1:
        raise _Refused("400 Bad Request", "more than one Content-Length header")
    if lengths and not (lengths[0].isdigit() and len(lengths[0]) <= 18):
        raise _Refused("400 Bad Request", "Content-Length is not a number")
    if codings:
        if lengths:
            raise _Refused("400 Bad Request", "Content-Length and Transfer-Encoding together")
        if http_minor == 0:
            raise _Refused("400 Bad Request", "Transfer-Encoding in an HTTP/1.0 request")
        if len(codings) > 1 or codings[0].lower() != b"chunked":
            raise _Refused("400 Bad Request", "the only transfer coding accepted is chunked")


class _Input(gevent.pywsgi.Input):
    """wsgi.input whose reads time out when the client goes silent, and whose errors end the
    connection: a short, silent or malformed body is ClientDisconnected for the application
    (an abandoned upload, logged without a traceback), and the connection is then closed
    instead of being read on from an unknown position in the body."""

    __slots__ = ("idle", "broken")

    def __init__(self, *args, idle: float, **kw):
        super().__init__(*args, **kw)
        self.idle = idle
        self.broken = False

    def _guard(self, fn, arg):
        try:
            with gevent.Timeout(self.idle or None, ClientDisconnected(
                    f"the client sent no body data for {self.idle:g} s")):
                return fn(arg)
        except ClientDisconnected:
            self.broken = True
            raise
        except (OSError, ValueError) as e:  # gevent: "unexpected end of file", bad chunk sizes
            self.broken = True
            raise ClientDisconnected(f"the request body ended early ({e})") from None

    def read(self, length=None):
        return self._guard(super().read, length)

    def readline(self, size=None):
        return self._guard(super().readline, size)

    def _discard(self):
        # Called after the response; any failure here closes the connection.
        if self.broken:
            raise gevent.pywsgi._InvalidClientInput("the request body was not read to its end")
        try:
            super()._discard()
        except ClientDisconnected as e:
            raise gevent.pywsgi._InvalidClientInput(str(e)) from None


class StrictHandler(gevent.pywsgi.WSGIHandler):
    """Strict framing and timeouts; also TCP_NODELAY and turn-taking between connections.

    gevent.pywsgi writes a response in more than one send(); with Nagle on, the second waits
    for the client's delayed ACK and every keep-alive request takes about 40 ms (measured:
    22 req/s on one connection; 2,900 with TCP_NODELAY).
    """

    _served = 0
    _header_block = b""

    @property
    def _limits(self) -> HttpLimits:
        return getattr(self.server, "limits", None) or HttpLimits()

    def handle(self):
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a Unix socket)
        address = self.client_address[0] if isinstance(self.client_address, tuple) else ""
        counts = getattr(self.server, "connections", None)
        cap = self._limits.max_connections_per_client
        if counts is not None and cap:
            if counts[address] >= cap:
                logger.warning("refusing a connection from %s: %d open, the cap is %d "
                               "(http_max_connections_per_client)", address, counts[address], cap)
                try:
                    self.socket.sendall(_response("503 Service Unavailable",
                                                  f"too many connections from {address}", "Retry-After: 1\r\n"))
                except OSError:
                    pass
                self._close_quietly()
                return
            counts[address] += 1
        try:
            return super().handle()
        finally:
            if counts is not None and cap:
                counts[address] -= 1
                if counts[address] <= 0:
                    del counts[address]

    def _close_quietly(self):
        try:
            self.socket.close()
        except OSError:
            pass
        self.__dict__.pop("socket", None)
        self.__dict__.pop("rfile", None)

    def handle_one_request(self):
        try:
            result = super().handle_one_request()
        finally:
            deadline = self.__dict__.pop("_deadline", None)
            if deadline is not None:
                deadline.cancel()  # a 414 from gevent never reaches read_request
        self._served += 1
        # A keep-alive connection whose next request is already buffered would be served again
        # without yielding, starving the others: p99 110 ms vs 10 ms at 32 connections.
        gevent.sleep(0)
        return result

    def read_requestline(self):
        """The request line; "" closes the connection. A new connection has header_timeout from
        its opening to the end of its first request's headers; a keep-alive one may be silent
        for idle_timeout before its next request, which then has header_timeout."""
        limits = self._limits
        if self._served:
            try:
                with gevent.Timeout(limits.idle_timeout or None, _HeaderTimeout):
                    if not self.rfile.peek(1):
                        return ""
            except _HeaderTimeout:
                return ""  # an idle keep-alive connection: close it quietly
        self._deadline = gevent.Timeout(limits.header_timeout or None, _HeaderTimeout)
        self._deadline.start()
        started = False
        try:
            if not self.rfile.peek(1):
                return ""
            started = True
            line = self.rfile.readline(MAX_REQUEST_LINE + 1)
        except _HeaderTimeout:
            self._deadline.cancel()
            if started:
                self._send_refusal(_Refused("408 Request Timeout", "the request headers took too long"))
            return ""  # a connection that never sent a byte is closed quietly
        except BaseException:
            self._deadline.cancel()
            raise
        return line.decode("latin-1")

    def read_request(self, raw_requestline):
        try:
            try:
                m = _REQUEST_LINE.match(raw_requestline.encode("latin-1"))
                if m is None:
                    if len(raw_requestline) > MAX_REQUEST_LINE:
                        raise _Refused("414 URI Too Long", "the request line is too long")
                    raise _Refused("400 Bad Request", "malformed request line")
                lines = self._read_header_lines()
            except _HeaderTimeout:
                raise _Refused("408 Request Timeout", "the request headers took too long") from None
        finally:
            self.__dict__.pop("_deadline").cancel()
        parse_header_block(lines, int(m.group(3)))
        self._header_block = b"".join(lines) + b"\r\n"
        return super().read_request(raw_requestline)

    def _read_header_lines(self) -> list[bytes]:
        lines, size = [], 0
        while True:
            line = self.rfile.readline(MAX_HEADER_BYTES + 1)
            if not line:
                raise _Refused("400 Bad Request", "the connection closed inside the headers")
            size += len(line)
            if size > MAX_HEADER_BYTES or len(lines) >= MAX_HEADER_LINES:
                raise _Refused("431 Request Header Fields Too Large", "the request headers are too large")
            if line == b"\r\n":
                return lines
            if not line.endswith(b"\r\n") or b"\r" in line[:-2]:
                raise _Refused("400 Bad Request", "header lines must end in CRLF")
            lines.append(line)

    def MessageClass(self, *args):
        # gevent's parser sees exactly the header block validated above.
        return gevent.pywsgi.headers_factory(io.BytesIO(self._header_block))

    def _handle_client_error(self, ex):
        if isinstance(ex, _Refused):
            logger.info("refused a request from %s: %s", self._client_ip(), ex.message)
            return (ex.status.split()[0], _response(ex.status, ex.message))
        logger.info("refused a request from %s: %s", self._client_ip(), str(ex) or type(ex).__name__)
        return ("400", _response("400 Bad Request", "malformed request"))

    def _send_refusal(self, ex: _Refused) -> None:
        logger.info("refused a request from %s: %s", self._client_ip(), ex.message)
        try:
            self.socket.sendall(_response(ex.status, ex.message))
        except OSError:
            pass

    def _client_ip(self) -> str:
        return self.client_address[0] if isinstance(self.client_address, tuple) else str(self.client_address)

    _detached = False

    def _detach(self, take) -> bool:
        """``environ["faxd.detach"]``: hand this connection's socket to ``take`` (the event
        stream gives it to its fan-out process). When ``take`` returns True the connection is
        no longer this server's: nothing more is written to it, and this process closes only
        its own descriptor (no shutdown), so that the connection lives on in the taker."""
        if take(self.socket):
            self._detached = True
            return True
        return False

    def process_result(self):
        if self._detached:
            self.close_connection = True
            return
        super().process_result()

    def get_environ(self):
        env = super().get_environ()
        env["faxd.detach"] = self._detach
        old = self.wsgi_input
        self.wsgi_input = _Input(old.rfile, old.content_length, socket=old.socket,
                                 chunked_input=old.chunked_input, idle=self._limits.idle_timeout)
        if env["wsgi.input"] is old:
            env["wsgi.input"] = self.wsgi_input
        return env

    def log_request(self):
        # The access log is off (log=None), but pywsgi would still format every line.
        pass


class StrictWSGIServer(gevent.pywsgi.WSGIServer):
    """WSGIServer with :class:`StrictHandler`, its limits and the per-address connection count."""

    handler_class = StrictHandler

    def __init__(self, listener, application=None, limits: HttpLimits | None = None, **kw):
        super().__init__(listener, application, **kw)
        self.limits = limits or HttpLimits()
        self.connections: Counter[str] = Counter()

"""The FreeSWITCH Event Socket wire protocol, read strictly by Content-Length.

Pure framing and decoding (``FrameReader``, ``parse_event``, ``url_encode``/``url_decode``)
plus ``Connection``: one gevent socket with one reader greenlet that matches replies to
commands in order and hands every event and disconnect notice to a callback that must not
block. Nothing here knows about faxes.
"""
from __future__ import annotations

import json
import logging
import re
import socket
from collections import deque
from typing import Callable, Iterator
from urllib.parse import quote as _quote

import gevent
import gevent.event
import gevent.lock

from faxd.errors import FaxdError
from faxd.switch.stream import StreamConnection, header

logger = logging.getLogger(__name__)


class ESLError(FaxdError):
    """Event Socket error."""


class NotConnected(ESLError):
    """Not connected to FreeSWITCH."""


class AuthFailed(ESLError):
    """FreeSWITCH refused the Event Socket password."""


class ProtocolError(ESLError):
    """FreeSWITCH sent something that is not the Event Socket protocol."""


class CommandFailed(ESLError):
    """FreeSWITCH answered a command with -ERR."""

    def __init__(self, command: str, reply: str):
        super().__init__(f"{command.split(' ', 1)[0]}: {reply}")
        self.command = command
        self.reply = reply


# --- URL encoding as FreeSWITCH does it (switch_url_encode) ---------------------------------

_UNSAFE = set(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
_ENCODE_TABLE = []
for _b in range(256):
    if _b < 0x20 or _b > 0x7E or _b in _UNSAFE:
        _ENCODE_TABLE.append("%%%02X" % _b)
    else:
        _ENCODE_TABLE.append(chr(_b))
_HEX = set(b"0123456789abcdefABCDEF")
_NEEDS_ENCODING = re.compile(r"[^A-Za-z0-9!$'()*,\-./_~]")


def url_encode(value: str) -> str:
    """Encode ``value`` with FreeSWITCH's set; a ``%XX`` already present stays as it is."""
    if not _NEEDS_ENCODING.search(value):
        return value
    if "%" not in value:
        return _quote(value, safe="!$'()*,-./_~")
    raw = value.encode("utf-8")
    out = []
    n = len(raw)
    i = 0
    while i < n:
        b = raw[i]
        if b == 0x25 and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            out.append("%")
        else:
            out.append(_ENCODE_TABLE[b])
        i += 1
    return "".join(out)


_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")


def url_decode_bytes(value: bytes) -> str:
    """Decode ``%XX`` (``+`` is not a space: FreeSWITCH encodes a real ``+`` as ``%2B``)."""
    if b"%" in value:
        value = _PCT.sub(lambda m: bytes((int(m.group(1), 16),)), value)
    return value.decode("utf-8", "replace")


def url_decode(value: str) -> str:
    if "%" not in value:
        return value
    return url_decode_bytes(value.encode("utf-8"))


# --- messages --------------------------------------------------------------------------------

class Message:
    """One frame from FreeSWITCH: its header block (decoded) and its body (bytes)."""

    __slots__ = ("headers", "body")

    def __init__(self, headers: dict[str, str], body: bytes = b""):
        self.headers = headers
        self.body = body

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    content_type = header("Content-Type")
    reply_text = header("Reply-Text")

    def __repr__(self) -> str:
        return f"<Message {self.content_type} {len(self.body)}B>"


class Event:
    """A decoded event: headers in arrival order (duplicates keep the first) and the body."""

    __slots__ = ("headers", "body", "_lines")

    def __init__(self, headers: dict[str, str], body: str = "", lines: list[tuple[str, str]] | None = None):
        self.headers = headers
        self.body = body
        self._lines = lines

    @property
    def names(self) -> list[str]:
        """The header names in arrival order, duplicates included."""
        return [k for k, _ in self._lines] if self._lines is not None else list(self.headers)

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def __contains__(self, name: str) -> bool:
        return name in self.headers

    name = header("Event-Name")
    subclass = header("Event-Subclass")
    unique_id = header("Unique-ID")

    @property
    def key(self) -> str:
        """Event-Subclass for CUSTOM events, Event-Name otherwise."""
        return self.headers.get("Event-Subclass") or self.headers.get("Event-Name", "")

    def variable(self, name: str, default: str = "") -> str:
        return self.headers.get("variable_" + name, default)

    def __repr__(self) -> str:
        return f"<Event {self.key} {self.unique_id}>"


class Headers(dict):
    """Header name -> value, URL-decoded on first access (an event has 100-250 headers and a
    reader needs a dozen of them).

    Held as read from the wire (its bytes as latin-1 text: one C call for the whole block): a
    value with no ``%`` and nothing but ASCII is its own decoding and is returned as it is;
    any other is decoded once (``%XX`` and raw bytes as UTF-8) and kept aside. A value set
    here is final.
    """

    __slots__ = ("_decoded",)

    def __init__(self, *args) -> None:
        dict.__init__(self, *args)
        self._decoded: dict[str, str] | None = None

    def __getitem__(self, key: str) -> str:
        value = dict.__getitem__(self, key)
        if "%" not in value and value.isascii():
            return value
        decoded = self._decoded
        if decoded is None:
            decoded = self._decoded = {}
        elif key in decoded:
            return decoded[key]
        value = decoded[key] = url_decode_bytes(value.encode("latin-1"))
        return value

    def __setitem__(self, key: str, value: str) -> None:
        dict.__setitem__(self, key, value)
        if self._decoded is None:
            self._decoded = {}
        self._decoded[key] = value

    def get(self, key: str, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def items(self):
        return [(k, self[k]) for k in dict.keys(self)]

    def values(self):
        return [self[k] for k in dict.keys(self)]

    def copy(self) -> dict:
        return dict(self.items())

    def __iter__(self):
        return dict.__iter__(self)

    def __eq__(self, other) -> bool:
        return dict(self.items()) == (dict(other.items()) if isinstance(other, dict) else other)

    __hash__ = None

    def __repr__(self) -> str:
        return repr(dict(self.items()))


# A header line: its name, an optional space after the colon, its value. The block is parsed by
# one regular expression in C (a loop over 100-250 lines in Python cost three times as much);
# a block with carriage returns (CRLF lines) takes the slower pattern that drops them.
_LINE = re.compile(r"^([^:\n]+): ?([^\n]*)", re.M)
_LINE_CRLF = re.compile(r"^([^:\n]+):[ ]?([^\n]*?)\r?$", re.M)


def _parse_header_block(block: bytes) -> tuple[Headers, list[tuple[str, str]]]:
    """The block's headers, and its (name, value) lines in order (duplicate names included:
    Hangup-Cause comes twice with equal values, and the last is kept)."""
    text = block.decode("latin-1")
    pairs = (_LINE_CRLF if "\r" in text else _LINE).findall(text)
    return Headers(pairs), pairs


def parse_event(message: Message) -> Event:
    """Decode the body of a ``text/event-plain`` or ``text/event-json`` frame."""
    ct = message.content_type
    if ct == "text/event-plain":
        data = message.body
        end = data.find(b"\n\n")
        block, rest = (data, b"") if end < 0 else (data[:end], data[end + 2:])
        headers, pairs = _parse_header_block(block)
        body = ""
        inner = headers.get("Content-Length")
        if inner is not None:
            try:
                body = rest[:int(inner)].decode("utf-8", "replace")
            except ValueError:
                raise ProtocolError(f"bad inner Content-Length {inner!r}") from None
        return Event(headers, body, pairs)
    if ct == "text/event-json":
        try:
            obj = json.loads(message.body)
        except ValueError as e:
            raise ProtocolError(f"bad JSON event: {e}") from None
        body = obj.pop("_body", "")
        headers = {k: v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
        return Event(headers, body)
    raise ProtocolError(f"not an event: {ct!r}")


class FrameReader:
    """Split a byte stream into Messages: header block, blank line, Content-Length bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending: dict[str, str] | None = None
        self._need = 0

    def feed(self, data: bytes) -> Iterator[Message]:
        buf = self._buf
        buf += data
        pos = 0
        try:
            while True:
                if self._pending is None:
                    # Blank lines before a header block are ignored (as libesl does).
                    while pos < len(buf) and buf[pos] in (0x0A, 0x0D):
                        pos += 1
                    end = buf.find(b"\n\n", pos)
                    if end < 0:
                        return
                    headers, _ = _parse_header_block(bytes(buf[pos:end]))
                    pos = end + 2
                    length = headers.get("Content-Length")
                    if not length:
                        yield Message(headers)
                        continue
                    try:
                        self._need = int(length)
                    except ValueError:
                        raise ProtocolError(f"bad Content-Length {length!r}") from None
                    self._pending = headers
                if len(buf) - pos < self._need:
                    return
                body = bytes(buf[pos:pos + self._need])
                pos += self._need
                headers, self._pending = self._pending, None
                yield Message(headers, body)
        finally:
            del buf[:pos]


# --- writing commands ----------------------------------------------------------------------

def encode_command(command: str, headers: dict[str, str] | None = None, body: str | bytes | None = None) -> bytes:
    """One command: its line, ``Name: value`` lines, a blank line, then the body if any."""
    if "\n" in command:
        raise ValueError("a command is one line")
    lines = [command]
    payload = b""
    if headers:
        for k, v in headers.items():
            v = str(v)
            if "\n" in v or "\n" in k:
                raise ValueError(f"header {k!r} contains a newline")
            lines.append(f"{k}: {v}")
    if body is not None:
        payload = body.encode("utf-8") if isinstance(body, str) else body
        lines.append(f"Content-Length: {len(payload)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8") + payload


# --- the connection ------------------------------------------------------------------------

EventHandler = Callable[[Event], None]
NoticeHandler = Callable[[Message], None]


class Connection(StreamConnection):
    """One Event Socket connection (either direction) with one reader greenlet.

    Replies (``command/reply``, ``api/response``) are matched to commands in order. Events go
    to ``on_event``, disconnect notices to ``on_notice``; both run in the reader and must only
    route (put into a queue). ``on_close(exc)`` runs once when the connection ends.
    """

    protocol_errors = (ProtocolError,)

    def __init__(self, sock: socket.socket, on_event: EventHandler | None = None,
                 on_notice: NoticeHandler | None = None,
                 on_close: Callable[[BaseException | None], None] | None = None,
                 name: str = "esl"):
        super().__init__(sock, on_close, name)
        self._on_event = on_event or (lambda e: None)
        self._on_notice = on_notice or (lambda m: None)
        self._waiting: deque[gevent.event.AsyncResult] = deque()
        self._write_lock = gevent.lock.Semaphore()
        self._first = gevent.event.AsyncResult()   # first unsolicited frame (auth/request, connect)

    # -- lifecycle

    def wait_greeting(self, timeout: float) -> Message:
        """The first frame FreeSWITCH sends on an inbound connection (auth/request)."""
        return self._first.get(timeout=timeout)

    def _error(self, exc: BaseException | None) -> BaseException:
        err = exc if exc is not None else NotConnected("connection closed")
        return err if isinstance(err, ESLError) else NotConnected(f"connection lost: {err}")

    def _fail_waiters(self, err: BaseException) -> None:
        while self._waiting:
            self._waiting.popleft().set_exception(err)
        if not self._first.ready():
            self._first.set_exception(err)

    # -- reading

    def _new_parser(self) -> "FrameReader":
        return FrameReader()

    def _feed(self, parser: "FrameReader", data: bytes) -> Iterator[Message]:
        return parser.feed(data)

    def _dispatch(self, msg: Message) -> None:
        ct = msg.headers.get("Content-Type")
        if ct in ("text/event-plain", "text/event-json"):
            try:
                event = parse_event(msg)
            except ProtocolError:
                logger.warning("%s: undecodable event dropped", self.name)
                return
            self._on_event(event)
        elif ct in ("command/reply", "api/response"):
            if self._waiting:
                self._waiting.popleft().set(msg)
            elif not self._first.ready():
                self._first.set(msg)
            else:
                logger.warning("%s: reply without a command: %r", self.name, msg.headers.get("Reply-Text"))
        elif ct in ("text/disconnect-notice", "text/rude-rejection"):
            if not self._first.ready():
                self._first.set(msg)
            self._on_notice(msg)
        elif ct == "auth/request" and not self._first.ready():
            self._first.set(msg)
        elif ct == "log/data":
            pass
        else:
            # A block without Content-Type (never sent by FreeSWITCH) is skipped, not fatal.
            logger.debug("%s: unknown frame %r", self.name, ct)

    # -- writing

    def send(self, command: str, headers: dict[str, str] | None = None, body: str | bytes | None = None,
             timeout: float | None = 10.0) -> Message:
        """Send one command and wait for its reply (command/reply or api/response)."""
        result = self.send_nowait(command, headers, body)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            raise ESLError(f"no reply to {command.split(' ', 1)[0]} within {timeout} s") from None

    def send_nowait(self, command: str, headers: dict[str, str] | None = None,
                    body: str | bytes | None = None) -> gevent.event.AsyncResult:
        if self.closed:
            raise NotConnected()
        data = encode_command(command, headers, body)
        result = gevent.event.AsyncResult()
        with self._write_lock:
            if self.closed:
                raise NotConnected()
            self._waiting.append(result)
            try:
                self.sock.sendall(data)
            except OSError as e:
                self._shutdown(e)
                raise NotConnected(f"send failed: {e}") from None
        return result

    def command(self, command: str, headers: dict[str, str] | None = None, timeout: float | None = 10.0) -> str:
        """A command answered by command/reply; raise CommandFailed on ``-ERR``."""
        reply = self.send(command, headers, timeout=timeout).reply_text
        if reply.startswith("-ERR"):
            raise CommandFailed(command, reply)
        return reply

    def api(self, command: str, timeout: float | None = 10.0) -> str:
        """``api <command>``: the response body as text (``-ERR ...`` is returned, not raised)."""
        msg = self.send("api " + command, timeout=timeout)
        return msg.body.decode("utf-8", "replace")

"""Asterisk Manager Interface: framing, one connection, ActionID correlation.

The wire format (Asterisk Call Manager/11.0.0, as recorded from Asterisk 22):

- the server's first line is the banner ``Asterisk Call Manager/<version>\\r\\n`` with no blank
  line after it;
- then every message is ``Key: value\\r\\n`` lines closed by an empty line; no bodies, no
  Content-Length; a value may be empty (``AccountCode: ``); a key may repeat (``FileName``,
  ``Variable``), so a message keeps its headers as an ordered list of pairs;
- a message with ``Event:`` is an event (``OriginateResponse`` and list events also carry
  ``Response:`` or the ``ActionID`` of the action that caused them); a message with
  ``Response:`` alone answers the action whose ``ActionID`` it carries.

:class:`AMIConnection` owns one socket and one reader greenlet. The reader only parses and
routes: responses complete the waiting action's ``AsyncResult``; events of an action that
answers with an event list (``CoreShowChannels``) are collected for it; every event is also
handed to ``on_event``, which must not block (the backend puts it into a queue).
"""
from __future__ import annotations

import itertools
import logging
import socket
from typing import Callable, Iterable, Iterator

import gevent
import gevent.event
import gevent.lock

from faxd.errors import FaxdError
from faxd.switch.stream import StreamConnection, header

logger = logging.getLogger(__name__)

BANNER_PREFIX = "Asterisk Call Manager/"
MAX_MESSAGE = 1 << 20   # a message larger than this is a protocol error, not a reason to eat memory


class AMIError(FaxdError):
    """Asterisk Manager Interface error."""


class NotConnected(AMIError):
    """Not connected to the Asterisk Manager Interface."""


class AuthFailed(AMIError):
    """Asterisk refused the AMI login (Authentication failed)."""


class ProtocolError(AMIError):
    """The peer does not speak AMI."""


class ActionFailed(AMIError):
    """Asterisk answered an action with Response: Error."""

    def __init__(self, action: str, response: "Message"):
        self.action = action
        self.response = response
        super().__init__(f"{action}: {response.get('Message') or response.get('Response')}")


class Message:
    """One AMI message: ordered (key, value) pairs; lookups by key return the first value."""

    __slots__ = ("headers", "_first")

    def __init__(self, headers: Iterable[tuple[str, str]]):
        self.headers: list[tuple[str, str]] = headers if isinstance(headers, list) else list(headers)
        self._first = dict(reversed(self.headers))      # the first value of a repeated key wins

    def get(self, key: str, default: str = "") -> str:
        return self._first.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def __contains__(self, key: str) -> bool:
        return key in self._first

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self.headers if k == key]

    event = header("Event")
    action_id = header("ActionID")
    uniqueid = header("Uniqueid")
    linkedid = header("Linkedid")

    @property
    def is_event(self) -> bool:
        return "Event" in self._first

    @property
    def is_response(self) -> bool:
        return "Response" in self._first and "Event" not in self._first

    def to_dict(self) -> dict[str, str]:
        return dict(self._first)

    def encode(self) -> bytes:
        return encode_message(self.headers)

    def __eq__(self, other) -> bool:
        return isinstance(other, Message) and other.headers == self.headers

    def __repr__(self) -> str:
        kind = self.event or ("Response " + self.get("Response"))
        return f"<ami.Message {kind} {self.uniqueid or self.action_id}>"


def _check_value(key: str, value: str) -> None:
    if "\r" in value or "\n" in value or "\r" in key or "\n" in key or ":" in key:
        raise ValueError(f"AMI header {key!r} cannot carry a line break or a colon in its name")


def encode_message(headers: Iterable[tuple[str, str]]) -> bytes:
    """``Key: value\\r\\n`` per header, then the empty line. Values may be empty, never multi-line."""
    out = []
    for k, v in headers:
        v = "" if v is None else str(v)
        _check_value(k, v)
        out.append(f"{k}: {v}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


def encode_action(action: str, headers: Iterable[tuple[str, str]] = (), action_id: str = "") -> bytes:
    pairs = [("Action", action)]
    if action_id:
        pairs.append(("ActionID", action_id))
    pairs.extend(headers)
    return encode_message(pairs)


def parse_block(block: bytes) -> Message:
    """One message without its closing empty line."""
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in block.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")       # "Key:" with nothing after it
            if not sep or not key:
                raise ProtocolError(f"not an AMI header line: {line[:80]!r}")
        append((key, value))
    return Message(headers)


class FrameParser:
    """Bytes in, banner then messages out. Strict: CRLF only, no bodies."""

    def __init__(self, expect_banner: bool = True):
        self._buf = b""
        self.banner: str | None = None if expect_banner else ""

    def feed(self, data: bytes) -> Iterator[Message | str]:
        """Yields the banner (a str) once, then Messages. Consume the iterator fully."""
        buf = self._buf + data if self._buf else data
        pos = 0
        if self.banner is None:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > 1024:
                    raise ProtocolError("no AMI banner")
                self._buf = buf
                return
            line = buf[:end].decode("utf-8", "replace")
            if not line.startswith(BANNER_PREFIX):
                raise ProtocolError(f"not an AMI banner: {line[:80]!r}")
            self.banner = line
            pos = end + 2
            yield line
        while True:
            end = buf.find(b"\r\n\r\n", pos)
            if end < 0:
                break
            block = buf[pos:end]
            pos = end + 4
            # Blank lines between messages (never sent by Asterisk) are skipped, not fatal.
            block = block.lstrip(b"\r\n")
            if block:
                yield parse_block(block)
        self._buf = buf[pos:]
        if len(self._buf) > MAX_MESSAGE:
            raise ProtocolError("AMI message too large")


def parse_stream(data: bytes, expect_banner: bool = True) -> tuple[str, list[Message]]:
    """A whole recorded stream: (banner, messages)."""
    parser = FrameParser(expect_banner)
    banner = ""
    messages: list[Message] = []
    for item in parser.feed(data):
        if isinstance(item, str):
            banner = item
        else:
            messages.append(item)
    return banner, messages


EventHandler = Callable[[Message], None]


class _Pending:
    __slots__ = ("action", "result", "events", "collect")

    def __init__(self, action: str, collect: bool | str):
        self.action = action
        self.result = gevent.event.AsyncResult()
        self.events: list[Message] = []
        self.collect = collect


class AMIConnection(StreamConnection):
    """One logged-in AMI session with one reader greenlet."""

    protocol_errors = (ProtocolError,)

    def __init__(self, sock: socket.socket, on_event: EventHandler | None = None,
                 on_close: Callable[[BaseException | None], None] | None = None,
                 name: str = "ami", id_prefix: str = "faxd"):
        super().__init__(sock, on_close, name)
        self.banner = ""
        self._on_event = on_event or (lambda m: None)
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._id_prefix = id_prefix
        self._write_lock = gevent.lock.Semaphore()
        self._banner = gevent.event.AsyncResult()

    @classmethod
    def connect(cls, host: str, port: int, username: str, secret: str, timeout: float = 10.0,
                on_event: EventHandler | None = None,
                on_close: Callable[[BaseException | None], None] | None = None,
                group=None, name: str | None = None, id_prefix: str = "faxd") -> "AMIConnection":
        """TCP connect, read the banner, Login, and subscribe to events (``Events: on``)."""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise NotConnected(f"cannot connect to AMI {host}:{port}: {e}") from None
        sock.settimeout(None)
        conn = cls(sock, on_event=on_event, on_close=on_close, name=name or f"ami {host}:{port}",
                   id_prefix=id_prefix)
        conn.start(group)
        try:
            conn.wait_banner(timeout)
            try:
                conn.action("Login", [("Username", username), ("Secret", secret)], timeout=timeout)
            except ActionFailed as e:
                raise AuthFailed(f"AMI login as {username!r} refused: {e.response.get('Message')}") from None
            conn.action("Events", [("EventMask", "on")], timeout=timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    # -- lifecycle

    def wait_banner(self, timeout: float) -> str:
        try:
            return self._banner.get(timeout=timeout)
        except gevent.Timeout:
            raise ProtocolError(f"no AMI banner within {timeout} s") from None

    def logoff(self, timeout: float = 2.0) -> None:
        """Polite goodbye (``Response: Goodbye``), then close."""
        try:
            self.action("Logoff", timeout=timeout)
        except AMIError:
            pass
        self.close()

    def _error(self, exc: BaseException | None) -> BaseException:
        return exc if isinstance(exc, AMIError) else NotConnected(
            f"{self.name}: connection lost" + (f": {exc}" if exc else ""))

    def _fail_waiters(self, err: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.result.ready():
                p.result.set_exception(err)
        if not self._banner.ready():
            self._banner.set_exception(err)

    # -- reading

    def _new_parser(self) -> FrameParser:
        return FrameParser()

    def _feed(self, parser: FrameParser, data: bytes) -> Iterator[Message | str]:
        for item in parser.feed(data):
            if isinstance(item, str):
                self.banner = item
                self._banner.set(item)
            else:
                yield item

    def _dispatch(self, msg: Message) -> None:
        aid = msg.action_id
        pending = self._pending.get(aid) if aid else None
        if msg.is_event:
            if pending is not None and isinstance(pending.collect, str):
                if msg.event == pending.collect:
                    del self._pending[aid]
                    pending.result.set(msg)
                    return
                self._on_event(msg)
                return
            if pending is not None and pending.collect:
                if msg.get("EventList").lower() == "complete":
                    del self._pending[aid]
                    pending.result.set(pending.events)
                else:
                    pending.events.append(msg)
                return
            self._on_event(msg)
            return
        if pending is None:
            logger.debug("%s: response without a waiting action: %r", self.name, msg)
            return
        if msg.get("Response") == "Error":
            del self._pending[aid]
            pending.result.set_exception(ActionFailed(pending.action, msg))
        elif isinstance(pending.collect, str):
            pass  # the answer follows as one event with this ActionID
        elif pending.collect and msg.get("EventList").lower() == "start":
            pass  # the list follows as events with this ActionID
        else:
            del self._pending[aid]
            pending.result.set(msg)

    # -- writing

    def next_action_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    def send_action(self, action: str, headers: Iterable[tuple[str, str]] = (),
                    action_id: str | None = None, collect: bool | str = False) -> gevent.event.AsyncResult:
        """Send one action; the AsyncResult gets its Response (or the list of events, ``collect``)."""
        if self.closed:
            raise NotConnected(f"{self.name}: not connected")
        aid = action_id or self.next_action_id()
        data = encode_action(action, headers, aid)
        pending = _Pending(action, collect)
        with self._write_lock:
            if self.closed:
                raise NotConnected(f"{self.name}: not connected")
            self._pending[aid] = pending
            try:
                self.sock.sendall(data)
            except OSError as e:
                self._shutdown(e)
                raise NotConnected(f"{self.name}: send failed: {e}") from None
        return pending.result

    def action(self, action: str, headers: Iterable[tuple[str, str]] = (), action_id: str | None = None,
               timeout: float | None = 10.0) -> Message:
        """Send an action and wait for its Response; ``Response: Error`` raises ActionFailed."""
        result = self.send_action(action, headers, action_id)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            raise AMIError(f"{self.name}: no response to {action} within {timeout} s") from None

    def action_list(self, action: str, headers: Iterable[tuple[str, str]] = (),
                    timeout: float | None = 10.0) -> list[Message]:
        """An action answered by an event list (``EventList: start`` ... ``Complete``)."""
        result = self.send_action(action, headers, collect=True)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            raise AMIError(f"{self.name}: no complete list for {action} within {timeout} s") from None

    def action_event(self, action: str, event: str, headers: Iterable[tuple[str, str]] = (),
                     timeout: float | None = 10.0) -> Message:
        """An action acknowledged with ``Response: Success`` and answered by one ``event``
        carrying its ActionID (``FAXSession``)."""
        aid = self.next_action_id()
        result = self.send_action(action, headers, action_id=aid, collect=event)
        try:
            return result.get(timeout=timeout)
        except gevent.Timeout:
            self._pending.pop(aid, None)
            raise AMIError(f"{self.name}: no {event} event for {action} within {timeout} s") from None

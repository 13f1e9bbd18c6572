"""The Event Socket wire as mod_event_socket speaks it: frames (command replies, api
responses, events in plain or json, disconnect notices), the command reader, and one
``Session`` per connection (auth, subscriptions, filters, myevents, linger, api/bgapi,
sendmsg). What a command *does* to calls is the replay engine's (faxd.testing.esl.emulator)."""
from __future__ import annotations

import collections
import json
import re
import socket
import uuid as uuidlib
from typing import TYPE_CHECKING

import gevent
import gevent.event
import gevent.lock
import gevent.queue
import gevent.socket

from faxd.switch.freeswitch.esl import FrameReader, url_encode

if TYPE_CHECKING:
    from faxd.testing.esl.emulator import EmuCall, ESLEmulator

MYEVENTS = {
    "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_ANSWER", "CHANNEL_APPLICATION",
    "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_DATA", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_OUTGOING", "CHANNEL_UUID",
    "CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "DTMF", "TALK",
    "NOTALK", "DETECTED_SPEECH",
}
GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def frame_event(headers: list[tuple[str, str]], body: str, fmt: str) -> bytes:
    """One event frame as mod_event_socket writes it (Content-Length first)."""
    if fmt == "json":
        obj = {}
        for k, v in headers:
            obj.setdefault(k, v)
        if body:
            obj["Content-Length"] = str(len(body.encode()))
            obj["_body"] = body
        inner = json.dumps(obj, separators=(",", ":")).encode()
        ctype = "text/event-json"
    else:
        parts = [f"{k}: {url_encode(v)}\n" for k, v in headers]
        if body:
            b = body.encode()
            parts.append(f"Content-Length: {len(b)}\n\n")
            inner = "".join(parts).encode() + b
        else:
            parts.append("\n")
            inner = "".join(parts).encode()
        ctype = "text/event-plain"
    return f"Content-Length: {len(inner)}\nContent-Type: {ctype}\n\n".encode() + inner


def frame_plain(lines: list[bytes], body: str) -> bytes:
    """frame_event for plain, from header lines already encoded."""
    if body:
        b = body.encode()
        inner = b"".join(lines) + f"Content-Length: {len(b)}\n\n".encode() + b
    else:
        inner = b"".join(lines) + b"\n"
    return f"Content-Length: {len(inner)}\nContent-Type: text/event-plain\n\n".encode() + inner


def reply(text: str, extra: dict | None = None) -> bytes:
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}"]
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    return ("\n".join(lines) + "\n\n").encode()


def api_response(body: str) -> bytes:
    b = body.encode()
    return f"Content-Type: api/response\nContent-Length: {len(b)}\n\n".encode() + b


def notice(body: str = GOODBYE, uuid: str = "", disposition: str = "", extra: dict | None = None) -> bytes:
    b = body.encode()
    lines = ["Content-Type: text/disconnect-notice"]
    if uuid:
        lines.append(f"Controlled-Session-UUID: {uuid}")
    if disposition:
        lines.append(f"Content-Disposition: {disposition}")
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    lines.append(f"Content-Length: {len(b)}")
    return ("\n".join(lines) + "\n\n").encode() + b


class Session:
    """One Event Socket connection: an inbound client, or faxd's side of an outbound socket."""

    def __init__(self, emu: "ESLEmulator", sock, outbound_call: "EmuCall | None" = None):
        self.emu = emu
        self.sock = sock
        self.call = outbound_call
        self.authed = outbound_call is not None
        self.connected = outbound_call is None      # outbound: after "connect"
        self.events: set[str] = set()
        self.subclasses: set[str] = set()
        self.all = False
        self.fmt = "plain"
        self.filters: list[tuple[str, str]] = []
        self.bound: str = outbound_call.b_uuid if outbound_call else ""
        self.myevents = False
        self.linger: int | None = None
        self.closed = False
        self.killing = False
        self._queue: collections.deque[bytes] = collections.deque()
        self._wake = gevent.event.Event()
        self._held = 0
        self.lost = 0
        self.lost_total = 0
        self.closed_event = gevent.event.Event()
        self._writer = emu.group.spawn(self._write_loop)

    # -- writing (one writer greenlet; api holds event delivery)

    def write(self, data: bytes) -> None:
        if not self.closed:
            self._queue.append(data)
            self._wake.set()

    def offer(self, headers: list[tuple[str, str]], hmap: dict, body: str, plain: bytes | None = None) -> None:
        if self.closed or self.killing or not self.authed or not self.wants(hmap):
            return
        if len(self._queue) >= self.emu.queue_limit:
            self.lost += 1
            self.lost_total += 1
            if self.lost >= self.emu.lost_limit:
                self.killing = True
                self._queue.clear()
                self._queue.append(notice("killed listener because of lost events\n"))
                self._wake.set()
                self.emu.group.spawn(self._kill_slow)
            return
        self.lost = 0
        self.write(plain if plain is not None and self.fmt == "plain" else frame_event(headers, body, self.fmt))

    def wants(self, h: dict) -> bool:
        name = h.get("Event-Name", "")
        if self.bound and self.myevents:
            if h.get("Unique-ID") != self.bound:
                return False
            if name in MYEVENTS:
                return True
        if not (self.all or name in self.events or (name == "CUSTOM" and h.get("Event-Subclass") in self.subclasses)):
            return False
        if self.filters:
            return any(h.get(k, "").lower() == v.lower() for k, v in self.filters)
        return True

    def _write_loop(self) -> None:
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                while self._queue and not self._held:
                    data = self._queue.popleft()
                    if data is None:
                        raise OSError("closing")
                    self.sock.sendall(data)
                    if self.emu.slow_writes:
                        gevent.sleep(self.emu.slow_writes)
        except (OSError, gevent.GreenletExit):
            pass
        finally:
            self._close_now()

    def _kill_slow(self) -> None:
        """A consumer that does not read: give the notice a moment, then close regardless."""
        self._close_after_flush()
        self.closed_event.wait(1.0)
        self._close_now()

    def _close_after_flush(self) -> None:
        self._queue.append(None)
        self._wake.set()

    def hold(self) -> None:
        self._held += 1

    def release(self) -> None:
        self._held -= 1
        self._wake.set()

    def close(self, goodbye: bool = True) -> None:
        """Disconnect notice, then close (as FreeSWITCH does)."""
        if self.closed:
            return
        if goodbye:
            if self.bound:
                self.write(notice(GOODBYE, self.bound, "disconnect"))
            else:
                self.write(notice(GOODBYE))
        self._close_after_flush()

    def cut(self) -> None:
        """Drop the TCP connection without a word (network failure)."""
        self._close_now()

    def _close_now(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.closed_event.set()
        self.emu.sessions.discard(self)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._writer.kill(block=False)
        if self.call is not None:
            self.call.socket_closed()

    # -- reading commands

    def run(self) -> None:
        if self.call is None:
            self.write(b"Content-Type: auth/request\n\n")
        reader = CommandReader()
        try:
            while not self.closed:
                data = self.sock.recv(65536)
                if not data:
                    break
                for cmd, headers, body in reader.feed(data):
                    self.emu.running.wait()       # a stalled FreeSWITCH reads nothing
                    self.handle(cmd, headers, body)
                    if self.closed:
                        break
        except OSError:
            pass
        finally:
            if not self.closed:
                self._close_now()

    def handle(self, line: str, headers: dict, body: bytes) -> None:
        word, _, rest = line.partition(" ")
        word = word.lower()
        if not self.authed:
            if word == "auth":
                if rest == self.emu.password:
                    self.authed = True
                    self.write(reply("+OK accepted"))
                else:
                    self.write(reply("-ERR invalid"))
                    self.close()
            else:
                self.write(reply("-ERR command not found"))
            return
        if self.call is not None and not self.connected:
            if word == "connect":
                self.connected = True
                self.write(self.call.connect_block())
            else:
                self.write(reply("-ERR command not found"))
            return
        handler = getattr(self, "cmd_" + word, None)
        if handler is None:
            self.write(reply("-ERR command not found"))
            return
        handler(rest, headers, body)

    def cmd_exit(self, rest, headers, body):
        self.write(reply("+OK bye"))
        self.close()

    def cmd_event(self, rest, headers, body):
        words = rest.split()
        fmt = self.fmt
        if words and words[0].lower() in ("plain", "json", "xml"):
            fmt = "json" if words[0].lower() == "json" else "plain"
            words = words[1:]
        known = False
        custom = False
        for w in words:
            if custom:
                self.subclasses.add(w)
                known = True
                continue
            name = w.upper().removeprefix("SWITCH_EVENT_")
            if name == "CUSTOM":
                custom = True
                known = True
            elif name == "ALL":
                self.all = True
                known = True
            elif re.fullmatch(r"[A-Z_]+", name):
                self.events.add(name)
                known = True
        if not known:
            self.write(reply("-ERR no keywords supplied"))
        else:
            self.fmt = fmt
            self.write(reply(f"+OK event listener enabled {self.fmt}"))

    def cmd_nixevent(self, rest, headers, body):
        words = rest.split()
        if not words:
            self.write(reply("-ERR no keywords supplied"))
            return
        for w in words:
            self.events.discard(w.upper())
            self.subclasses.discard(w)
            if w.upper() == "ALL":
                self.all = False
        self.write(reply("+OK events nixed"))

    def cmd_noevents(self, rest, headers, body):
        had = self.all or self.events or self.subclasses
        self.all, self.events, self.subclasses = False, set(), set()
        self.write(reply("+OK no longer listening for events" if had else "-ERR not listening for events"))

    def cmd_filter(self, rest, headers, body):
        words = rest.split(None, 2)
        if words and words[0] == "delete":
            if len(words) > 1 and words[1] == "all":
                self.filters.clear()
                self.write(reply("+OK filter deleted. [all][]"))
                return
            name = words[1] if len(words) > 1 else ""
            value = words[2] if len(words) > 2 else ""
            self.filters = [f for f in self.filters if not (f[0] == name and (not value or f[1] == value))]
            self.write(reply(f"+OK filter deleted. [{name}][{value}]"))
            return
        if words and words[0] == "add":
            words = words[1:]
        if len(words) < 2:
            self.write(reply("-ERR invalid syntax"))
            return
        self.filters.append((words[0], words[1]))
        self.write(reply(f"+OK filter added. [{words[0]}]=[{words[1]}]"))

    def cmd_myevents(self, rest, headers, body):
        words = rest.split()
        if self.myevents:
            self.write(reply("-ERR aready enabled."))
            return
        if words and words[0] not in ("plain", "json", "xml"):
            if words[0] not in self.emu.calls_by_uuid:
                self.write(reply("-ERR invalid uuid"))
                return
            self.bound = words[0]
            words = words[1:]
        if not self.bound:
            self.write(reply("-ERR invalid uuid"))
            return
        if words:
            self.fmt = "json" if words[0] == "json" else "plain"
        self.myevents = True
        self.write(reply("+OK Events Enabled"))

    def cmd_linger(self, rest, headers, body):
        if not self.bound:
            self.write(reply("-ERR not controlling a session"))
            return
        if rest.strip().isdigit():
            self.linger = int(rest)
            self.write(reply(f"+OK will linger {self.linger} seconds"))
        else:
            self.linger = -1
            self.write(reply("+OK will linger"))

    def cmd_nolinger(self, rest, headers, body):
        if not self.bound:
            self.write(reply("-ERR not controlling a session"))
            return
        self.linger = None
        self.write(reply("+OK will not linger"))

    def cmd_log(self, rest, headers, body):
        self.write(reply(f"+OK log level {rest or 'debug'} [7]"))

    def cmd_nolog(self, rest, headers, body):
        self.write(reply("+OK no longer logging"))

    def cmd_divert_events(self, rest, headers, body):
        self.write(reply("+OK events diverted" if rest.strip() == "on" else "+OK events not diverted"))

    def cmd_resume(self, rest, headers, body):
        self.write(reply("+OK"))

    def cmd_sendmsg(self, rest, headers, body):
        target = rest.strip() or self.bound
        call = self.emu.calls_by_uuid.get(target)
        if call is None or target != call.b_uuid or call.flow != "socket":
            if call is not None and headers.get("call-command") == "hangup":
                self.write(reply("+OK"))
                call.kill(headers.get("hangup-cause", "NORMAL_CLEARING"))
                return
            self.write(reply(f"-ERR invalid session id [{target}]"))
            return
        if body and not headers.get("execute-app-arg"):
            headers["execute-app-arg"] = body.decode("utf-8", "replace")
        self.write(reply("+OK"))
        call.commands.put(headers)

    def cmd_api(self, rest, headers, body):
        self.hold()
        def run():
            try:
                out = self.emu.run_api(rest, self)
                self._queue.appendleft(api_response(out))
            finally:
                self.release()
        # Replies keep their order: the api response goes before any event queued meanwhile.
        self.emu.group.spawn(run).join()

    def cmd_bgapi(self, rest, headers, body):
        job = headers.get("Job-UUID") or str(uuidlib.uuid4())
        self.write(reply(f"+OK Job-UUID: {job}", {"Job-UUID": job}))
        self.emu.group.spawn(self.emu.run_bgapi, rest, job)


class CommandReader:
    """Commands from a client: a line, header lines, a blank line, an optional body."""

    def __init__(self):
        self._frames = FrameReader()

    def feed(self, data: bytes):
        for msg in self._frames_raw(data):
            yield msg

    def _frames_raw(self, data: bytes):
        buf = getattr(self, "_buf", b"") + data
        while True:
            stripped = buf.lstrip(b"\r\n")
            end = stripped.find(b"\n\n")
            crlf = stripped.find(b"\r\n\r\n")
            if crlf >= 0 and (end < 0 or crlf < end):
                end, sep = crlf, 4
            else:
                sep = 2
            if end < 0:
                self._buf = stripped
                return
            block = stripped[:end].decode("utf-8", "replace").replace("\r", "")
            rest = stripped[end + sep:]
            lines = block.split("\n")
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip()] = v.strip()
            length = headers.get("Content-Length") or headers.get("content-length")
            body = b""
            if length:
                n = int(length)
                if len(rest) < n:
                    self._buf = stripped
                    return
                body, rest = rest[:n], rest[n:]
            buf = rest
            yield lines[0].strip(), headers, body

"""A minimal IAX2 endpoint (RFC 5456) that puts a faxd spandsp FaxSession on an IAX2 call.

It speaks just enough IAX2 to place or take one call with a software Class 1 modem
(iaxmodem) on 127.0.0.1: full frames NEW / ACCEPT / ANSWER / ACK / HANGUP (plus PING, LAGRQ
and POKE answers), and voice as 8 kHz mu-law, the first frame full and the rest mini frames
(a full voice frame again whenever the 16-bit mini-frame timestamp wraps, RFC 5456 8.1.2).
A PING goes out every 5 s: iaxmodem's libiax2 rebuilds a mini frame's 32-bit timestamp from
the last timestamp of an IAX *control* frame it received ("unwrap_timestamp"), so without one,
50 s into the call it takes the mini frames for stale ones from before a wrap, moves them 65.5 s
back and drops them: the page in flight is lost.
No authentication, no registration, no retransmission of our own frames: the peer is on
the loopback interface, where UDP is not lost.

Audio runs in real time, one 20 ms block (160 samples) per tick, in one thread that owns the
FaxSession (spandsp state is not shared between threads): received audio is fed to
``session.rx`` as it arrives, and at every tick ``session.tx(160)`` is sent. Audio that did
not arrive (more than 100 ms behind the line clock) is filled in with ``rx_fillin``, so
T.30's timers keep running when the far end goes quiet.
"""
from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from tests.integration.interop import ulaw

log = logging.getLogger(__name__)

# Frame types (RFC 5456 8.2)
FT_VOICE, FT_CONTROL, FT_IAX = 0x02, 0x04, 0x06
# IAX frame subclasses (8.4)
NEW, PING, PONG, ACK, HANGUP, REJECT, ACCEPT = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
INVAL, LAGRQ, LAGRP, VNAK, POKE = 0x0A, 0x0B, 0x0C, 0x12, 0x1E
# Control frame subclasses (8.3)
C_HANGUP, C_RINGING, C_ANSWER, C_BUSY, C_CONGESTION = 0x01, 0x03, 0x04, 0x05, 0x08
# Media format (8.7): G.711 mu-law
ULAW = 0x04
# Information elements (8.6)
IE_CALLED_NUMBER, IE_CALLING_NUMBER, IE_CALLING_NAME = 0x01, 0x02, 0x04
IE_CAPABILITY, IE_FORMAT, IE_VERSION, IE_CAUSE, IE_CAUSECODE = 0x08, 0x09, 0x0B, 0x16, 0x2A

BLOCK = 160                       # samples in 20 ms at 8 kHz
TICK = 0.020
PING_EVERY = 250                  # ticks (5 s) between PINGs that refresh the peer's timestamp base
# Frames that do not advance the sequence numbers (RFC 5456 7.1: ACK, INVAL, VNAK...)
_NO_SEQ = {ACK, INVAL, VNAK}

FULL = struct.Struct(">HHIBBBB")
MINI = struct.Struct(">HH")



def encode_ies(ies: list[tuple[int, bytes]]) -> bytes:
    return b"".join(bytes([t, len(v)]) + v for t, v in ies)


def decode_ies(data: bytes) -> dict[int, bytes]:
    out, i = {}, 0
    while i + 2 <= len(data):
        t, n = data[i], data[i + 1]
        out[t] = data[i + 2:i + 2 + n]
        i += 2 + n
    return out


@dataclass
class Frame:
    """A received frame: full (ftype set) or mini (ftype None, voice)."""
    src: int
    dst: int
    ts: int
    oseq: int = 0
    iseq: int = 0
    ftype: int | None = None
    subclass: int = 0
    retransmit: bool = False
    payload: bytes = b""

    @property
    def ies(self) -> dict[int, bytes]:
        return decode_ies(self.payload)


def parse(data: bytes) -> Frame | None:
    if len(data) < 4:
        return None
    first = struct.unpack(">H", data[:2])[0]
    if first & 0x8000:
        if len(data) < FULL.size:
            return None
        src, dst, ts, oseq, iseq, ftype, sub = FULL.unpack(data[:FULL.size])
        if sub & 0x80:                          # C bit: subclass is a power of two
            sub = 1 << (sub & 0x7F)
        return Frame(src & 0x7FFF, dst & 0x7FFF, ts, oseq, iseq, ftype, sub, bool(dst & 0x8000),
                     data[FULL.size:])
    if first == 0:                              # meta frames (trunk, video): not used here
        return None
    src, ts = MINI.unpack(data[:4])
    return Frame(src, 0, ts, payload=data[4:])


@dataclass
class CallLog:
    """What the endpoint saw and did: for the test's assertions and its failure messages."""
    events: list[tuple[float, str]] = field(default_factory=list)
    voice_in: int = 0                          # voice frames received
    voice_out: int = 0
    fillin_samples: int = 0

    def add(self, what: str) -> None:
        self.events.append((time.monotonic(), what))
        log.info("iax2: %s", what)

    def names(self) -> list[str]:
        return [w for _, w in self.events]


class Iax2FaxEndpoint:
    """One IAX2 call carrying a FaxSession's audio, on a UDP socket bound to 127.0.0.1.

    ``call(peer, number, session)`` places a call to ``peer`` (host, port) and runs the
    session once the peer answers; ``wait_call(session)`` takes the next NEW, accepts and
    answers it, and runs the session. Both return when the call ends: the session reached
    phase E and we hung up, or the peer hung up, or ``timeout`` passed.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, local_callno: int = 1, trace: bool = False,
                 record: bool = False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.address = self.sock.getsockname()
        self.callno = local_callno
        self.trace = trace                      # log every full frame received
        # record=True keeps every audio block with its wall time: (monotonic, "in"/"out", IAX ts, pcm)
        self.recording: list[tuple[float, str, int, bytes]] | None = [] if record else None
        self.log = CallLog()
        self._reset()

    def _reset(self) -> None:
        self.peer: tuple[str, int] | None = None
        self.remote = 0
        self.oseq = 0
        self.iseq = 0
        self.t0 = time.monotonic()
        self.answered = False
        self.hungup = False
        self.cause = ""

    def close(self) -> None:
        self.sock.close()

    # --- sending

    def _ts(self) -> int:
        return int((time.monotonic() - self.t0) * 1000) & 0xFFFFFFFF

    def _send_full(self, ftype: int, sub: int, payload: bytes = b"", ts: int | None = None,
                   seq: bool = True) -> None:
        ts = self._ts() if ts is None else ts
        hdr = FULL.pack(0x8000 | self.callno, self.remote, ts, self.oseq & 0xFF, self.iseq & 0xFF, ftype, sub)
        self.sock.sendto(hdr + payload, self.peer)
        if seq:
            self.oseq = (self.oseq + 1) & 0xFF

    def _ack(self, f: Frame) -> None:
        self._send_full(FT_IAX, ACK, ts=f.ts, seq=False)

    def _send_voice(self, ulaw: bytes, ts: int, full: bool) -> None:
        if full:
            self._send_full(FT_VOICE, ULAW, ulaw, ts=ts)
        else:
            self.sock.sendto(MINI.pack(self.callno, ts & 0xFFFF) + ulaw, self.peer)
        self.log.voice_out += 1

    def hangup(self, cause: str = "Normal clearing", code: int = 16) -> None:
        if self.peer and not self.hungup:
            self._send_full(FT_IAX, HANGUP, encode_ies([(IE_CAUSE, cause.encode()), (IE_CAUSECODE, bytes([code]))]))
            self.hungup = True
            self.log.add("sent HANGUP")

    # --- receiving

    def _recv(self, timeout: float) -> Frame | None:
        self.sock.settimeout(max(timeout, 0.0005))
        try:
            data, addr = self.sock.recvfrom(4096)
        except socket.timeout:
            return None
        f = parse(data)
        if f is None:
            return None
        if self.trace and f.ftype is not None:
            self.log.add(f"rx type {f.ftype:#x} sub {f.subclass:#x} ts {f.ts} oseq {f.oseq} iseq {f.iseq} src {f.src} dst {f.dst}")
        if self.peer is None and f.ftype == FT_IAX and f.subclass == NEW:
            self.peer = addr
        if addr != self.peer:
            return None
        if self.remote == 0 and f.ftype is not None and f.src:
            # Learn the peer's call number before ACKing: an ACK with destination 0 makes
            # libiax2 open a second session, which then steals our mini frames.
            self.remote = f.src
        if f.ftype is not None and f.ftype != FT_IAX or f.ftype == FT_IAX and f.subclass not in _NO_SEQ:
            if f.oseq != self.iseq:               # a retransmission we already took: ACK it again
                if ((self.iseq - f.oseq) & 0xFF) < 128:
                    self._ack(f)
                    return None
            self.iseq = (f.oseq + 1) & 0xFF
            self._ack(f)
        return f

    def _handle_signalling(self, f: Frame) -> None:
        """Frames that need the same answer in every state."""
        if f.ftype == FT_IAX and f.subclass in (PING, POKE):
            self._send_full(FT_IAX, PONG, ts=f.ts)
        elif f.ftype == FT_IAX and f.subclass == LAGRQ:
            self._send_full(FT_IAX, LAGRP, ts=f.ts)
        elif f.ftype == FT_IAX and f.subclass in (HANGUP, REJECT) or f.ftype == FT_CONTROL and f.subclass in (
                C_HANGUP, C_BUSY, C_CONGESTION):
            self.hungup = True
            self.cause = f.ies.get(IE_CAUSE, b"").decode(errors="replace")
            self.log.add(f"peer ended the call ({'IAX' if f.ftype == FT_IAX else 'control'} {f.subclass:#x}"
                         f", cause {self.cause!r})")
        elif self.trace or not (f.ftype == FT_IAX and f.subclass in (ACK, PONG, LAGRP)):
            self.log.add(f"frame type {f.ftype:#x} subclass {f.subclass:#x} oseq {f.oseq} iseq {f.iseq}")

    # --- calls

    def call(self, peer: tuple[str, int], number: str, session, *, calling_number: str = "faxd",
             timeout: float = 240.0) -> None:
        """Place a call to ``peer`` and run ``session`` (a FaxSession) on it once answered."""
        self._reset()
        self.peer = peer
        self._send_full(FT_IAX, NEW, encode_ies([
            (IE_VERSION, struct.pack(">H", 2)), (IE_CALLED_NUMBER, number.encode()),
            (IE_CALLING_NUMBER, calling_number.encode()), (IE_CALLING_NAME, b"faxd"),
            (IE_FORMAT, struct.pack(">I", ULAW)), (IE_CAPABILITY, struct.pack(">I", ULAW))]))
        self.log.add(f"sent NEW to {peer} for {number}")
        deadline = time.monotonic() + timeout
        while not self.answered and not self.hungup:
            if time.monotonic() > deadline:
                self.hangup("No answer", 19)
                raise TimeoutError("the IAX2 peer did not answer")
            f = self._recv(0.5)
            if f is None or f.ftype is None:
                continue
            if f.ftype == FT_IAX and f.subclass == ACCEPT:
                self.log.add(f"ACCEPT (format {int.from_bytes(f.ies.get(IE_FORMAT, b'0'), 'big'):#x})")
            elif f.ftype == FT_CONTROL and f.subclass == C_RINGING:
                self.log.add("RINGING")
            elif f.ftype == FT_CONTROL and f.subclass == C_ANSWER:
                self.answered = True
                self.log.add("ANSWER")
            else:
                self._handle_signalling(f)
        if self.answered:
            self._run_audio(session, deadline)

    def wait_call(self, session, *, timeout: float = 240.0, call_time: float = 240.0) -> dict[int, bytes]:
        """Take the next NEW: ACCEPT (mu-law), ANSWER, run ``session``; returns the NEW's IEs.

        ``timeout`` bounds the wait for the NEW, ``call_time`` the call from the NEW on: a
        caller slow to dial does not shorten the call."""
        self._reset()
        wait_end = time.monotonic() + timeout
        while True:
            if time.monotonic() > wait_end:
                raise TimeoutError(f"no IAX2 call arrived within {timeout:g} s")
            f = self._recv(0.5)
            if f is not None and f.ftype == FT_IAX and f.subclass == NEW:
                break
        deadline = time.monotonic() + call_time
        self.t0 = time.monotonic()              # our timestamps count from the call's start
        ies = f.ies
        self.log.add(f"NEW from {self.peer} for {ies.get(IE_CALLED_NUMBER, b'').decode(errors='replace')!r}")
        self._send_full(FT_IAX, ACCEPT, encode_ies([(IE_FORMAT, struct.pack(">I", ULAW))]))
        self._send_full(FT_CONTROL, C_ANSWER)
        self.answered = True
        self.log.add("sent ACCEPT, ANSWER")
        self._run_audio(session, deadline)
        return ies

    def _run_audio(self, session, deadline: float) -> None:
        """The real-time loop: 160 samples out per 20 ms tick, audio in as it arrives."""
        start = time.monotonic()
        ticks = 0
        rx_samples = 0
        while not self.hungup and not session.done:
            now = time.monotonic()
            if now > deadline:
                self.log.add("call time limit reached")
                break
            next_tick = start + ticks * TICK
            if now >= next_tick:
                ts = 20 * ticks + int((start - self.t0) * 1000)
                pcm = session.tx(BLOCK)
                if self.recording is not None:
                    self.recording.append((now, "out", ts, pcm))
                self._send_voice(ulaw.lin2ulaw(pcm), ts, full=ticks == 0 or ts & 0xFFFF < 20)
                if ticks % PING_EVERY == PING_EVERY - 1:
                    self._send_full(FT_IAX, PING, ts=ts)
                ticks += 1
                behind = ticks * BLOCK - rx_samples
                if behind > 5 * BLOCK:           # the far end's audio did not come: keep T.30's clock
                    if self.recording is not None:
                        self.recording.append((now, "fillin", -1, bytes(2 * (behind - BLOCK))))
                    session.rx_fillin(behind - BLOCK)
                    rx_samples += behind - BLOCK
                    self.log.fillin_samples += behind - BLOCK
                continue
            f = self._recv(next_tick - now)
            if f is None:
                continue
            if f.ftype is None or f.ftype == FT_VOICE:
                if f.payload:
                    pcm = ulaw.ulaw2lin(f.payload)
                    if self.recording is not None:
                        self.recording.append((time.monotonic(), "in", f.ts, pcm))
                    session.rx(pcm)
                    rx_samples += len(pcm) // 2
                    self.log.voice_in += 1
            else:
                self._handle_signalling(f)
        if self.hungup and not session.done:
            # The far end cleared the call (after its DCN, or mid-call): T.30 ends now, and
            # spandsp decides from where it was whether that was a success.
            session.terminate()
        if session.done:
            self.log.add(f"phase E, completion code {session.completion_code}")
            # Let the last frames (the peer's DCN/ACKs) drain before clearing the call.
            end = time.monotonic() + 0.5
            while time.monotonic() < end and not self.hungup:
                f = self._recv(end - time.monotonic())
                if f is not None and f.ftype not in (None, FT_VOICE):
                    self._handle_signalling(f)
        self.hangup()

"""FaxSession (audio) and T38Session (T.38 terminal): Python objects that own spandsp state.

Typical use, both ends in-process::

    tx = FaxSession(calling=True, station_id="+1 555 0100", header="ACME")
    rx = FaxSession(calling=False, station_id="REMOTE")
    tx.set_tx_file("doc.tif"); rx.set_rx_file("out.tif")
    result = run_pair(tx, rx)               # C helper loop in a worker thread (faxd.spandsp.pair)
    result.tx.completion_code, result.rx.pages_rx, result.rx.bit_rate ...
    tx.close(); rx.close()

Callbacks. spandsp's phase B, D, E and document callbacks reach the session through
``extern "Python"`` functions. Each is recorded in ``session.events`` (a list of
:class:`PhaseEvent`) and passed to ``listener(session, event)`` if one was given. The
callbacks fire in whatever thread runs the C code: the DSP worker thread under
:func:`run_pair`, the calling greenlet in real-time mode. A listener that must touch gevent
objects wraps itself with :func:`to_hub`. An exception in a listener is recorded in
``session.errors`` and re-raised by :func:`run_pair` as :class:`CallbackError`; it never
reaches C, which would only print it and carry on.

Real-time use (one 20 ms frame per greenlet wake-up): ``FaxSession.tx()`` / ``rx(frame)`` /
``rx_fillin(n)``, or :func:`~faxd.spandsp.pair.run_pair_paced` for two in-process endpoints;
many audio pairs in real time: :class:`~faxd.spandsp.pacer.Pacer`.
T.38 on a wire: ``T38Session.advance(samples)``, ``take_packets()``, ``rx_packet(data, seq)``.
"""
from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import gevent

from faxd.spandsp._spandsp import ffi, lib
from faxd.spandsp.errors import CallbackError, SpandspError, T30Error
from faxd.spandsp.stats import CALLDROPPED, RX_ENCODINGS, T30Stats, completion_text

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
BLOCK = lib.FAXD_BLOCK              # samples per 20 ms frame (helper.c's loops run these)

# Frame types passed to phase B/D handlers (t30_fcf.h), for readable logs and events. The
# low bit is the X bit (set by the party that did not call), which names the same frame.
_FCF = {int(getattr(lib, "T30_" + name)): name for name in (
    "DIS", "DTC", "DCS", "CFR", "FTT", "MCF", "RTP", "RTN", "MPS", "EOP", "EOM", "DCN", "CRP")}


def frame_name(code: int) -> str:
    code &= 0xFF
    return _FCF.get(code) or _FCF.get(code & 0xFE) or f"0x{code:02X}"

@dataclass(frozen=True)
class PhaseEvent:
    """One T.30 callback: kind is "phase_b", "phase_d", "phase_e" or "document"."""
    kind: str
    code: int                     # frame type (B/D), completion code (E), status (document)
    stats: T30Stats               # the endpoint's statistics at that moment
    samples: int                  # simulated time of the endpoint, in samples

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


def to_hub(fn: Callable, hub=None) -> Callable:
    """Wrap ``fn`` so that calling it from any thread runs it in the hub's thread."""
    hub = hub or gevent.get_hub()
    loop = hub.loop

    def call(*args):
        loop.run_callback_threadsafe(fn, *args)
    return call


# --- extern "Python" callbacks: record, never raise into C

def _endpoint(handle):
    return ffi.from_handle(handle)


@ffi.def_extern()
def faxd_py_phase_b(handle, result):
    return _endpoint(handle)._callback("phase_b", result)


@ffi.def_extern()
def faxd_py_phase_d(handle, result):
    return _endpoint(handle)._callback("phase_d", result)


@ffi.def_extern()
def faxd_py_phase_e(handle, completion_code):
    _endpoint(handle)._callback("phase_e", completion_code)


@ffi.def_extern()
def faxd_py_document(handle, status):
    return _endpoint(handle)._callback("document", status)


def _check(rc: int, what: str) -> int:
    if rc < 0:
        raise SpandspError(f"{what} failed (spandsp returned {rc})")
    return rc


class _Endpoint:
    """What audio and T.38 endpoints share: T.30 settings, callbacks, statistics, lifetime."""

    t38 = False

    def __init__(self, ep, calling: bool, *, station_id: str = "", header: str = "", ecm: bool = True,
                 v17: bool = True, t6: bool = False, modems: int | None = None, max_speed: int = 14400,
                 rx_encoding: str = "t4_2d", listener: Callable | None = None):
        if ep == ffi.NULL:
            raise SpandspError("spandsp could not allocate a fax endpoint")
        self._ep = ep
        self.calling = calling
        self.listener = listener
        self.events: list[PhaseEvent] = []
        self.errors: list[BaseException] = []
        self.tx_file: str | None = None
        self.rx_file: str | None = None
        self._busy = 0
        self._closing = False
        self._lock = threading.Lock()
        self._handle = ffi.new_handle(self)
        ep.handle = self._handle
        ep.callbacks = 1
        self._t30 = ep.t30
        self.set_station_id(station_id)
        if header:
            self.set_header(header)
        self.set_ecm(ecm)
        if modems is None:
            # max_speed: 14400 allows V.17, 9600 stops at V.29, 4800 leaves V.27ter alone
            modems = (lib.T30_SUPPORT_V27TER | (lib.T30_SUPPORT_V29 if max_speed >= 9600 else 0)
                      | (lib.T30_SUPPORT_V17 if v17 and max_speed >= 14400 else 0))
        _check(lib.t30_set_supported_modems(self._t30, modems), "t30_set_supported_modems")
        comp = lib.FAXD_SUPPORT_T4_1D | lib.FAXD_SUPPORT_T4_2D | (lib.FAXD_SUPPORT_T6 if t6 else 0)
        _check(lib.t30_set_supported_compressions(self._t30, comp), "t30_set_supported_compressions")
        if rx_encoding not in RX_ENCODINGS:
            raise ValueError(f"rx_encoding must be one of {', '.join(RX_ENCODINGS)}")
        _check(lib.faxd_set_rx_coding(self._t30, RX_ENCODINGS[rx_encoding]), "faxd_set_rx_coding")

    # --- settings (before the call starts)

    def set_station_id(self, station_id: str) -> None:
        """Our TSI (sending) or CSI (receiving): at most 20 printable characters."""
        if len(station_id) > 20 or not station_id.isprintable():
            raise ValueError(f"station id {station_id!r}: at most 20 printable characters")
        _check(lib.t30_set_tx_ident(self._t30, station_id.encode("ascii", "replace")), "t30_set_tx_ident")

    def set_header(self, header: str) -> None:
        """Page header line printed by the sender above each page (fax_header)."""
        if len(header) > 50:
            raise ValueError("page header: at most 50 characters")
        _check(lib.t30_set_tx_page_header_info(self._t30, header.encode("latin-1", "replace")),
               "t30_set_tx_page_header_info")

    def set_ecm(self, enabled: bool) -> None:
        _check(lib.t30_set_ecm_capability(self._t30, 1 if enabled else 0), "t30_set_ecm_capability")

    def set_tx_file(self, path: str, start_page: int = -1, stop_page: int = -1) -> None:
        """The TIFF to send (checked when T.30 opens it: FILEERROR, NOSIZESUPPORT... at phase E)."""
        self.tx_file = path
        lib.t30_set_tx_file(self._t30, os.fsencode(path), start_page, stop_page)

    def set_rx_file(self, path: str, stop_page: int = -1) -> None:
        """Where received pages go (written by spandsp as T.4 2D unless rx_encoding says otherwise)."""
        self.rx_file = path
        lib.t30_set_rx_file(self._t30, os.fsencode(path), stop_page)

    # --- state

    @property
    def done(self) -> bool:
        """Phase E was reached."""
        return bool(self._ep.done)

    @property
    def completion_code(self) -> int | None:
        return int(self._ep.completion_code) if self._ep.done else None

    @property
    def samples(self) -> int:
        return int(self._ep.samples)

    @property
    def pages_done(self) -> int:
        """Phase D callbacks so far (one per page)."""
        return int(self._ep.phase_d_count)

    def stats(self) -> T30Stats:
        return T30Stats.from_t30(self._t30, t38=self.t38, completion_code=self.completion_code)

    def result(self) -> T30Stats:
        """Final statistics; raises T30Error if phase E was not reached."""
        if not self.done:
            raise T30Error(CALLDROPPED, completion_text(CALLDROPPED), "the session did not finish")
        return self.stats()

    def terminate(self) -> None:
        """End T.30 now (the call is gone): phase E follows at once, CALLDROPPED if mid-call."""
        lib.t30_terminate(self._t30)

    def stop_at_page(self, pages: int) -> None:
        """Make the running loop return once ``pages`` phase D callbacks have happened (0: never)."""
        self._ep.stop_at_phase_d = pages
        if pages == 0:
            self._ep.stop = 0

    def _clear_stop(self) -> None:
        self._ep.stop = 0
        self._ep.stop_at_phase_d = 0

    def raise_errors(self) -> None:
        if self.errors:
            err = self.errors[0]
            raise CallbackError(f"a T.30 callback raised {type(err).__name__}: {err}") from err

    # --- callbacks (in the thread running the C code)

    def _callback(self, kind: str, code: int) -> int:
        try:
            ev = PhaseEvent(kind, code, self.stats() if kind != "phase_e" else
                            T30Stats.from_t30(self._t30, t38=self.t38, completion_code=code),
                            int(self._ep.samples))
            self.events.append(ev)
            if self.listener is not None:
                self.listener(self, ev)
        except BaseException as e:  # C boundary: record, never raise into spandsp
            self.errors.append(e)
            log.debug("T.30 %s callback raised", kind, exc_info=True)
        return 0

    # --- lifetime

    def close(self) -> None:
        """Free the C state (deferred to the end of a running loop)."""
        with self._lock:
            if self._busy:
                self._closing = True
                return
            self._free()

    def _free(self) -> None:
        ep, self._ep = self._ep, None
        if ep is not None and ep != ffi.NULL:
            ep.callbacks = 0
            lib.faxd_ep_free(ep)
        self._handle = None
        self.listener = None

    def _enter(self) -> None:
        with self._lock:
            if self._ep is None:
                raise SpandspError("the session is closed")
            self._busy += 1

    def _leave(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy == 0 and self._closing:
                self._free()

    @property
    def closed(self) -> bool:
        return self._ep is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_ep", None) is not None and not self._busy:
            self._free()


class FaxSession(_Endpoint):
    """An audio fax endpoint (spandsp ``fax_state_t``): 8000 samples/s of 16-bit linear audio.

    ``FaxSession(calling=True, station_id=..., header=..., ecm=True, v17=True, t6=False)``;
    ``calling=True`` is the caller (usually the sender).
    """

    def __init__(self, calling: bool, **options):
        super().__init__(lib.faxd_ep_new_audio(1 if calling else 0), calling, **options)
        self._out = ffi.new("int16_t[]", BLOCK)

    def tx(self, samples: int = BLOCK) -> bytes:
        """Audio to send: ``samples`` little-endian int16 samples (silence when idle)."""
        buf = self._out if samples <= BLOCK else ffi.new("int16_t[]", samples)
        lib.faxd_audio_tx(self._ep, buf, samples)
        return ffi.buffer(buf, 2 * samples)[:]

    def rx(self, frame: bytes) -> None:
        """Audio received: little-endian int16 samples (any length)."""
        n = len(frame) // 2
        if n:
            lib.faxd_audio_rx(self._ep, ffi.cast("int16_t *", ffi.from_buffer(frame)), n)

    def rx_fillin(self, samples: int) -> None:
        """Audio was lost: advance T.30's clock by ``samples`` without signal."""
        lib.faxd_audio_rx_fillin(self._ep, samples)


class T38Session(_Endpoint):
    """A T.38 terminal (spandsp ``t38_terminal_state_t``): IFP packets instead of audio.

    ``paced=False`` sets T38_TERMINAL_OPTION_NO_PACING (in memory or TCP only: UDPTL
    gateways need pacing). Packets leave through ``take_packets()`` (in-process pairs:
    :func:`~faxd.spandsp.pair.run_pair` delivers them) and arrive through ``rx_packet()``.
    """

    t38 = True

    def __init__(self, calling: bool, paced: bool = True, **options):
        super().__init__(lib.faxd_ep_new_t38(1 if calling else 0, 0 if paced else lib.T38_TERMINAL_OPTION_NO_PACING),
                         calling, **options)
        self._pkt = None               # packet buffer, allocated on first take_packets()

    def advance(self, samples: int = BLOCK) -> bool:
        """Let ``samples`` of time pass (t38_terminal_send_timeout); True once T.30 is finished."""
        return bool(lib.faxd_t38_advance(self._ep, samples))

    def take_packets(self) -> list[tuple[bytes, int]]:
        """IFP packets queued since the last call, as (packet, redundant copies wanted)."""
        if self._pkt is None:
            self._pkt = ffi.new("uint8_t[]", 16384)
        n = lib.faxd_t38_take(self._ep, self._pkt, len(self._pkt))
        if n < 0:
            self._pkt = ffi.new("uint8_t[]", -n * 2)
            n = lib.faxd_t38_take(self._ep, self._pkt, len(self._pkt))
        raw = ffi.buffer(self._pkt, n)[:]
        out, pos = [], 0
        while pos + 4 <= n:
            ln = raw[pos] | (raw[pos + 1] << 8)
            count = raw[pos + 2] | (raw[pos + 3] << 8)
            out.append((raw[pos + 4:pos + 4 + ln], count))
            pos += 4 + ln
        return out

    def rx_packet(self, data: bytes, seq_no: int | None = None) -> None:
        """Deliver one IFP packet from the far end (seq_no None: the next in order)."""
        lib.faxd_t38_rx(self._ep, data, len(data), -1 if seq_no is None else seq_no & 0xFFFF)


def hold(*endpoints: _Endpoint | None) -> None:
    """Keep the endpoints (None: no far end) from being freed while a loop drives them, until
    :func:`release`; all of them or, when one is already closed, none (SpandspError)."""
    held: list[_Endpoint] = []
    try:
        for ep in endpoints:
            if ep is not None:
                ep._enter()
                held.append(ep)
    except BaseException:
        release(*held)
        raise


def release(*endpoints: _Endpoint | None) -> None:
    """Let go of what :func:`hold` held; a closed endpoint is freed by the last release."""
    for ep in endpoints:
        if ep is not None:
            ep._leave()


@contextmanager
def held(*endpoints: _Endpoint | None) -> Iterator[None]:
    """:func:`hold` for the length of a ``with`` block."""
    hold(*endpoints)
    try:
        yield
    finally:
        release(*endpoints)

"""FaxSession (audio) and T38Session (T.38 terminal): Python objects that own spandsp state.

Typical use, both ends in-process::

    tx = FaxSession(calling=True, station_id="+1 555 0100", header="ACME")
    rx = FaxSession(calling=False, station_id="REMOTE")
    tx.set_tx_file("doc.tif"); rx.set_rx_file("out.tif")
    result = run_pair(tx, rx)               # C helper loop in a worker thread
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
``rx_fillin(n)``, or :func:`run_pair_paced` for two in-process endpoints.
T.38 on a wire: ``T38Session.advance(samples)``, ``take_packets()``, ``rx_packet(data, seq)``.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import gevent
import gevent.threadpool

from faxd.spandsp._spandsp import ffi, lib
from faxd.spandsp.errors import CallbackError, DocumentError, SpandspError, T30Error
from faxd.spandsp.stats import CALLDROPPED, FILEERROR, NOSIZESUPPORT, RX_ENCODINGS, T30Stats, completion_text

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
BLOCK = 160                         # samples per 20 ms frame

# t30.h capability masks
MODEM_V27TER, MODEM_V29, MODEM_V17 = 0x01, 0x02, 0x04
COMPRESS_T4_1D, COMPRESS_T4_2D, COMPRESS_T6 = 0x02, 0x04, 0x08
# t38_terminal.h
T38_NO_PACING = 0x01

# Frame types passed to phase B/D handlers (t30_fcf.h), for readable logs and events.
_FCF = {0x80: "DIS", 0x82: "DCS", 0x83: "DCS", 0x84: "CFR", 0x85: "CFR", 0x44: "FTT", 0x45: "FTT",
        0x8C: "MCF", 0x8D: "MCF", 0x4C: "RTP", 0x4D: "RTP", 0xCC: "RTN", 0xCD: "RTN",
        0xF2: "MPS", 0xF3: "MPS", 0xF4: "EOP", 0xF5: "EOP", 0xF8: "EOM", 0xF9: "EOM",
        0xFA: "DCN", 0xFB: "DCN", 0xC2: "CRP", 0xC3: "CRP", 0x81: "DTC"}
FAX_WIDTHS = (1728, 2048, 2432)


def frame_name(code: int) -> str:
    return _FCF.get(code & 0xFF, f"0x{code:02X}")


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
                 v17: bool = True, t6: bool = False, modems: int | None = None,
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
            modems = MODEM_V27TER | MODEM_V29 | (MODEM_V17 if v17 else 0)
        _check(lib.t30_set_supported_modems(self._t30, modems), "t30_set_supported_modems")
        comp = COMPRESS_T4_1D | COMPRESS_T4_2D | (COMPRESS_T6 if t6 else 0)
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
    :func:`run_pair` delivers them) and arrive through ``rx_packet()``.
    """

    t38 = True

    def __init__(self, calling: bool, paced: bool = True, **options):
        super().__init__(lib.faxd_ep_new_t38(1 if calling else 0, 0 if paced else T38_NO_PACING),
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


# --- running two endpoints against each other

@dataclass(frozen=True)
class PairResult:
    """Final statistics of both ends of :func:`run_pair` (b is None for a silent far end)."""
    a: T30Stats
    b: T30Stats | None
    seconds: float                 # simulated line time
    cpu_seconds: float             # CPU time of the thread that ran the loop

    @property
    def tx(self) -> T30Stats:
        return self.a

    @property
    def rx(self) -> T30Stats | None:
        return self.b


class Control:
    """Handle of a running :func:`run_pair`: ``cancel()`` from any greenlet or thread."""

    def __init__(self):
        self._ctl = ffi.new("faxd_ctl_t *")
        self.cancelled = False
        self._paced: tuple = ()      # the sessions a Pacer runs for this control

    def cancel(self) -> None:
        self.cancelled = True
        self._ctl.stop = 1
        # A paced pair: its C thread terminates both ends at the next tick.
        for s in self._paced:
            ep = s._ep
            if ep is not None:
                ep.cancel = 1

    @property
    def blocks(self) -> int:
        return int(self._ctl.blocks)


_pool = None
_pool_lock = threading.Lock()


def dsp_pool() -> gevent.threadpool.ThreadPool:
    """faxd's own threadpool for unpaced DSP work (not the hub's, which DNS resolution shares).

    One thread fewer than there are cores (at least one): the hub's thread keeps a core of
    its own, so timers, sockets and the API stay on time while unpaced calls run.

    Its threads keep the process's priority. They were once niced to 19 so that the hub
    would never wait behind them, but they take the GIL for T.30 callbacks and the pool's
    own bookkeeping: with the machine's cores busy, a nice-19 thread holding the GIL waits
    a long time for a CPU and the hub waits for the GIL (measured: ticker p99 lateness
    0.2-1.9 s with two CPU-bound processes beside faxd on 2 cores, 8-12 ms at nice 0)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = gevent.threadpool.ThreadPool(max(1, (os.cpu_count() or 2) - 1))
        return _pool


def _drive(a: _Endpoint, b: _Endpoint | None, max_blocks: int, chunk: int, ctl: Control,
           hangup_after_pages: int, hangup_delay_blocks: int) -> tuple[float, int]:
    """The loop, run in one thread: C calls of ``chunk`` blocks until phase E or a limit."""
    run = lib.faxd_t38_run if a.t38 else lib.faxd_audio_run
    bep = b._ep if b is not None else ffi.NULL
    c = ctl._ctl
    t0 = time.thread_time()
    left = max_blocks
    if hangup_after_pages:
        a.stop_at_page(hangup_after_pages)
    while left > 0 and not (a.done and (b is None or b.done)) and not c.stop:
        n = run(a._ep, bep, min(chunk, left), c)
        left -= n
        if a._ep.stop or (b is not None and b._ep.stop):
            a._clear_stop()
            if b is not None:
                b._clear_stop()
            if hangup_after_pages:
                # The far end hangs up a moment into the next page.
                n = run(a._ep, bep, min(hangup_delay_blocks, left), c)
                left -= n
                break
        if n == 0:
            break
    # Whatever is still running lost its line: T.30 ends now (CALLDROPPED mid-call).
    for ep in (a, b):
        if ep is not None and not ep.done:
            ep.terminate()
    cpu = time.thread_time() - t0
    return cpu, int(c.blocks)


def run_pair(a: _Endpoint, b: _Endpoint | None, max_seconds: float = 1800.0, *,
             chunk_seconds: float = 10.0, control: Control | None = None, in_thread: bool = True,
             hangup_after_pages: int = 0, hangup_delay_seconds: float = 3.0) -> PairResult:
    """Run T.30 between ``a`` and ``b`` (both FaxSession or both T38Session) until both reach
    phase E, unpaced, and return both ends' final statistics.

    * ``b=None``: ``a`` talks to a line with nothing on it (silence / packets lost).
    * ``max_seconds`` of simulated line time; endpoints still running then are terminated.
    * ``in_thread=True`` (default): the C loop runs in :func:`dsp_pool`, the calling greenlet
      waits and the hub stays responsive. ``False``: chunks of at most 0.1 s of line time run
      in the calling greenlet with ``gevent.sleep(0)`` in between.
    * ``control.cancel()`` (any greenlet) stops the loop at the next block; endpoints still
      running are terminated (phase E with CALLDROPPED).
    * ``hangup_after_pages=n``: the far end drops the line ``hangup_delay_seconds`` after page
      n went through (the test line for "hangs up during page n+1").
    """
    if b is not None and a.t38 != b.t38:
        raise ValueError("run_pair needs two audio or two T.38 endpoints")
    ctl = control or Control()
    max_blocks = int(max_seconds * SAMPLE_RATE / BLOCK)
    delay = int(hangup_delay_seconds * SAMPLE_RATE / BLOCK)
    a._enter()
    if b is not None:
        try:
            b._enter()
        except BaseException:
            a._leave()
            raise
    try:
        start = a.samples
        if in_thread:
            chunk = max(1, int(chunk_seconds * SAMPLE_RATE / BLOCK))
            job = dsp_pool().spawn(_drive, a, b, max_blocks, chunk, ctl, hangup_after_pages, delay)
            try:
                cpu, _ = job.get()
            except BaseException:
                # This greenlet was killed while the DSP thread drives the endpoints: stop the
                # thread and let it finish before the endpoints can be freed under it.
                ctl.cancel()
                job.wait()
                raise
        else:
            cpu = 0.0
            chunk = 5                                   # 0.1 s of line time per C call
            left = max_blocks
            while left > 0 and not (a.done and (b is None or b.done)) and not ctl.cancelled:
                step = min(left, chunk * 20)
                c, _ = _drive_inline(a, b, step, chunk, ctl)
                cpu += c
                left -= step
                gevent.sleep(0)
            for ep in (a, b):
                if ep is not None and not ep.done:
                    ep.terminate()
        for ep in (a, b):
            if ep is not None:
                ep.raise_errors()
        return PairResult(a.result(), b.result() if b is not None else None,
                          (a.samples - start) / SAMPLE_RATE, cpu)
    finally:
        a._leave()
        if b is not None:
            b._leave()


def _drive_inline(a, b, blocks, chunk, ctl):
    run = lib.faxd_t38_run if a.t38 else lib.faxd_audio_run
    bep = b._ep if b is not None else ffi.NULL
    t0 = time.thread_time()
    left = blocks
    while left > 0 and not (a.done and (b is None or b.done)) and not ctl._ctl.stop:
        n = run(a._ep, bep, min(chunk, left), ctl._ctl)
        if n == 0:
            break
        left -= n
        gevent.sleep(0)
    return time.thread_time() - t0, blocks - left


def release_heap() -> None:
    """Hand the free pages inside the heap back to the kernel now (glibc ``malloc_trim``).

    faxd does this by itself at most once a second while calls run (in the pacer's and the
    DSP worker's threads) and whenever the last endpoint is freed; see helper.c for why."""
    lib.faxd_heap_release(1)


def step_pair(a: _Endpoint, b: _Endpoint | None, blocks: int, control: Control | None = None) -> int:
    """Run at most ``blocks`` 20 ms steps between ``a`` and ``b`` in the calling thread, in one
    C call; returns the steps run. It returns early when both ends reached phase E or one
    reached its ``stop_at_page``. The building block for callers with their own pacing (one
    step per tick) or their own thread management; keep ``blocks`` small in a greenlet."""
    run = lib.faxd_t38_run if a.t38 else lib.faxd_audio_run
    return run(a._ep, b._ep if b is not None else ffi.NULL, blocks,
               control._ctl if control is not None else ffi.NULL)


def run_pair_paced(a: FaxSession | T38Session, b: FaxSession | T38Session | None,
                   max_seconds: float = 1800.0, control: Control | None = None,
                   clock: Callable[[], float] = time.monotonic) -> PairResult:
    """Real-time mode: one 20 ms block per greenlet wake-up, by its own deadline, in the
    calling greenlet (callbacks fire here too). For demos, benchmarks and paced emulators."""
    if b is not None and a.t38 != b.t38:
        raise ValueError("run_pair_paced needs two audio or two T.38 endpoints")
    ctl = control or Control()
    run = lib.faxd_t38_run if a.t38 else lib.faxd_audio_run
    bep = b._ep if b is not None else ffi.NULL
    frame = BLOCK / SAMPLE_RATE
    blocks = int(max_seconds / frame)
    start = a.samples
    cpu = 0.0
    deadline = clock()
    a._enter()
    if b is not None:
        b._enter()
    try:
        for _ in range(blocks):
            if (a.done and (b is None or b.done)) or ctl.cancelled:
                break
            deadline += frame
            delay = deadline - clock()
            if delay > 0:
                gevent.sleep(delay)
            t1 = time.thread_time()
            run(a._ep, bep, 1, ctl._ctl)
            cpu += time.thread_time() - t1
        for ep in (a, b):
            if ep is not None and not ep.done:
                ep.terminate()
        for ep in (a, b):
            if ep is not None:
                ep.raise_errors()
        return PairResult(a.result(), b.result() if b is not None else None,
                          (a.samples - start) / SAMPLE_RATE, cpu)
    finally:
        a._leave()
        if b is not None:
            b._leave()


class Pacer:
    """Real time for many audio calls at once, with no Python on the per-frame path.

    ``threads`` C threads (one per core, at most 2 by default) each wake every 20 ms by an
    absolute deadline and run one block of every pair they own (helper.c, faxd_pacer_*).
    New pairs go to the first thread with room (the second thread wakes only when the first
    has more work than half a frame), so a light load costs one wake-up per tick, not one
    per thread. A greenlet here only hands pairs over and releases the pairs the C side has
    finished; it sleeps on an eventfd the C threads write when that happens, so it costs
    nothing while calls run. ``Control.cancel()`` reaches the C thread directly. T.30
    callbacks fire in the C thread: a listener must only record, or use :func:`to_hub`.

        pacer = Pacer(); done = pacer.add(tx, rx); done.wait()   # gevent.event.Event
    """

    frame = BLOCK / SAMPLE_RATE
    poll = 1.0                       # the watcher also looks this often (eventfd safety net)
    # A thread takes new pairs while its estimated work per tick stays under this share of
    # a frame; beyond it the next thread is used (or, all full, the least loaded).
    fill = 0.5
    pair_ns_guess = 60_000           # per pair per tick, until a thread has measured its own

    def __init__(self, threads: int | None = None):
        import gevent.event
        self._event_cls = gevent.event.Event
        n = threads or max(1, min(2, os.cpu_count() or 1))
        self._c = []
        self._fd = -1
        try:
            # Never closed: the C threads (which outlive this object) may still write to it.
            self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except (AttributeError, OSError):      # no eventfd: the watcher polls every `poll` s
            self._fd = -1
        for _ in range(n):
            p = lib.faxd_pacer_new()
            if p == ffi.NULL:
                raise SpandspError("could not allocate a pacer")
            p.notify_fd = self._fd
            self._c.append(p)        # lives as long as the process may run its thread
        self._load = [0] * n         # pairs handed to each thread and not yet released
        self._pairs: list[tuple[FaxSession, FaxSession | None, object, Control, int]] = []
        self._greenlet = None

    def _pick(self) -> int:
        budget = self.fill * self.frame * 1e9
        best, best_ns = 0, None
        for i, c in enumerate(self._c):
            running = int(c.pairs)
            per_pair = int(c.busy_ns) / running if running and c.busy_ns > 0 else self.pair_ns_guess
            est = per_pair * self._load[i]
            if est < budget:
                return i
            if best_ns is None or est < best_ns:
                best, best_ns = i, est
        return best

    def add(self, a: FaxSession, b: FaxSession | None, control: Control | None = None):
        """Pace ``a``-``b`` from the next tick; returns an Event set when both reached phase E
        (after ``control.cancel()`` the ends are terminated first: 49 mid-call)."""
        if a.t38 or (b is not None and b.t38):
            raise ValueError("Pacer runs audio pairs; T.38 endpoints use run_pair_paced")
        ctl = control or Control()
        a._enter()
        if b is not None:
            b._enter()
        ctl._paced = (a,) if b is None else (a, b)
        if ctl.cancelled:
            ctl.cancel()
        i = self._pick()
        if lib.faxd_pacer_add(self._c[i], a._ep, b._ep if b is not None else ffi.NULL) < 0:
            ctl._paced = ()
            a._leave()
            if b is not None:
                b._leave()
            raise SpandspError("could not start the pacer thread")
        self._load[i] += 1
        done = self._event_cls()
        self._pairs.append((a, b, done, ctl, i))
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._watch)
        return done

    def __len__(self) -> int:
        return len(self._pairs)

    @property
    def ticks(self) -> int:
        return max(int(c.ticks) for c in self._c)

    @property
    def late_ticks(self) -> int:
        """Ticks that started more than a frame late (the threads could not keep up)."""
        return sum(int(c.late_ticks) for c in self._c)

    @property
    def blocks(self) -> int:
        """Pair-blocks run so far (one per pair per tick)."""
        return sum(int(c.blocks) for c in self._c)

    @property
    def threads_used(self) -> int:
        """C threads that own pairs now."""
        return sum(1 for n in self._load if n)

    def _wait(self) -> None:
        if self._fd < 0:
            gevent.sleep(self.poll)
            return
        from gevent.socket import wait_read
        try:
            wait_read(self._fd, timeout=self.poll)
        except TimeoutError:             # gevent's socket.timeout: look anyway
            return
        try:
            os.eventfd_read(self._fd)
        except BlockingIOError:
            pass

    def _watch(self) -> None:
        seen = 0
        while self._pairs:
            self._wait()
            finished = sum(int(c.finished) for c in self._c)
            if finished == seen:
                continue
            seen = finished
            keep = []
            for item in self._pairs:
                a, b, done, ctl, i = item
                if lib.faxd_ep_paced(a._ep):
                    keep.append(item)
                    continue
                ctl._paced = ()
                self._load[i] -= 1
                a._leave()
                if b is not None:
                    b._leave()
                done.set()
            self._pairs = keep


# --- documents

@dataclass(frozen=True)
class TiffInfo:
    """What spandsp's T.4 transmitter sees in a TIFF."""
    path: str
    pages: int
    width: int
    x_dpi: int
    y_dpi: int

    @property
    def resolution(self) -> str:
        return f"{self.x_dpi}x{self.y_dpi}"


def probe_tiff(path: str) -> TiffInfo:
    """Open ``path`` the way the sender will (t4_tx_init) and check it can be faxed.

    Raises :class:`DocumentError` with the code the library in use gives the sender at phase E
    (:func:`faxd.spandsp.stats.refusal_codes`): FILEERROR (41) when spandsp cannot open it
    (missing, not a TIFF); 41 (0.0.6) or BADTIFFHDR (46, 3.x) when it is not a 1-bit image;
    NOSIZESUPPORT (12, 0.0.6) or NORESSUPPORT (11, 3.x) for a width no fax machine takes.
    """
    from faxd.spandsp.library import generation
    from faxd.spandsp.stats import dpi, refusal_codes
    if not os.path.exists(path):
        raise DocumentError(path, FILEERROR, completion_text(FILEERROR), "no such file")
    not_bilevel, bad_width = refusal_codes(generation())
    out = ffi.new("int[5]")
    if lib.faxd_probe_tiff(os.fsencode(path), out) < 0:
        raise DocumentError(path, FILEERROR, completion_text(FILEERROR), _why_unreadable(path))
    if not out[4]:
        # spandsp 3 opens gray and colour TIFFs (out[4] == 0), then refuses them at the first
        # page unless colour was enabled; faxd sends only the 1-bit pages its pipeline makes.
        raise DocumentError(path, not_bilevel, completion_text(not_bilevel), _why_unreadable(path))
    info = TiffInfo(path, out[0], out[1], dpi(out[2]), dpi(out[3]))
    if info.width not in FAX_WIDTHS:
        raise DocumentError(path, bad_width, completion_text(bad_width),
                            f"page width {info.width} px; fax pages are 1728, 2048 or 2432 px wide")
    return info


def _why_unreadable(path: str) -> str:
    try:
        from PIL import Image
        with Image.open(path) as im:
            bits = im.tag_v2.get(258, "?") if hasattr(im, "tag_v2") else "?"
            if isinstance(bits, tuple):
                bits = "+".join(str(b) for b in bits)
            if im.format != "TIFF":
                return f"a {im.format} image, not a TIFF"
            return (f"{im.mode} image ({bits} bits per sample); spandsp sends only 1-bit "
                    "black-and-white TIFF (G3/G4 fax TIFF)")
    except Exception as e:  # any parse failure is the answer itself
        return f"not a readable TIFF ({type(e).__name__}: {e})"

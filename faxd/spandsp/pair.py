"""Two endpoints against each other: the drive loops.

* :func:`run_pair`: unpaced, in :func:`dsp_pool` (C calls of ``chunk`` blocks) or inline in the
  calling greenlet; the far end may hang up after n pages.
* :func:`step_pair`: at most n blocks in one C call, for callers with their own pacing.
* :func:`run_pair_paced`: real time, one block per greenlet wake-up.
* :class:`Control`: cancels any of them (and a :class:`~faxd.spandsp.pacer.Pacer` pair).

Many audio pairs in real time at once: :class:`faxd.spandsp.pacer.Pacer`.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import gevent
import gevent.threadpool

from faxd.spandsp._spandsp import ffi, lib
from faxd.spandsp.endpoint import BLOCK, SAMPLE_RATE, FaxSession, T38Session, _Endpoint, held
from faxd.spandsp.stats import T30Stats


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
    with held(a, b):
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
            _terminate(a, b)
        return _result(a, b, start, cpu)


def _terminate(a, b) -> None:
    """End the session of each endpoint that has not reached phase E."""
    for ep in (a, b):
        if ep is not None and not ep.done:
            ep.terminate()


def _result(a, b, start: int, cpu: float) -> PairResult:
    """Raise what either endpoint reported (a callback's exception), else the pair's result."""
    for ep in (a, b):
        if ep is not None:
            ep.raise_errors()
    return PairResult(a.result(), b.result() if b is not None else None, (a.samples - start) / SAMPLE_RATE, cpu)


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
    with held(a, b):
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
        _terminate(a, b)
        return _result(a, b, start, cpu)

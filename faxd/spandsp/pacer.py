"""Pacer: real time for many audio calls at once, in C threads (helper.c, faxd_pacer_*)."""
from __future__ import annotations

import os

import gevent
import gevent.event
from gevent.socket import wait_read

from faxd.spandsp._spandsp import ffi, lib
from faxd.spandsp.endpoint import BLOCK, SAMPLE_RATE, FaxSession, hold, release
from faxd.spandsp.errors import SpandspError
from faxd.spandsp.pair import Control


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
        hold(a, b)
        ctl._paced = (a,) if b is None else (a, b)
        if ctl.cancelled:
            ctl.cancel()
        i = self._pick()
        if lib.faxd_pacer_add(self._c[i], a._ep, b._ep if b is not None else ffi.NULL) < 0:
            ctl._paced = ()
            release(a, b)
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
                release(a, b)
                done.set()
            self._pairs = keep

"""The software switch (``FAXD_SWITCH=software``, the default): a telephone line in-process.

Both ends of every call are real spandsp T.30 endpoints (faxd.spandsp), audio or T.38:

* a fax to a number owned by a faxbox on this server (``is_local_number(number)``) becomes an
  inbound :class:`SoftwareCall` handed to the registered handler (the reception), which
  answers and calls ``receive_fax(path, options)``; the switch then runs the session between
  the sending leg (the request's TIFF) and the receiving leg;
* any other number reaches a built-in remote fax machine that receives and discards
  (station id ``software_remote_station_id``);
* reserved test numbers (:data:`TEST_NUMBERS`) fail on purpose the way real lines do.

Each call emits neutral events (faxd.switch.events) on its ``events`` queue: Answered,
Negotiated, PageDone per page, FaxResult, and Hangup, always last. T.30 runs unpaced in
faxd's DSP threadpool (3 pages in well under a second) or, with ``paced=True``, in real
time in the call's greenlet. Calls live in this process only: ``find_call`` forgets them
on restart.
"""
from __future__ import annotations

import collections
import itertools
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Callable

import gevent
import gevent.event
import gevent.pool

from faxd import t30codes
from faxd.spandsp import (Control, DocumentError, FaxSession, Pacer, PairResult, T38Session, probe_tiff,
                          run_pair, run_pair_paced)
from faxd.errors import StoreError
from faxd.spandsp.stats import T30Stats
from faxd.switch import causes
from faxd.switch.base import Call, CallBase, FaxOptions, InboundCall, OriginateRequest
from faxd.switch.events import Answered, FaxResult, Hangup, Negotiated, PageDone
from faxd.switch.spool import MemoryFile, SpoolFile, memory_files_work

log = logging.getLogger(__name__)
_serial = itertools.count(1)

@dataclass(frozen=True)
class TestLine:
    """What a reserved number does."""
    number: str
    behaviour: str
    description: str


TEST_NUMBERS: dict[str, TestLine] = {t.number: t for t in (
    TestLine("+12025550101", "busy", "busy: Hangup USER_BUSY (17), no FaxResult"),
    TestLine("+12025550102", "no_answer", "rings until the request's ring_timeout: Hangup NO_ANSWER (19)"),
    TestLine("+12025550103", "hangup_page_2",
             "far end hangs up 3 s into page 2: FaxResult 49 'The call dropped prematurely', Hangup NORMAL_CLEARING"),
    TestLine("+12025550104", "no_ecm", "remote fax machine without ECM: succeeds with ecm=False"),
    TestLine("+12025550105", "v29", "remote limited to 9600 bps (V.29, no V.17): succeeds at 9600"),
    TestLine("+12025550106", "no_t38",
             "remote refuses T.38 (audio only): a T.38 call gets FaxResult 2 'Timed out waiting for "
             "initial communication' with t38=True after 60 s of line time; over audio it succeeds"),
    TestLine("+12025550107", "not_fax",
             "answers, then silence (a person or a modem, not a fax): FaxResult 2 'Timed out waiting for "
             "initial communication'"),
    TestLine("+12025550108", "reject", "rejects the call: Hangup CALL_REJECTED (21)"),
    TestLine("+12025550109", "unallocated", "number not in service: Hangup UNALLOCATED_NUMBER (1)"),
)}


# Largest outbound TIFF kept in memory (and its remote copy): about 18 dense A4 pages. A
# memfd is unswappable; beyond this a call would hold megabytes of it for minutes.
IN_MEMORY_MAX = 1 << 20



def _document_problem(path: str) -> str:
    """Why spandsp refused the document, in words (FaxResult.extra["detail"])."""
    try:
        probe_tiff(path)
    except DocumentError as e:
        return e.detail
    return ""


def _digits(number: str) -> str:
    n = "".join(c for c in number if c.isdigit() or c == "+")
    return n if n.startswith("+") else "+" + n


class SoftwareCall(CallBase):
    """A call on the software switch (outbound: the sending leg; inbound: the receiving leg)."""

    def __init__(self, switch: "SoftwareSwitch", call_id: str, direction: str, to_number: str = "",
                 from_number: str = "", from_name: str = ""):
        super().__init__(call_id, to_number, from_number, from_name)
        self.direction = direction
        self._switch = switch
        self.state = "ringing"            # ringing | answered | receiving | rejected | ended
        self.rx_path: str | None = None
        self.rx_options: FaxOptions | None = None
        self.cause: str | None = None
        self.control = Control()
        self.peer: SoftwareCall | None = None
        self._changed = gevent.event.Event()
        self._ended = False

    def answer(self) -> None:
        if self.state == "ringing":
            self.state = "answered"
            self._changed.set()

    def receive_fax(self, tiff_path: str, options: FaxOptions) -> None:
        if self.state in ("ringing", "answered"):
            self.rx_path = tiff_path
            self.rx_options = options
            self.state = "receiving"
            self._changed.set()

    def reject(self, cause: str = "CALL_REJECTED") -> None:
        if self.state == "ringing":
            self.state = "rejected"
            self.cause = cause
            self._changed.set()

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """End the call now; a session in progress is terminated (FaxResult, then Hangup)."""
        if self.cause is None:
            self.cause = cause
        self.control.cancel()
        if self.peer is not None:
            self.peer.control.cancel()
        self._changed.set()

    @property
    def hung_up(self) -> bool:
        return self.cause is not None and self.state != "rejected"

    def _emit(self, event) -> None:
        if not self._ended:
            self.events.put(event)
            if isinstance(event, Hangup):
                self._ended = True
                self._switch._forget(self)

    def _wait_change(self, timeout: float | None) -> bool:
        self._changed.clear()
        return self._changed.wait(timeout)


class _EventPump:
    """Carries T.30 callbacks from the DSP worker thread to the calls' queues, in order."""

    def __init__(self, hub=None):
        self._q: collections.deque = collections.deque()
        self._loop = (hub or gevent.get_hub()).loop
        self._lock = threading.Lock()
        self._scheduled = False

    def push(self, fn, *args) -> None:
        # One wake-up of the hub per burst of callbacks, not one per callback.
        with self._lock:
            self._q.append((fn, args))
            wake = not self._scheduled
            self._scheduled = True
        if wake:
            self._loop.run_callback_threadsafe(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._scheduled = False
            items = list(self._q)
            self._q.clear()
        for fn, args in items:
            fn(*args)


class SoftwareSwitch:
    """SwitchBackend with both ends in-process. See the module docstring and docs/spandsp.md."""

    name = "software"

    def __init__(self, config, is_local_number: Callable[[str], bool] = lambda n: False, *,
                 paced: bool | None = None, remote_station_id: str | None = None,
                 answer_timeout: float = 30.0, max_call_seconds: float = 3600.0):
        self._config = config
        self._is_local = is_local_number
        self.paced = config.software_paced if paced is None else paced
        self.remote_station_id = (remote_station_id if remote_station_id is not None
                                  else config.software_remote_station_id)[:20]
        self.answer_timeout = answer_timeout
        self.max_call_seconds = max_call_seconds
        self._handler: Callable[[InboundCall], None] | None = None
        self._calls: dict[str, SoftwareCall] = {}
        self._group = gevent.pool.Group()
        self._running = False
        self._scratch = None
        self._pacer = Pacer()
        self._in_memory = memory_files_work()

    # --- SwitchBackend

    def start(self) -> None:
        self._running = True

    def stop(self, timeout: float = 10.0) -> None:
        """Hang up every call (SYSTEM_SHUTDOWN) and wait for their greenlets."""
        self._running = False
        for call in list(self._calls.values()):
            call.hangup("SYSTEM_SHUTDOWN")
        self._group.join(timeout=timeout)
        self._group.kill(block=True, timeout=1)

    def status(self) -> list[dict]:
        return [{"name": "software", "connected": self._running, "calls": len(self._calls)}]

    def on_incoming_call(self, handler: Callable[[InboundCall], None]) -> None:
        self._handler = handler

    def find_call(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def stage_document(self, name: str, data: bytes):
        """Both ends run in this process: the outbound TIFF stays in memory (faxd.switch.spool)
        unless it is large, where memory per call would matter more than the file's cost."""
        if self._in_memory and len(data) <= IN_MEMORY_MAX:
            return MemoryFile(name, data)
        return SpoolFile(self._scratch_dir(), name, data)

    def originate(self, request: OriginateRequest) -> Call:
        call = SoftwareCall(self, request.call_id, "outbound", request.to_number,
                            request.from_number, request.from_name)
        self._calls[call.call_id] = call
        if not self._running:
            call._emit(Hangup(call.call_id, "NORMAL_TEMPORARY_FAILURE", 41, "the software switch is stopped"))
            return call
        self._group.spawn(self._outbound, call, request)
        return call

    # --- internals

    def _forget(self, call: SoftwareCall) -> None:
        if self._calls.get(call.call_id) is call:
            del self._calls[call.call_id]

    def _hangup(self, call: SoftwareCall, cause: str, detail: str = "") -> None:
        call.state = "ended"
        call._emit(Hangup(call.call_id, cause, causes.q850(cause), detail))

    def _outbound(self, call: SoftwareCall, req: OriginateRequest) -> None:
        try:
            self._route(call, req)
        except Exception as e:  # greenlet boundary: the call must still end with a Hangup
            log.exception("software call %s failed", call.call_id)
            if call.peer is not None:
                self._hangup(call.peer, "NORMAL_TEMPORARY_FAILURE", f"{type(e).__name__}: {e}")
            self._hangup(call, "NORMAL_TEMPORARY_FAILURE", f"{type(e).__name__}: {e}")

    def _route(self, call: SoftwareCall, req: OriginateRequest) -> None:
        number = _digits(req.to_number)
        test = TEST_NUMBERS.get(number)
        behaviour = test.behaviour if test else None
        if behaviour == "busy":
            return self._hangup(call, "USER_BUSY")
        if behaviour == "reject":
            return self._hangup(call, "CALL_REJECTED")
        if behaviour == "unallocated":
            return self._hangup(call, "UNALLOCATED_NUMBER")
        if behaviour == "no_answer":
            call._wait_change(req.ring_timeout)
            return self._hangup(call, call.cause or "NO_ANSWER")
        try:
            local = test is None and self._is_local(number)
        except StoreError as e:   # the database is away (a failover): the line cannot route now
            return self._hangup(call, "NORMAL_TEMPORARY_FAILURE", f"cannot route the call: {e}")
        if local:
            return self._to_faxbox(call, req)
        if call.hung_up:
            return self._hangup(call, call.cause)
        # The built-in remote fax machine answers at once.
        call.state = "answered"
        call._emit(Answered(call.call_id))
        remote = FaxOptions(station_id=self.remote_station_id, ecm=behaviour != "no_ecm",
                            v17=behaviour != "v29", t38="off" if behaviour == "no_t38" else "accept")
        self._session(call, None, req, remote, rx_path=None,
                      silent=behaviour == "not_fax",
                      hangup_after_pages=1 if behaviour == "hangup_page_2" else 0)

    def _to_faxbox(self, call: SoftwareCall, req: OriginateRequest) -> None:
        inbound = SoftwareCall(self, f"{call.call_id}-in", "inbound", req.to_number,
                               req.from_number, req.from_name)
        call.peer, inbound.peer = inbound, call
        if self._handler is None:
            return self._hangup(call, "UNALLOCATED_NUMBER", "no handler for inbound calls")
        self._calls[inbound.call_id] = inbound
        handler = self._handler
        self._group.spawn(self._run_handler, handler, inbound)
        # Ringing: wait for answer, reject or the caller giving up.
        deadline_ok = True
        while inbound.state == "ringing" and not call.hung_up and not inbound.hung_up:
            deadline_ok = inbound._wait_change(req.ring_timeout)
            if not deadline_ok:
                break
        if inbound.state == "rejected":
            self._hangup(inbound, inbound.cause or "CALL_REJECTED")
            return self._hangup(call, inbound.cause or "CALL_REJECTED")
        if call.hung_up or inbound.hung_up or inbound.state == "ringing":
            cause = call.cause or inbound.cause or "NO_ANSWER"
            self._hangup(inbound, cause)
            return self._hangup(call, cause)
        call._emit(Answered(call.call_id))
        inbound._emit(Answered(inbound.call_id))
        while inbound.state == "answered" and not call.hung_up and not inbound.hung_up:
            if not inbound._wait_change(self.answer_timeout):
                break
        if inbound.state != "receiving" or call.hung_up or inbound.hung_up:
            cause = call.cause or inbound.cause or "NORMAL_CLEARING"
            self._hangup(inbound, cause)
            return self._hangup(call, cause)
        self._session(call, inbound, req, inbound.rx_options or FaxOptions(), rx_path=inbound.rx_path)

    def _run_handler(self, handler, inbound: SoftwareCall) -> None:
        try:
            handler(inbound)
        except Exception:  # greenlet boundary
            log.exception("inbound call handler failed for %s", inbound.call_id)
            inbound.hangup("NORMAL_TEMPORARY_FAILURE")

    @staticmethod
    def _use_t38(tx: FaxOptions, rx: FaxOptions) -> bool:
        return (tx.t38 == "request" and rx.t38 != "off") or (rx.t38 == "request" and tx.t38 != "off")

    def _session(self, call: SoftwareCall, inbound: SoftwareCall | None, req: OriginateRequest,
                 rx_opts: FaxOptions, rx_path: str | None, silent: bool = False,
                 hangup_after_pages: int = 0) -> None:
        tx_opts = req.options
        refused_t38 = tx_opts.t38 == "request" and rx_opts.t38 == "off"
        t38 = self._use_t38(tx_opts, rx_opts) or refused_t38
        cls = T38Session if t38 else FaxSession
        pump = _EventPump()
        negotiated = []
        tmp = None

        def tx_listener(session, ev):
            if ev.kind == "phase_d":
                pump.push(call._emit, PageDone(call.call_id, ev.stats.pages_tx, ev.stats.pages_in_file,
                                               ev.stats.bit_rate, ev.stats.bad_rows))

        def rx_listener(session, ev):
            if ev.kind == "phase_b" and not negotiated:
                negotiated.append(ev)
                st = ev.stats
                # At DCS the receiver knows rate and ECM; the sender already knows page format and coding.
                sent = tx.stats()
                common = dict(bit_rate=st.bit_rate, ecm=st.ecm, t38=t38, resolution=sent.resolution,
                              encoding=sent.encoding)
                pump.push(call._emit, Negotiated(call.call_id, remote_station_id=st.local_station_id, **common))
                if inbound is not None:
                    pump.push(inbound._emit, Negotiated(inbound.call_id, remote_station_id=st.remote_station_id,
                                                        **common))
            elif ev.kind == "phase_d" and inbound is not None:
                pump.push(inbound._emit, PageDone(inbound.call_id, ev.stats.pages_rx, 0, ev.stats.bit_rate,
                                                  ev.stats.bad_rows))

        tx = cls(True, station_id=(tx_opts.station_id or self._config.station_id)[:20], header=tx_opts.header,
                 ecm=tx_opts.ecm, v17=tx_opts.v17, max_speed=tx_opts.max_speed, t6=tx_opts.t6 and tx_opts.ecm,
                 listener=tx_listener)
        rx = None
        try:
            tx.set_tx_file(req.tiff_path)
            if not silent and not refused_t38:
                rx = cls(False, station_id=(rx_opts.station_id or self._config.station_id)[:20],
                         ecm=rx_opts.ecm, v17=rx_opts.v17, t6=rx_opts.t6 and rx_opts.ecm, listener=rx_listener)
                if rx_path is None:
                    # The remote machine discards what it receives: in memory when possible.
                    name = f"faxd-remote-{os.getpid()}-{next(_serial)}.tif"
                    # What it receives is about the size of what is sent.
                    small = self._in_memory and os.path.getsize(req.tiff_path) <= IN_MEMORY_MAX
                    tmp = MemoryFile(name) if small else SpoolFile(self._scratch_dir(), name)
                    rx_path = tmp.path
                rx.set_rx_file(rx_path)
            # Many calls may start in the same loop iteration: let timers and I/O run between
            # their set-ups.
            gevent.sleep(0)
            control = call.control
            if inbound is not None:
                inbound.control = control
            if call.hung_up or (inbound is not None and inbound.hung_up):
                control.cancel()
            if self.paced and not t38:
                # Real time on the shared pacer: one C call per 20 ms tick for all paced calls.
                start = tx.samples
                self._pacer.add(tx, rx, control).wait()
                result = PairResult(tx.result(), rx.result() if rx is not None else None,
                                    (tx.samples - start) / 8000.0, 0.0)
            elif self.paced:
                result = run_pair_paced(tx, rx, self.max_call_seconds, control=control)
            else:
                result = run_pair(tx, rx, self.max_call_seconds, control=control,
                                  hangup_after_pages=hangup_after_pages)
            pump.flush()
            detail = _document_problem(req.tiff_path) if result.a.completion_code in t30codes.DOCUMENT else ""
            self._emit_result(call, result.a, t38, detail)
            if inbound is not None and result.b is not None:
                self._emit_result(inbound, result.b, t38)
        finally:
            tx.close()
            if rx is not None:
                rx.close()
            if tmp is not None:
                tmp.release()
        cause = call.cause or (inbound.cause if inbound is not None else None) or "NORMAL_CLEARING"
        if inbound is not None:
            self._hangup(inbound, cause)
        self._hangup(call, cause)

    @staticmethod
    def _emit_result(call: SoftwareCall, st: T30Stats, t38: bool, detail: str = "") -> None:
        sending = call.direction == "outbound"
        extra = {"encoding": st.encoding, "ecm_retries": st.ecm_retries, "image_size": st.image_size}
        if detail:
            extra["detail"] = detail
        call._emit(FaxResult(
            call.call_id, success=st.success, result_code=st.completion_code, result_text=st.completion_text,
            pages=st.pages_tx if sending else st.pages_rx, pages_total=st.pages_in_file if sending else 0,
            bit_rate=st.bit_rate, ecm=st.ecm, t38=t38, remote_station_id=st.remote_station_id,
            bad_rows=st.bad_rows, resolution=st.resolution,
            extra=extra))

    def _scratch_dir(self) -> str:
        if self._scratch is None:
            base = self._config.spool_path
            try:
                os.makedirs(base, exist_ok=True)
                self._scratch = base
            except OSError:
                self._scratch = tempfile.gettempdir()
        return self._scratch


def main(argv: list[str] | None = None) -> int:
    """``python -m faxd.switch.software NUMBER FAX.tif [--t38] [--no-ecm] [--paced]``: one call on
    the software switch, every event printed as a JSON line. NUMBER may be a reserved test
    number; any other number reaches the built-in remote fax machine."""
    import argparse
    import dataclasses
    import json
    import uuid

    from faxd.config import Config
    p = argparse.ArgumentParser(prog="python -m faxd.switch.software", description=main.__doc__)
    p.add_argument("number")
    p.add_argument("tiff")
    p.add_argument("--t38", action="store_true", help="request T.38")
    p.add_argument("--no-ecm", dest="ecm", action="store_false")
    p.add_argument("--paced", action="store_true", help="real time")
    p.add_argument("--ring-timeout", type=float, default=5.0)
    args = p.parse_args(argv)
    config = Config.load()
    sw = SoftwareSwitch(config, paced=args.paced)
    sw.start()
    req = OriginateRequest(str(uuid.uuid4()), "cli", args.number, "+12025550199", "faxd", args.tiff,
                           FaxOptions(station_id=config.station_id[:20], ecm=args.ecm,
                                      t38="request" if args.t38 else "off"),
                           ring_timeout=args.ring_timeout)
    call = sw.originate(req)
    ok = False
    while True:
        ev = call.events.get()
        print(json.dumps({"event": type(ev).__name__, **dataclasses.asdict(ev)}), flush=True)
        if isinstance(ev, FaxResult):
            ok = ev.success
        if isinstance(ev, Hangup):
            break
    sw.stop()
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    from faxd.green import patch
    patch()
    raise SystemExit(main())

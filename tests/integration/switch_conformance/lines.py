"""One adapter per switch backend: how to build it, which number fails which way, how a fax
comes in, how to hold a fax on the line. Everything backend-specific of the conformance suite
is here; test_conformance.py states what every backend must do.

A new backend joins the suite with a Line of its own (and its name in conftest.LINES).
"""
from __future__ import annotations

import itertools
import os
import uuid

import gevent

from faxd.config import Config
from faxd.switch import events as ev
from faxd.switch.asterisk.backend import AsteriskBackend
from faxd.switch.base import FaxOptions, OriginateRequest, SwitchBackend
from faxd.switch.freeswitch.backend import FreeSwitchBackend
from faxd.switch.software import SoftwareSwitch
from faxd.testing.ami_emulator import AMIEmulator, FarEnd
from faxd.testing.esl.emulator import ESLEmulator

DID = "+12025550150"            # a number of faxd's own (a faxbox's)
CALLER = "+12025550199"
_ids = itertools.count()


def request(to: str, tiff: str, *, t38: str = "off", ring_timeout: float = 5.0) -> OriginateRequest:
    return OriginateRequest(call_id=str(uuid.uuid4()), job_id=f"job-{next(_ids)}", to_number=to,
                            from_number=CALLER, from_name="faxd conformance", tiff_path=tiff,
                            options=FaxOptions(station_id="SENDER 1", header="faxd conformance", t38=t38),
                            ring_timeout=ring_timeout)


def collect(call, timeout: float = 30.0) -> list:
    """Every event of a call up to and including its Hangup."""
    out = []
    with gevent.Timeout(timeout):
        while True:
            e = call.events.get()
            out.append(e)
            if isinstance(e, ev.Hangup):
                return out


def until(call, kinds: tuple, out: list, timeout: float = 30.0):
    """Read events into ``out`` until one of ``kinds`` (returned)."""
    with gevent.Timeout(timeout):
        while True:
            e = call.events.get()
            out.append(e)
            if isinstance(e, kinds):
                return e


class Line:
    """The base of every adapter; see the module docstring."""

    name = ""
    reconnects = True            # has a connection to the switch that can drop
    calls_survive_restart = True  # find_call on a new backend finds a call of the old one
    numbers: dict[str, str] = {}  # failure class -> number that fails that way

    def __init__(self, tmp_path, docs):
        self.tmp_path = tmp_path
        self.docs = docs
        self.backends: list[SwitchBackend] = []

    def config(self, **kw) -> Config:
        c = Config.load(path=None, env={}, home=str(self.tmp_path / "home"), **kw)
        os.makedirs(c.spool_path, exist_ok=True)
        return c

    def backend(self) -> SwitchBackend:
        b = self._make()
        b.start()
        self.backends.append(b)
        self._started(b)
        return b

    def _make(self) -> SwitchBackend:
        raise NotImplementedError

    def _started(self, b) -> None:
        pass

    def fax_number(self) -> str:
        return "+15145550000"

    def call_in(self, backend, t38: bool):
        """A fax machine sends ``docs[3]`` to DID; returns something to ``wait()`` for."""
        raise NotImplementedError

    def hold(self) -> None:
        """The next fax stays on the line long enough to act on it, until ``release()``."""

    def held_document(self) -> str:
        return self.docs[3]

    def reconnect_number(self) -> str:
        return self.fax_number()

    def release(self) -> None:
        pass

    def in_progress(self, call, out: list) -> None:
        """Wait until the fax of ``call`` is in progress (reading events into ``out``)."""
        until(call, (ev.Negotiated, ev.PageDone), out)

    def ringing(self, call, out: list) -> None:
        """Wait until ``call`` rings at the far end."""
        until(call, (ev.Ringing,), out)

    def lose_connection(self, backend, call, out: list) -> None:
        """Drop faxd's connection to the switch while ``call``'s fax runs."""
        raise NotImplementedError

    def close(self) -> None:
        for b in self.backends:
            b.stop()


class _Waiter:
    def __init__(self, call):
        self.call = call

    def wait(self):
        return collect(self.call)


class SoftwareLine(Line):
    name = "software"
    reconnects = False               # both ends are in this process
    calls_survive_restart = False    # calls live in this process only
    numbers = {"busy": "+12025550101", "no_answer": "+12025550102", "dropped": "+12025550103",
               "not_fax": "+12025550107", "rejected": "+12025550108", "unallocated": "+12025550109"}

    def _make(self):
        return SoftwareSwitch(self.config(software_remote_station_id="REMOTE MACHINE"), lambda n: n == DID)

    def call_in(self, backend, t38):
        return _Waiter(backend.originate(request(DID, self.docs[3], t38="request" if t38 else "off")))

    def ringing(self, call, out):
        gevent.sleep(0.3)               # the software line rings without a Ringing event

    def held_document(self):
        return self.docs[10]            # unpaced T.30: ten pages leave time to act after the first


class FreeSwitchLine(Line):
    name = "freeswitch"
    numbers = {"busy": "5550001", "no_answer": "5550002", "dropped": "5550003", "not_fax": "5550004",
               "rejected": "5550005", "unallocated": "5550006"}

    def __init__(self, tmp_path, docs):
        super().__init__(tmp_path, docs)
        self.emu = ESLEmulator(spool=str(tmp_path / "fs-spool"), routes={
            "*": "receive", DID: "socket", "5550001": "busy", "5550002": "no_answer", "5550003": "hangup_after:1",
            "5550004": "no_fax", "5550005": "reject:CALL_REJECTED", "5550006": "reject:UNALLOCATED_NUMBER",
            "5550009": "drop_esl:1"}).start()

    def _make(self):
        config = self.config(esl_url=(self.emu.url,), esl_listen=("127.0.0.1", 0),
                             dial_string="sofia/gateway/default/{number}")
        return FreeSwitchBackend(config, backoff=(0.05, 0.5))

    def _started(self, b):
        assert b.wait_connected(5)
        self.emu.socket_target = b.listen_address

    def call_in(self, backend, t38):
        # FreeSWITCH hands a call to DID to faxd's outbound-socket listener; the caller here
        # is a fax sent through the same FreeSWITCH.
        return _Waiter(backend.originate(request(DID, self.docs[3], t38="request" if t38 else "off")))

    def hold(self):
        self.emu.pace = 0.05            # the recorded events in (scaled) real time

    def release(self):
        self.emu.pace = 0.0

    def in_progress(self, call, out):
        until(call, (ev.Answered,), out)

    def reconnect_number(self):
        return "5550009"                # route drop_esl:1: every ESL connection is cut after page 1

    def lose_connection(self, backend, call, out):
        self.release()
        until(call, (ev.SwitchLost,), out)

    def close(self):
        super().close()
        self.emu.stop()


class AsteriskLine(Line):
    name = "asterisk"
    numbers = {"busy": "+15551230002", "no_answer": "+15551230003", "dropped": "+15551230004",
               "not_fax": "+15551230005", "rejected": "+15551230006", "unallocated": "+15551230007"}

    def __init__(self, tmp_path, docs):
        super().__init__(tmp_path, docs)
        rx = tmp_path / "ast-rx"
        rx.mkdir()
        self.emu = AMIEmulator(rx_dir=str(rx), caller_tiff=docs[3], wait_scale=0.125).start()
        n = self.numbers
        self.emu.far_ends.update({
            n["busy"]: FarEnd("busy"), n["no_answer"]: FarEnd("noanswer"),
            n["dropped"]: FarEnd("fax", station_id="REMOTE", hangup_after_pages=1),
            n["not_fax"]: FarEnd("silent"), n["rejected"]: FarEnd("reject"), n["unallocated"]: FarEnd("none")})

    def fax_number(self):
        self.emu.far_ends.setdefault("+15145550000", FarEnd("fax", station_id="REMOTE"))
        return "+15145550000"

    def _make(self):
        config = self.config(ami_url=(self.emu.url(),), asterisk_dial="PJSIP/{number}@trunk")
        return AsteriskBackend(config, connect_timeout=2, backoff=(0.05, 0.2), failure_grace=2)

    def _started(self, b):
        assert b.wait_connected(5)

    def call_in(self, backend, t38):
        return _IncomingWaiter(self.emu.incoming_call(DID, caller_num=CALLER, t38=t38, station_id="CALLER"))

    def hold(self):
        self.emu.fax_gate.clear()
        self.emu.fax_started.clear()

    def release(self):
        self.emu.fax_gate.set()

    def in_progress(self, call, out):
        # T.30 waits at the gate (Asterisk tells no page before the end without FAXSession polls).
        assert self.emu.fax_started.wait(10)

    def lose_connection(self, backend, call, out):
        self.emu.drop_connections()
        until(call, (ev.SwitchLost,), out)
        with gevent.Timeout(10):
            while not backend.status()[0]["connected"]:
                gevent.sleep(0.02)

    def close(self):
        super().close()
        self.emu.stop()


class _IncomingWaiter:
    def __init__(self, incoming):
        self.incoming = incoming

    def wait(self):
        return self.incoming.done.get(timeout=30)


LINES = {"software": SoftwareLine, "freeswitch": FreeSwitchLine, "asterisk": AsteriskLine}

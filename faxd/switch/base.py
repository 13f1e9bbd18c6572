"""The switch seam: what the flows (outbound/, inbound/) may ask of a telephone switch.

``SwitchBackend`` is the whole contract a backend (faxd/switch/software.py,
freeswitch/backend.py, asterisk/backend.py) fulfils; the flows see only its halves:
``OutboundSwitch`` (stage a document, originate, find a call again) for the outbound engine,
``InboundSwitch`` (take incoming calls) for the inbound router. A ``Call`` is what an originate
returns (events, hang up); an ``InboundCall`` is what the inbound handler gets, with the
reception's decisions (answer, receive, reject). tests/unit/test_switch_contract.py checks every
backend against these Protocols, and tests/integration/switch_conformance runs the same calls
through each of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import gevent.queue


@dataclass(frozen=True)
class FaxOptions:
    """How one side of a fax runs (per route, faxbox or job)."""
    station_id: str = ""          # our TSI/CSI (fax_ident), at most 20 characters
    header: str = ""              # page header line (fax_header), sending side only
    ecm: bool = True
    v17: bool = True              # False: at most 9600 bps (V.29)
    max_speed: int = 14400        # highest modem: 14400 (V.17), 9600 (V.29), 4800 (V.27ter)
    t38: str = "accept"           # "accept" | "request" | "off"
    t6: bool = False              # allow T.6 (needs ECM)


def highest_speed(options: FaxOptions) -> int:
    """The fastest modem these options allow: 14400 (V.17), 9600 (V.29) or 4800 (V.27ter)."""
    return min(options.max_speed, 14400 if options.v17 else 9600)


def t38_mode(fax_option, default: str) -> str:
    """Kazoo's ``media.fax_option`` (a job's or a faxbox's) -> FaxOptions.t38: true asks for
    T.38, false forbids it, anything else (absent, "auto") keeps ``default`` (FAXD_T38)."""
    if fax_option is True or fax_option == "true":
        return "request"
    if fax_option is False or fax_option == "false":
        return "off"
    return default


@dataclass(frozen=True)
class OriginateRequest:
    call_id: str                  # chosen by faxd (origination_uuid) so a restart can find the call
    job_id: str
    to_number: str                # E.164
    from_number: str
    from_name: str
    tiff_path: str                # fax TIFF (spool directory, or the switch's staged document)
    options: FaxOptions = field(default_factory=FaxOptions)
    ring_timeout: float = 60.0    # seconds before an unanswered call is given up (originate_timeout)
    dial_string: str = ""         # a route's dial string ({number}), instead of the configuration's
    gateway: str = ""             # a route's gateway (trunk): the backend's usual dial string through it


@runtime_checkable
class Call(Protocol):
    """One call on a switch. Events arrive in ``events`` (faxd.switch.events), Hangup last."""

    call_id: str
    direction: str                # "outbound" | "inbound"
    to_number: str
    from_number: str
    from_name: str
    events: gevent.queue.Queue

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """End the call (cancel). A Hangup event follows."""
        ...


@runtime_checkable
class InboundCall(Call, Protocol):
    """A call that came in: the reception decides what happens to it."""

    def answer(self) -> None:
        ...

    def receive_fax(self, tiff_path: str, options: FaxOptions) -> None:
        """Start receiving into ``tiff_path``; results arrive as events."""
        ...

    def reject(self, cause: str = "CALL_REJECTED") -> None:
        ...


@runtime_checkable
class StagedDocument(Protocol):
    """An outbound TIFF where the switch can read it while the call lasts."""

    path: str

    def release(self) -> None:
        ...


@runtime_checkable
class OutboundSwitch(Protocol):
    """What the outbound engine (faxd/outbound) uses."""

    def stage_document(self, name: str, data: bytes) -> StagedDocument:
        """Put the outbound TIFF where the switch reads it (the spool directory for a switch in
        another process, memory for the software switch); ``release()`` when the call is over."""
        ...

    def originate(self, request: OriginateRequest) -> Call:
        """Place an outbound fax call; returns at once, events follow on the Call."""
        ...

    def find_call(self, call_id: str) -> Call | None:
        """Re-attach to a call this node (or a crashed one) started, if the switch still has it."""
        ...


@runtime_checkable
class InboundSwitch(Protocol):
    """What the inbound router (faxd/inbound) uses."""

    def on_incoming_call(self, handler: Callable[[InboundCall], None]) -> None:
        """``handler(call)`` runs in its own greenlet for every inbound call."""
        ...


@runtime_checkable
class SwitchBackend(OutboundSwitch, InboundSwitch, Protocol):
    """A telephone switch as faxd runs it: both halves, and a lifecycle."""

    name: str

    def start(self) -> None:
        ...

    def stop(self) -> None:
        ...

    def status(self) -> list[dict]:
        """One dict per switch connection: {"name", "connected", ...} for /health."""
        ...


class CallBase:
    """The state every backend's calls share: ids, numbers and the events queue."""

    direction = "outbound"

    def __init__(self, call_id: str, to_number: str = "", from_number: str = "", from_name: str = ""):
        self.call_id = call_id
        self.to_number = to_number
        self.from_number = from_number
        self.from_name = from_name
        self.events: gevent.queue.Queue = gevent.queue.Queue()

"""SwitchBackend protocol, the Call handle and the requests that cross the seam."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import gevent.queue


@dataclass(frozen=True)
class FaxOptions:
    """How one side of a fax runs (per route, faxbox or job)."""
    station_id: str = ""          # our TSI/CSI (fax_ident), at most 20 characters
    header: str = ""              # page header line (fax_header), sending side only
    ecm: bool = True
    v17: bool = True              # False: at most 9600 bps (V.29)
    t38: str = "accept"           # "accept" | "request" | "off"
    t6: bool = False              # allow T.6 (needs ECM)


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


class Call:
    """One call on a switch. Events arrive in ``events`` (faxd.switch.events), Hangup last."""

    direction = "outbound"

    def __init__(self, call_id: str, to_number: str = "", from_number: str = "", from_name: str = ""):
        self.call_id = call_id
        self.to_number = to_number
        self.from_number = from_number
        self.from_name = from_name
        self.events: gevent.queue.Queue = gevent.queue.Queue()

    # Inbound calls: the reception decides.
    def answer(self) -> None:
        raise NotImplementedError

    def receive_fax(self, tiff_path: str, options: FaxOptions) -> None:
        """Start receiving into ``tiff_path``; results arrive as events."""
        raise NotImplementedError

    def reject(self, cause: str = "CALL_REJECTED") -> None:
        raise NotImplementedError

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """End the call (cancel). A Hangup event follows."""
        raise NotImplementedError


class SwitchBackend(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> list[dict]:
        """One dict per switch connection: {"name", "connected", ...} for /health."""
        ...

    def originate(self, request: OriginateRequest) -> Call:
        """Place an outbound fax call; returns at once, events follow on the Call."""
        ...

    def on_incoming_call(self, handler: Callable[[Call], None]) -> None:
        """``handler(call)`` runs in its own greenlet for every inbound call."""
        ...

    def find_call(self, call_id: str) -> Call | None:
        """Re-attach to a call this node (or a crashed one) started, if the switch still has it."""
        ...

    # Optional: ``stage_document(name, data)`` -> an object with ``path`` and ``release()``, for
    # a switch that reads the outbound TIFF somewhere other than the spool directory (the
    # software switch keeps it in memory). Without it the engine writes a faxd.switch.spool.SpoolFile.

"""What the emulated Asterisk is made of: its channels, the far ends it dials, the
outcome of a res_fax session, an inbound call and an on-net loop, and the recorded constants."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gevent.event

from faxd.switch import causes

if TYPE_CHECKING:
    from faxd.testing.ami_emulator.emulator import AMIEmulator

BANNER = "Asterisk Call Manager/11.0.0"
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
QOS = [
    ("RTPAUDIOQOS", "ssrc=1234104052;themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;"
                    "txcount=0;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"),
    ("RTPAUDIOQOSJITTER", "minrxjitter=000.000000;maxrxjitter=000.000000;avgrxjitter=000.000000;"
                          "stdevrxjitter=000.000000;mintxjitter=000.000000;maxtxjitter=000.000000;"
                          "avgtxjitter=000.000000;stdevtxjitter=000.000000;"),
    ("RTPAUDIOQOSLOSS", "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  "
                        "stdevrxlost=000.000000;  mintxlost=000.000000;  maxtxlost=000.000000;  "
                        "avgtxlost=000.000000;  stdevtxlost=000.000000;"),
    ("RTPAUDIOQOSRTT", "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;     "
                       "stdevrtt=000.000000;"),
    ("RTPAUDIOQOSMES", "   minrxmes=000.000000;   maxrxmes=000.000000;   avgrxmes=000.000000;   "
                       "stdevrxmes=000.000000;   mintxmes=000.000000;   maxtxmes=000.000000;   "
                       "avgtxmes=000.000000;   stdevtxmes=000.000000;"),
]


@dataclass
class FarEnd:
    """What answers a number.

    kind: ``fax`` (receives), ``hangup`` (answers, hangs up ``after`` s later), ``silent``,
    ``busy``, ``none`` (no such extension / SIP 404), ``reject`` (a trunk refuses: SIP 403,
    cause 21), ``t38_refuse`` (answers, refuses T.38),
    ``noanswer`` (a trunk rings until the Originate's Timeout).
    """
    kind: str = "fax"
    station_id: str = ""
    t38: bool = True              # accepts / asks for T.38 (PJSIP only)
    ecm: bool = True
    after: float = 4.0
    hangup_after_pages: int = 0   # fax: drop the line during the page after this many


@dataclass
class FaxRun:
    """The outcome of one emulated res_fax session, as res_fax reports it."""
    status: str
    error: str
    status_string: str
    remote_station_id: str
    local_station_id: str
    bit_rate: int
    resolution: str
    pages: int
    mode: str


class Channel:
    def __init__(self, emu: "AMIEmulator", name: str, uniqueid: str, linkedid: str, state: int,
                 context: str, exten: str, priority: int = 1):
        self.emu = emu
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.state = state
        self.cid = ("<unknown>", "<unknown>")
        self.connected = ("<unknown>", "<unknown>")
        self.context, self.exten, self.priority = context, exten, priority
        self.vars: dict[str, str] = {}
        self.faxopt: dict[str, str] = {}
        self.fax_details: dict[str, str] = {}
        self.gone = False
        self.hangup_cause: int | None = None      # set by an AMI Hangup
        self.wakeup = gevent.event.Event()        # Redirect / Hangup interrupt Wait()
        self.redirect: tuple[str, str, int] | None = None
        self.application = ""
        self.app_data = ""
        self.created = time.monotonic()
        self.dsp_control = None
        self._idle = False
        self.ended = gevent.event.Event()         # set by the channel's Hangup event
        self.final_cause = 0

    def block(self, prefix: str = "") -> list[tuple[str, str]]:
        p = prefix
        return [(p + "Channel", self.name), (p + "ChannelState", str(self.state)),
                (p + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
                (p + "CallerIDNum", self.cid[0]), (p + "CallerIDName", self.cid[1]),
                (p + "ConnectedLineNum", self.connected[0]), (p + "ConnectedLineName", self.connected[1]),
                (p + "Language", "en"), (p + "AccountCode", ""),
                (p + "Context", self.context), (p + "Exten", self.exten), (p + "Priority", str(self.priority)),
                (p + "Uniqueid", self.uniqueid), (p + "Linkedid", self.linkedid)]

    # -- events about this channel

    def event(self, name: str, privilege: str, *extra: tuple[str, str]) -> None:
        self.emu.broadcast([("Event", name), ("Privilege", privilege), *self.block(), *extra])

    def newexten(self, app: str, data: str = "", priority: int | None = None) -> None:
        if priority is not None:
            self.priority = priority
        self.application, self.app_data = app, data
        self.event("Newexten", "dialplan,all", ("Extension", self.exten), ("Application", app), ("AppData", data))

    def setvar(self, name: str, value: str) -> None:
        self.vars[name.lstrip("_")] = value
        self.event("VarSet", "dialplan,all", ("Variable", name), ("Value", value))

    def newstate(self, state: int) -> None:
        self.state = state
        self.event("Newstate", "call,all")

    def hangup(self, cause: int, tech_cause: str = "") -> None:
        if self.gone:
            return
        self.gone = True
        self.final_cause = cause
        extra = [("Cause", str(cause)), ("Cause-txt", causes.asterisk_text(cause))]
        if tech_cause:
            extra.append(("TechCause", tech_cause))
        self.event("Hangup", "call,all", *extra)
        self.emu._forget(self)
        self.ended.set()

    @property
    def hung_up_by_manager(self) -> bool:
        return self.hangup_cause is not None


@dataclass(eq=False)
class _Loop:
    """An on-net fax: SendFAX on one channel of this Asterisk, ReceiveFAX (faxd-control) on
    another, the T.30 session between them."""
    sender: Channel
    files: list[str]
    send_opts: str
    local_id: str
    t38_capable: bool
    t38: bool = False
    receiver: Channel | None = None
    receiver_call: IncomingCall | None = None
    answered: gevent.event.Event = field(default_factory=gevent.event.Event)
    receiving: gevent.event.Event = field(default_factory=gevent.event.Event)   # ReceiveFAX started (T.38 decided)
    sending: gevent.event.Event = field(default_factory=gevent.event.Event)     # SendFAX started
    result: gevent.event.AsyncResult = field(default_factory=gevent.event.AsyncResult)  # (tx, rx FaxRun) or None


@dataclass
class IncomingCall:
    did: str
    tiff: str | None
    caller_num: str
    caller_name: str
    t38: bool
    station_id: str
    ecm: bool
    hangup_before_decision: bool
    loop: _Loop | None = None
    channel: Channel | None = None
    result: FaxRun | None = None
    done: gevent.event.AsyncResult = field(default_factory=gevent.event.AsyncResult)


def _fax_run(stats, local_id: str, mode: str, sending: bool) -> FaxRun:
    ok = stats.completion_code == 0
    pages = stats.pages_tx if sending else stats.pages_rx
    text = stats.completion_text
    res = f"{stats.x_resolution}x{stats.y_resolution}" if pages else "0x0"
    return FaxRun(status="SUCCESS" if ok else "FAILED", error="" if ok else text,
                  status_string="OK" if ok else text, remote_station_id=stats.remote_station_id,
                  local_station_id=local_id, bit_rate=stats.bit_rate or 14400, resolution=res,
                  pages=pages, mode=mode)


def _real_lock():
    """A lock of the OS thread library (the DSP thread blocks on it; gevent's would not do)."""
    from gevent import monkey
    return monkey.get_original("_thread", "allocate_lock")()


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _parse_callerid(value: str) -> tuple[str, str]:
    m = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', value or "")
    if m:
        return m.group(2) or "<unknown>", m.group(1) or "<unknown>"
    return (value or "<unknown>"), "<unknown>"


def _split_args(value: str) -> list[str]:
    """Asterisk's argument split: commas separate, a backslash escapes (kept for unescape)."""
    out, cur, it = [], [], iter(value)
    for ch in it:
        if ch == "\\":
            cur.append(ch)
            cur.append(next(it, ""))
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p for p in out if p]

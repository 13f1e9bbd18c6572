"""AMI events -> faxd's neutral call events (faxd.switch.events).

What a real Asterisk 22 (res_fax + res_fax_spandsp) tells about a fax, and how it is read:

- ``SendFAX`` / ``ReceiveFAX`` events carry pages, rate, resolution and station ids but **no
  status**, and do not come at all when T.38 negotiation fails;
- the status is in the ``VarSet`` events of ``FAXSTATUS``/``FAXERROR``/``FAXSTATUSSTRING``/...,
  which res_fax sets several times per call (pessimistic presets, cleared at the start, an
  intermediate ``HANGUP`` pass, the final pass). Only the last value of each before the
  ``SendFAX``/``ReceiveFAX`` event (or before the channel's ``Hangup``) counts;
- ``FAXSTATUS=SUCCESS`` with ``FAXERROR=HANGUP`` is a success (the far end hung up first);
- ``FAXMODE`` is ``T38`` or ``audio``; ``FAXResolution`` is in pixels per metre;
- ``Hangup`` has a numeric Q.850 ``Cause`` (and ``TechCause`` for SIP).

:class:`FaxChannel` follows one channel and turns its events into neutral ones with the same
vocabulary the FreeSWITCH backend uses: result codes are spandsp T.30 completion codes,
hangup causes Q.850 names.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from faxd import t30codes
from faxd.switch import causes
from faxd.switch import events as ev
from faxd.switch.asterisk.ami import Message

# res_fax's own FAXERROR values (not spandsp texts) -> T.30 code, when the call was still up.
_GENERIC_ERRORS = {
    "HANGUP": t30codes.CALLDROPPED,
    "T38_NEG_ERROR": t30codes.INCOMPATIBLE,
    "TIMEOUT": t30codes.T0_EXPIRED,
    "FILE_ERROR": t30codes.FILEERROR,
    "INVALID_ARGUMENTS": t30codes.FILEERROR,
    "MEMORY_ERROR": t30codes.NOMEM,
}

# OriginateResponse ``Reason`` (Asterisk's AST_CONTROL_* of the outbound dial).
REASON_CAUSES: dict[int, tuple[str, int]] = {
    1: ("NORMAL_CLEARING", 16),          # hung up before answer
    3: ("NO_ANSWER", 19),                # rang until Timeout
    5: ("USER_BUSY", 17),
    8: ("NORMAL_CIRCUIT_CONGESTION", 34),
}
# Reason 0 ("failed") with no cause on the channel: the switch could not route the call
# (no such extension on a Local channel, unknown endpoint, ...).
NO_ROUTE = ("NO_ROUTE_DESTINATION", 3)

FAX_VARIABLES = frozenset(("FAXSTATUS", "FAXERROR", "FAXSTATUSSTRING", "FAXPAGES", "FAXBITRATE",
                           "FAXRESOLUTION", "FAXMODE", "REMOTESTATIONID", "LOCALSTATIONID"))
UP = "6"        # ChannelState of an answered channel
RINGING = "5"   # the far end rings (SIP 180)


cause_name = causes.name


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        return default


resolution_dpi = ev.resolution_dpi


def map_fax_error(status: str, error: str, status_string: str, hung_up: bool) -> tuple[int, str]:
    """(FAXSTATUS, FAXERROR, FAXSTATUSSTRING) -> (spandsp T.30 code, text).

    ``SUCCESS`` is success whatever FAXERROR says (``HANGUP`` after the last page). A spandsp
    completion text maps to its code. res_fax's generic codes map to the nearest T.30 code;
    when the channel was hung up meanwhile the fax ended because the call dropped (49). The
    text is the spandsp text when there is one, else Asterisk's own words.
    """
    if status == "SUCCESS":
        return t30codes.OK, t30codes.TEXTS[t30codes.OK]
    for text in (error, status_string):
        if text in t30codes.CODES and text != "OK":
            return t30codes.CODES[text], text
    words = status_string or error or "fax failed"
    if hung_up and error not in ("FILE_ERROR", "INVALID_ARGUMENTS", "MEMORY_ERROR"):
        return t30codes.CALLDROPPED, words
    return _GENERIC_ERRORS.get(error, t30codes.CALLDROPPED), words


@dataclass
class AsteriskOutcome:
    """What Asterisk reported about one fax channel, in its own terms."""
    status: str = ""                 # FAXSTATUS: SUCCESS | FAILED
    error: str = ""                  # FAXERROR
    status_string: str = ""          # FAXSTATUSSTRING
    pages: int = 0
    bit_rate: int = 0
    resolution: str = ""             # pixels per metre, "8031x7700"
    mode: str = ""                   # audio | T38
    remote_station_id: str = ""
    local_station_id: str = ""
    files: list[str] = field(default_factory=list)
    result_event: str = ""           # SendFAX | ReceiveFAX | "" (never came)
    cause: int | None = None         # Hangup Cause
    cause_txt: str = ""
    tech_cause: str = ""


@dataclass(eq=False)
class FaxChannel:
    """One Asterisk channel of a faxd call: feed it the channel's AMI events, get neutral events.

    ``feed`` returns the neutral events each AMI event produces; the Hangup event is last.
    """
    call_id: str
    uniqueid: str = ""
    ecm_requested: bool = True
    pages_total: int = 0
    channel: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    answered: bool = False
    ringing: bool = False
    exists: bool = False
    fax_started: bool = False          # res_fax ran on this channel (its VarSets came)
    negotiated: bool = False
    t38_negotiated: bool = False
    result_sent: bool = False
    hangup_requested: bool = False
    hung_up: bool = False
    result_event: Message | None = None
    hangup_event: Message | None = None
    user_event: dict[str, str] = field(default_factory=dict)
    result: ev.FaxResult | None = None
    # Live figures from the FAXSession action (res_fax_spandsp), when the backend polls it.
    pages_reported: int = 0
    live_ecm: bool | None = None
    live_bit_rate: int = 0
    live_bad_rows: int = 0

    # -- the result, in Asterisk's terms

    def outcome(self) -> AsteriskOutcome:
        v, r = self.vars, self.result_event
        pages = _int(v.get("FAXPAGES")) if "FAXPAGES" in v else _int(r.get("PagesTransferred") if r else "")
        out = AsteriskOutcome(
            status=v.get("FAXSTATUS", ""),
            error=v.get("FAXERROR", ""),
            status_string=v.get("FAXSTATUSSTRING", ""),
            pages=pages,
            bit_rate=_int(v.get("FAXBITRATE") or (r.get("TransferRate") if r else "")),
            resolution=v.get("FAXRESOLUTION") or (r.get("Resolution") if r else ""),
            mode=v.get("FAXMODE", ""),
            remote_station_id=v.get("REMOTESTATIONID") or (r.get("RemoteStationID") if r else ""),
            local_station_id=v.get("LOCALSTATIONID") or (r.get("LocalStationID") if r else ""),
            files=r.getall("FileName") if r else [],
            result_event=r.event if r else "",
        )
        if self.hangup_event is not None:
            out.cause = _int(self.hangup_event.get("Cause"))
            out.cause_txt = self.hangup_event.get("Cause-txt")
            out.tech_cause = self.hangup_event.get("TechCause")
        return out

    def fax_result(self) -> ev.FaxResult:
        o = self.outcome()
        code, text = map_fax_error(o.status, o.error, o.status_string, self.hangup_requested)
        reached_phase_b = o.pages > 0 or bool(o.remote_station_id) or bool(resolution_dpi(o.resolution))
        ecm_text = self.user_event.get("FAXECM", "")
        if self.live_ecm is not None:
            ecm = self.live_ecm                  # what spandsp negotiated
        else:
            ecm = (ecm_text == "yes") if ecm_text else self.ecm_requested
        return ev.FaxResult(
            call_id=self.call_id,
            success=o.status == "SUCCESS",
            result_code=code,
            result_text=text,
            pages=o.pages,
            pages_total=self.pages_total,
            bit_rate=o.bit_rate if reached_phase_b else 0,
            ecm=ecm and reached_phase_b,
            # A T.38 attempt that failed in T.38 negotiation still counts as T.38 (the retry
            # policy then tries audio).
            t38=o.mode == "T38" or o.error == "T38_NEG_ERROR",
            remote_station_id=o.remote_station_id,
            bad_rows=self.live_bad_rows,
            resolution=resolution_dpi(o.resolution),
            extra={
                "asterisk_status": o.status, "asterisk_error": o.error,
                "asterisk_status_string": o.status_string, "mode": o.mode,
                "resolution_ppm": o.resolution, "transfer_rate": o.bit_rate,
                "local_station_id": o.local_station_id, "files": o.files,
                "result_event": o.result_event,
            },
        )

    def hangup(self, override: tuple[str, int] | None = None) -> ev.Hangup:
        h = self.hangup_event
        number = _int(h.get("Cause")) if h is not None else 0
        detail = ""
        if h is not None:
            detail = f"{number} {h.get('Cause-txt')}".strip()
            if h.get("TechCause"):
                detail += f" (SIP {h.get('TechCause')})"
        if override is not None and number in (0, 16):
            name, q850 = override
        elif number == 0:
            # Cause 0 is Asterisk hanging up its own leg after the fax application returned.
            name, q850 = ("NORMAL_CLEARING", 16)
        else:
            name, q850 = cause_name(number), number
        return ev.Hangup(call_id=self.call_id, cause=name, q850=q850, detail=detail)

    # -- events

    def feed(self, msg: Message) -> list:
        """One AMI event of this channel -> neutral events (possibly none)."""
        name = msg.event
        out: list = []
        if name == "Newchannel":
            self.exists = True
            self.channel = msg.get("Channel")
            if msg.get("ChannelState") == UP and not self.answered:
                self.answered = True
                out.append(ev.Answered(self.call_id))
        elif name == "Newstate":
            self.exists = True
            self.channel = msg.get("Channel") or self.channel
            if msg.get("ChannelState") == RINGING and not self.ringing and not self.answered:
                self.ringing = True
                out.append(ev.Ringing(self.call_id))
            if msg.get("ChannelState") == UP and not self.answered:
                self.answered = True
                out.append(ev.Answered(self.call_id))
        elif name == "VarSet":
            var = msg.get("Variable")
            if var in FAX_VARIABLES:
                self.vars[var] = msg.get("Value")
                self.fax_started = True
        elif name == "FAXStatus":
            self.fax_started = True
            status = msg.get("Status")
            if status == "T.38 Negotiated":
                self.t38_negotiated = True
            elif status == "FAX Transmission In Progress" and not self.negotiated:
                self.negotiated = True
                out.append(ev.Negotiated(
                    call_id=self.call_id, ecm=self.ecm_requested,
                    t38=self.t38_negotiated or self.vars.get("FAXMODE") == "T38"))
        elif name in ("SendFAX", "ReceiveFAX"):
            self.fax_started = True
            self.result_event = msg
            if not self.result_sent:
                out += self._result()
        elif name == "UserEvent" and msg.get("UserEvent") in ("FaxTxResult", "FaxRxResult"):
            self.user_event = msg.to_dict()
        elif name in ("HangupRequest", "SoftHangupRequest"):
            self.hangup_requested = True
        elif name == "Hangup":
            self.hung_up = True
            self.hangup_event = msg
            if self.fax_started and not self.result_sent:
                out += self._result()
        return out

    def _result(self) -> list:
        self.result_sent = True
        result = self.fax_result()
        self.result = result
        out: list = []
        if result.pages > self.pages_reported:
            self.pages_reported = result.pages
            out.append(ev.PageDone(call_id=self.call_id, pages=result.pages,
                                   pages_total=self.pages_total, bit_rate=result.bit_rate,
                                   bad_rows=self.live_bad_rows))
        out.append(result)
        return out

    def progress(self, session: Message) -> list:
        """A ``FAXSession`` answer (res_fax_spandsp's live T.30 statistics) -> PageDone."""
        if self.result_sent or self.hung_up:
            return []
        pages = max(_int(session.get("PagesTransmitted")), _int(session.get("PagesReceived")))
        rate = _int(session.get("DataRate"))
        if session.get("ErrorCorrectionMode"):
            self.live_ecm = session.get("ErrorCorrectionMode").lower() == "yes"
        if rate:
            self.live_bit_rate = rate
        self.live_bad_rows = _int(session.get("TotalBadLines"))
        if pages <= self.pages_reported:
            return []
        self.pages_reported = pages
        return [ev.PageDone(call_id=self.call_id, pages=pages, pages_total=self.pages_total,
                            bit_rate=self.live_bit_rate, bad_rows=self.live_bad_rows)]

    def refresh(self, values: dict[str, str]) -> None:
        """Values read with Getvar after a reconnect (VarSets may have been missed)."""
        for k, v in values.items():
            if k in FAX_VARIABLES:
                self.vars[k] = v
                if v:
                    self.fax_started = True


class CallTranslator:
    """One faxd call on Asterisk: its own channel's events (a FaxChannel) plus the call-level
    rules for its Hangup cause. Pure: the backend routes AMI events here and puts what comes
    back on the call's queue; timers stay in the backend.

    The cause of an outbound call's Hangup is, in order: faxd's own reason when faxd hung up a
    call whose fax had not succeeded (cancel, a stage deadline); what ``OriginateResponse``
    said (``Reason`` 5 busy, 3 no answer, 0 no route ...) when the channel's own cause is
    0 or 16, refined by the first specific cause of another channel of the call (the ``;2``
    half of a Local pair, a trunk leg a site context Dial()ed: the network's word); else the
    channel's own Q.850 cause.
    """

    def __init__(self, call_id: str, uniqueid: str = "", direction: str = "outbound", ecm: bool = True):
        self.call_id = call_id
        self.direction = direction
        self.channel = FaxChannel(call_id, uniqueid, ecm_requested=ecm)
        self.originate_failure: tuple[str, int] | None = None
        self.linked_causes: list[int] = []
        self.cancel_cause: str | None = None
        self.finished = False

    def _out(self, events: list) -> list:
        if self.finished:
            return []
        for i, e in enumerate(events):
            if isinstance(e, ev.Hangup):
                self.finished = True
                return events[:i + 1]
        return events

    def _end(self, cause: str, number: int, detail: str) -> list:
        return self._out([ev.Hangup(self.call_id, cause=cause, q850=number, detail=detail)])

    def feed(self, msg: Message) -> list:
        """An AMI event of the call's own channel -> neutral events (the Hangup last)."""
        out = self.channel.feed(msg)
        if msg.event == "Hangup":
            out = [e for e in out if not isinstance(e, ev.Hangup)]
            out.append(self.channel.hangup(self._override()))
        return self._out(out)

    def _override(self) -> tuple[str, int] | None:
        override = self.originate_failure
        if override is not None:
            specific = [c for c in self.linked_causes if c not in (0, 16)]
            if specific:
                override = (causes.name(specific[0]), specific[0])
        result = self.channel.result
        if self.cancel_cause and (result is None or not result.success) and self.direction == "outbound":
            # faxd hung up (cancel, stage deadline): its reason is the call's cause.
            override = (self.cancel_cause, causes.to_send(self.cancel_cause))
        return override

    def linked(self, msg: Message) -> None:
        """An event of another channel of this outbound call (same Linkedid): only its
        Hangup cause counts, as what the network said."""
        if self.direction == "outbound" and msg.event == "Hangup":
            self.linked_causes.append(_int(msg.get("Cause")))

    def originate_response(self, msg: Message) -> tuple[list, bool]:
        """``OriginateResponse`` -> (events, wait). ``wait``: the channel exists and its own
        Hangup (with the real cause, e.g. 1 for a SIP 404) should follow; if it does not
        within the backend's grace, ``gave_up()`` ends the call."""
        if msg.get("Response") == "Success":
            if self.channel.answered:
                return [], False
            self.channel.answered = True
            return self._out([ev.Answered(self.call_id)]), False
        reason = _int(msg.get("Reason"))
        self.originate_failure = REASON_CAUSES.get(reason, NO_ROUTE)
        if self.channel.exists and not self.channel.hung_up:
            return [], True
        if self.channel.hung_up:
            return [], False
        name, number = ((self.cancel_cause, causes.to_send(self.cancel_cause)) if self.cancel_cause
                        else self.originate_failure)
        return self._end(name, number, f"OriginateResponse Reason {reason}"), False

    def gave_up(self) -> list:
        """The originate failed and the channel's own Hangup never came."""
        name, number = self.originate_failure or NO_ROUTE
        return self._end(name, number, "originate failed")

    def cancelled_before_placed(self) -> list:
        cause = self.cancel_cause or "ORIGINATOR_CANCEL"
        return self._end(cause, causes.to_send(cause), "hung up before the call was placed")

    def refused(self, detail: str) -> list:
        """Asterisk did not take the Originate (or the connection was down)."""
        return self._end("NORMAL_TEMPORARY_FAILURE", causes.q850("NORMAL_TEMPORARY_FAILURE"),
                         f"originate not accepted: {detail}")

    def lost(self, detail: str = "the call was gone after the AMI connection came back") -> list:
        return self._end(causes.SWITCH_LOST, causes.q850(causes.SWITCH_LOST), detail)

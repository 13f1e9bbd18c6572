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

from faxd.switch import events as ev
from faxd.switch.asterisk.ami import Message

# spandsp T.30 completion codes and their exact texts (t30_completion_code_to_str).
T30_TEXTS: dict[int, str] = {
    0: "OK", 1: "The CED tone exceeded 5s", 2: "Timed out waiting for initial communication",
    3: "Timed out waiting for the first message", 4: "Timed out waiting for procedural interrupt",
    5: "The HDLC carrier did not stop in a timely manner",
    6: "Failed to train with any of the compatible modems", 7: "Operator intervention failed",
    8: "Far end is not compatible", 9: "Far end is not able to receive",
    10: "Far end is not able to transmit", 11: "Far end cannot receive at the resolution of the image",
    12: "Far end cannot receive at the size of image", 13: "Unexpected message received",
    14: "Received bad response to DCS or training", 15: "Received a DCN from remote after sending a page",
    16: "Invalid ECM response received from receiver", 17: "Received a DCN while waiting for a DIS",
    18: "Invalid response after sending a page", 19: "Received other than DIS while waiting for DIS",
    20: "Received no response to DCS or TCF", 21: "No response after sending a page",
    22: "Timed out waiting for receiver ready (ECM mode)",
    23: "Invalid ECM response received from transmitter", 24: "DCS received while waiting for DTC",
    25: "Unexpected command after page received", 26: "Carrier lost during fax receive",
    27: "Timed out while waiting for EOL (end Of line)", 28: "Timed out while waiting for first line",
    29: "Timer T2 expired while waiting for DCN", 30: "Timer T2 expired while waiting for phase D",
    31: "Timer T2 expired while waiting for fax page", 32: "Timer T2 expired while waiting for next fax page",
    33: "Timer T2 expired while waiting for RR command",
    34: "Timer T2 expired while waiting for NSS, DCS or MCF",
    35: "Unexpected DCN while waiting for DCS or DIS", 36: "Unexpected DCN while waiting for image data",
    37: "Unexpected DCN while waiting for EOM, EOP or MPS", 38: "Unexpected DCN after EOM or MPS sequence",
    39: "Unexpected DCN after RR/RNR sequence", 40: "Unexpected DCN after requested retransmission",
    41: "TIFF/F file cannot be opened", 42: "TIFF/F page not found", 43: "TIFF/F format is not compatible",
    44: "TIFF/F page number tag missing", 45: "Incorrect values for TIFF/F tags",
    46: "Bad TIFF/F header - incorrect values in fields", 47: "Cannot allocate memory for more pages",
    48: "Disconnected after permitted retries", 49: "The call dropped prematurely",
    50: "Poll not accepted", 51: "Ident not accepted", 52: "Sub-address not accepted",
    53: "Selective polling address not accepted", 54: "Polled sub-address not accepted",
    55: "Sender identification not accepted", 56: "Password not accepted",
    57: "Transmitting subscriber internet address not accepted",
    58: "Internet routing address not accepted", 59: "Calling subscriber internet address not accepted",
    60: "Internet selective polling address not accepted", 61: "Called subscriber internet address not accepted",
}
T30_CODES: dict[str, int] = {text: code for code, text in T30_TEXTS.items()}

T30_OK = 0
T30_T0_EXPIRED = 2
T30_INCOMPATIBLE = 8
T30_FILEERROR = 41
T30_NOMEM = 47
T30_CALLDROPPED = 49

# res_fax's own FAXERROR values (not spandsp texts) -> T.30 code, when the call was still up.
_GENERIC_ERRORS = {
    "HANGUP": T30_CALLDROPPED,
    "T38_NEG_ERROR": T30_INCOMPATIBLE,
    "TIMEOUT": T30_T0_EXPIRED,
    "FILE_ERROR": T30_FILEERROR,
    "INVALID_ARGUMENTS": T30_FILEERROR,
    "MEMORY_ERROR": T30_NOMEM,
}

# Q.850 cause number (Asterisk's Hangup ``Cause``) -> the name FreeSWITCH prints.
Q850_NAMES: dict[int, str] = {
    1: "UNALLOCATED_NUMBER", 2: "NO_ROUTE_TRANSIT_NET", 3: "NO_ROUTE_DESTINATION",
    6: "CHANNEL_UNACCEPTABLE", 7: "CALL_AWARDED_DELIVERED", 16: "NORMAL_CLEARING",
    17: "USER_BUSY", 18: "NO_USER_RESPONSE", 19: "NO_ANSWER", 20: "SUBSCRIBER_ABSENT",
    21: "CALL_REJECTED", 22: "NUMBER_CHANGED", 23: "REDIRECTION_TO_NEW_DESTINATION",
    25: "EXCHANGE_ROUTING_ERROR", 27: "DESTINATION_OUT_OF_ORDER", 28: "INVALID_NUMBER_FORMAT",
    29: "FACILITY_REJECTED", 30: "RESPONSE_TO_STATUS_ENQUIRY", 31: "NORMAL_UNSPECIFIED",
    34: "NORMAL_CIRCUIT_CONGESTION", 38: "NETWORK_OUT_OF_ORDER", 41: "NORMAL_TEMPORARY_FAILURE",
    42: "SWITCH_CONGESTION", 43: "ACCESS_INFO_DISCARDED", 44: "REQUESTED_CHAN_UNAVAIL",
    45: "PRE_EMPTED", 50: "FACILITY_NOT_SUBSCRIBED", 52: "OUTGOING_CALL_BARRED",
    54: "INCOMING_CALL_BARRED", 57: "BEARERCAPABILITY_NOTAUTH", 58: "BEARERCAPABILITY_NOTAVAIL",
    63: "SERVICE_UNAVAILABLE", 65: "BEARERCAPABILITY_NOTIMPL", 66: "CHAN_NOT_IMPLEMENTED",
    69: "FACILITY_NOT_IMPLEMENTED", 79: "SERVICE_NOT_IMPLEMENTED", 81: "INVALID_CALL_REFERENCE",
    88: "INCOMPATIBLE_DESTINATION", 95: "INVALID_MSG_UNSPECIFIED", 96: "MANDATORY_IE_MISSING",
    97: "MESSAGE_TYPE_NONEXIST", 98: "WRONG_MESSAGE", 99: "IE_NONEXIST", 100: "INVALID_IE_CONTENTS",
    101: "WRONG_CALL_STATE", 102: "RECOVERY_ON_TIMER_EXPIRE", 103: "MANDATORY_IE_LENGTH_ERROR",
    111: "PROTOCOL_ERROR", 127: "INTERWORKING",
}

Q850_NUMBERS: dict[str, int] = {name: number for number, name in Q850_NAMES.items()}

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


def cause_name(number: int) -> str:
    """Q.850 number -> FreeSWITCH cause name; unknown numbers are a generic failure."""
    return Q850_NAMES.get(number, "NORMAL_UNSPECIFIED")


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        return default


def resolution_dpi(ppm: str) -> str:
    """``8031x7700`` pixels per metre -> ``204x196`` dpi; ``0x0`` or junk -> ``""``."""
    x, sep, y = (ppm or "").partition("x")
    if not sep:
        return ""
    dx, dy = round(_int(x) * 0.0254), round(_int(y) * 0.0254)
    if dx <= 0 or dy <= 0:
        return ""
    return f"{dx}x{dy}"


def map_fax_error(status: str, error: str, status_string: str, hung_up: bool) -> tuple[int, str]:
    """(FAXSTATUS, FAXERROR, FAXSTATUSSTRING) -> (spandsp T.30 code, text).

    ``SUCCESS`` is success whatever FAXERROR says (``HANGUP`` after the last page). A spandsp
    completion text maps to its code. res_fax's generic codes map to the nearest T.30 code;
    when the channel was hung up meanwhile the fax ended because the call dropped (49). The
    text is the spandsp text when there is one, else Asterisk's own words.
    """
    if status == "SUCCESS":
        return T30_OK, T30_TEXTS[T30_OK]
    for text in (error, status_string):
        if text in T30_CODES and text != "OK":
            return T30_CODES[text], text
    words = status_string or error or "fax failed"
    if hung_up and error not in ("FILE_ERROR", "INVALID_ARGUMENTS", "MEMORY_ERROR"):
        return T30_CALLDROPPED, words
    return _GENERIC_ERRORS.get(error, T30_CALLDROPPED), words


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


class FaxChannel:
    """One Asterisk channel of a faxd call: feed it the channel's AMI events, get neutral events.

    ``feed`` returns the neutral events each AMI event produces; the Hangup event is last.
    """

    def __init__(self, call_id: str, uniqueid: str = "", ecm: bool = True, pages_total: int = 0):
        self.call_id = call_id
        self.uniqueid = uniqueid
        self.channel = ""
        self.ecm_requested = ecm
        self.pages_total = pages_total
        self.vars: dict[str, str] = {}
        self.answered = False
        self.ringing = False
        self.exists = False
        self.fax_started = False          # res_fax ran on this channel (its VarSets came)
        self.negotiated = False
        self.t38_negotiated = False
        self.result_sent = False
        self.hangup_requested = False
        self.hung_up = False
        self.result_event: Message | None = None
        self.hangup_event: Message | None = None
        self.user_event: dict[str, str] = {}
        self.result: ev.FaxResult | None = None
        # Live figures from the FAXSession action (res_fax_spandsp), when the backend polls it.
        self.pages_reported = 0
        self.live_ecm: bool | None = None
        self.live_bit_rate = 0
        self.live_bad_rows = 0

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

"""ESL events -> the neutral events of faxd.switch.events. Pure: no I/O, no clocks.

``CallTranslator`` follows one channel (by ``Unique-ID``) and the ``BACKGROUND_JOB`` of its
originate (by ``Job-UUID``) and turns them into Answered, Negotiated, PageDone, FaxResult and,
last, Hangup. The result comes from the ``spandsp::*faxresult`` event, or, when that event never
arrives, from the ``variable_fax_*`` channel variables that CHANNEL_EXECUTE_COMPLETE of the fax
application and CHANNEL_HANGUP_COMPLETE carry (telephony reference 3.3, 4.1).
"""
from __future__ import annotations

from faxd.switch import causes
from faxd.switch import events as ev
from faxd.switch.freeswitch.esl import Event

# Hangup cause faxd uses when the connection to FreeSWITCH was lost and the call could not be found.
SWITCH_LOST = causes.SWITCH_LOST
q850 = causes.q850

RESULT_SUBCLASSES = ("spandsp::txfaxresult", "spandsp::rxfaxresult")
NEGOTIATE_SUBCLASSES = ("spandsp::txfaxnegociateresult", "spandsp::rxfaxnegociateresult")
PAGE_SUBCLASSES = ("spandsp::txfaxpageresult", "spandsp::rxfaxpageresult")
FAX_APPS = ("txfax", "rxfax")


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


resolution_dpi = ev.resolution_dpi


def _fax_fields(get) -> dict:
    """Every tx_result figure from fax headers (``get('result-code')`` etc)."""
    extra = {}
    for name in ("local-station-id", "image-size", "encoding-name", "image-pixel-size", "remote-country",
                 "remote-vendor", "remote-model", "longest-bad-row-run"):
        value = get(name)
        if value:
            extra[name.replace("-", "_")] = value
    return dict(
        success=get("success") == "1",
        result_code=_int(get("result-code"), -1),
        result_text=get("result-text"),
        pages=_int(get("document-transferred-pages")),
        pages_total=_int(get("document-total-pages")),
        bit_rate=_int(get("transfer-rate")),
        ecm=get("ecm-used") == "on",
        t38=get("t38-status") == "negotiated",
        remote_station_id=get("remote-station-id"),
        bad_rows=_int(get("bad-rows")),
        resolution=resolution_dpi(get("image-resolution")),
        extra=extra,
    )


def fax_result_from_event(event: Event, call_id: str) -> ev.FaxResult:
    """From a ``spandsp::txfaxresult`` / ``rxfaxresult`` event (headers ``fax-*``)."""
    h = event.headers
    return ev.FaxResult(call_id=call_id, **_fax_fields(lambda n: h.get("fax-" + n, "")))


def fax_result_from_variables(event: Event, call_id: str) -> ev.FaxResult | None:
    """From the ``variable_fax_*`` a channel event carries; None when T.30 never ended."""
    h = event.headers
    if "variable_fax_result_code" not in h:
        return None
    return ev.FaxResult(call_id=call_id,
                        **_fax_fields(lambda n: h.get("variable_fax_" + n.replace("-", "_"), "")))


def negotiated_from_event(event: Event, call_id: str) -> ev.Negotiated:
    h = event.headers
    return ev.Negotiated(
        call_id=call_id,
        bit_rate=_int(h.get("fax-transfer-rate", "")),
        ecm=h.get("fax-ecm-used") == "on",
        t38=h.get("fax-t38-status") == "negotiated",
        remote_station_id=h.get("fax-remote-station-id", ""),
    )


def page_from_event(event: Event, call_id: str, bit_rate: int = 0) -> ev.PageDone:
    h = event.headers
    return ev.PageDone(
        call_id=call_id,
        pages=_int(h.get("fax-document-transferred-pages", "")),
        pages_total=_int(h.get("fax-document-total-pages", "")),
        bit_rate=bit_rate,
        bad_rows=_int(h.get("fax-bad-rows", "")),
    )


def hangup_from_event(event: Event, call_id: str, detail: str = "") -> ev.Hangup:
    h = event.headers
    cause = h.get("Hangup-Cause") or h.get("variable_hangup_cause") or "NORMAL_CLEARING"
    number = _int(h.get("variable_hangup_cause_q850", ""), 0) or q850(cause)
    return ev.Hangup(call_id=call_id, cause=cause, q850=number, detail=detail)


def originate_error(body: str) -> str | None:
    """The cause in a failed originate's output (``-ERR USER_BUSY``), None on ``+OK``."""
    text = body.strip()
    if text.startswith("+OK"):
        return None
    if text.startswith("-ERR"):
        return text[4:].strip().split()[0] if text[4:].strip() else "NORMAL_TEMPORARY_FAILURE"
    return "NORMAL_TEMPORARY_FAILURE"   # -USAGE and anything unexpected


class CallTranslator:
    """The state of one channel as its events arrive; ``feed`` returns the neutral events."""

    def __init__(self, call_id: str):
        self.call_id = call_id
        self.created = False
        self.answered = False
        self.ringing = False
        self.negotiated = False
        self.result: ev.FaxResult | None = None
        self.hungup = False
        self.bit_rate = 0
        self.app_error = ""           # Application-Response of a failed txfax/rxfax
        self.originate_cause: str | None = None   # -ERR cause from BACKGROUND_JOB

    @property
    def finished(self) -> bool:
        return self.hungup

    def feed(self, event: Event) -> list:
        if self.hungup:
            return []
        name = event.headers.get("Event-Name", "")
        out: list = []
        if name == "CUSTOM":
            sub = event.headers.get("Event-Subclass", "")
            if sub in NEGOTIATE_SUBCLASSES:
                n = negotiated_from_event(event, self.call_id)
                self.negotiated = True
                self.bit_rate = n.bit_rate
                out.append(n)
            elif sub in PAGE_SUBCLASSES:
                out.append(page_from_event(event, self.call_id, self.bit_rate))
            elif sub in RESULT_SUBCLASSES and self.result is None:
                self.result = fax_result_from_event(event, self.call_id)
                out.append(self.result)
        elif name == "CHANNEL_CREATE":
            self.created = True
        elif name in ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA"):
            self.created = True
            if not self.ringing and not self.answered:
                self.ringing = True
                out.append(ev.Ringing(self.call_id))
        elif name == "CHANNEL_ANSWER":
            self.created = True
            if not self.answered:
                self.answered = True
                out.append(ev.Answered(self.call_id))
        elif name == "CHANNEL_EXECUTE_COMPLETE":
            if event.headers.get("Application") in FAX_APPS:
                response = event.headers.get("Application-Response", "")
                if response and response != "_none_":
                    self.app_error = response
                out.extend(self._result_from_variables(event))
        elif name == "CHANNEL_HANGUP_COMPLETE":
            out.extend(self._result_from_variables(event))
            out.append(hangup_from_event(event, self.call_id, self.app_error))
            self.hungup = True
        return out

    def _result_from_variables(self, event: Event) -> list:
        if self.result is not None:
            return []
        result = fax_result_from_variables(event, self.call_id)
        if result is None:
            return []
        self.result = result
        return [result]

    def background_job(self, body: str) -> list:
        """The originate's BACKGROUND_JOB; a failure without a channel ends the call here."""
        cause = originate_error(body)
        if cause is None or self.hungup:
            return []
        self.originate_cause = cause
        if not self.created:
            self.hungup = True
            return [ev.Hangup(self.call_id, cause=cause, q850=q850(cause), detail=body.strip())]
        return []   # the channel's own CHANNEL_HANGUP_COMPLETE follows with the cause

    def lost(self, detail: str = "connection to FreeSWITCH lost") -> list:
        """The call could not be found again after the connection dropped."""
        if self.hungup:
            return []
        self.hungup = True
        return [ev.Hangup(self.call_id, cause=SWITCH_LOST, q850=0, detail=detail)]

    def force_hangup(self, cause: str, detail: str = "") -> list:
        if self.hungup:
            return []
        self.hungup = True
        return [ev.Hangup(self.call_id, cause=cause, q850=q850(cause), detail=detail)]

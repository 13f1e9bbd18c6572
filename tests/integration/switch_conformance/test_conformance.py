"""What every switch backend must do, the same cases for each (lines.py says how each backend
is driven): the software line, FreeSWITCH (ESL emulator) and Asterisk (AMI emulator).

Each outcome is also taken through faxd's result building and retry policy to the job state it
must end in, so no backend needs a special case above the seam.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import gevent
import pytest

from faxd import routes
from faxd.outbound.results import build_tx_result
from faxd.retry import RetryPolicy
from faxd.spandsp import probe_tiff
from faxd.switch import causes
from faxd.switch import events as ev
from faxd.switch.base import FaxOptions

from .lines import DID, collect, request


def kinds(events) -> list[str]:
    return [type(e).__name__ for e in events]


def only(events, kind):
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, kinds(events)
    return found[0]


def job_state(events, retries=3, cancelled=False) -> str:
    fax = next((e for e in events if isinstance(e, ev.FaxResult)), None)
    result = build_tx_result(fax=fax, hangup=events[-1], elapsed=1)
    return RetryPolicy().decide(retries=retries, attempts=1, result=result, now=datetime.now(timezone.utc),
                                cancelled=cancelled).status


def well_formed(events, call_id):
    """Hangup once and last; nothing after it; every event names the call."""
    assert isinstance(events[-1], ev.Hangup) and kinds(events).count("Hangup") == 1, kinds(events)
    assert all(e.call_id == call_id for e in events)
    assert len([e for e in events if isinstance(e, ev.FaxResult)]) <= 1


@pytest.mark.parametrize("t38", [False, True], ids=["audio", "t38"])
def test_send(line, t38):
    switch = line.backend()
    req = request(line.fax_number(), line.docs[3], t38="request" if t38 else "off")
    call = switch.originate(req)
    assert call.call_id == req.call_id and call.direction == "outbound"
    events = collect(call)
    well_formed(events, req.call_id)
    k = kinds(events)
    assert k.index("Answered") < k.index("Negotiated") < k.index("PageDone") < k.index("FaxResult")
    assert only(events, ev.Negotiated).t38 is t38
    pages = [e.pages for e in events if isinstance(e, ev.PageDone)]
    assert pages == sorted(pages) and pages[-1] == 3
    r = only(events, ev.FaxResult)
    assert (r.success, r.result_code, r.result_text, r.pages, r.t38) == (True, 0, "OK", 3, t38)
    assert r.bit_rate == 14400 and r.resolution == "204x196" and r.remote_station_id
    assert (events[-1].cause, events[-1].q850) == ("NORMAL_CLEARING", 16)
    assert job_state(events) == "completed"
    assert switch.find_call(req.call_id) is None          # a finished call is forgotten


@pytest.mark.parametrize("t38", [False, True], ids=["audio", "t38"])
def test_receive(line, t38, tmp_path):
    switch = line.backend()
    got = []
    path = str(tmp_path / "in.tif")

    def reception(call):
        got.append(call)
        call.answer()
        call.receive_fax(path, FaxOptions(station_id="FAXBOX 7", t38="accept"))
        got.append(collect(call))
    switch.on_incoming_call(reception)
    line.call_in(switch, t38).wait()
    with gevent.Timeout(10):
        while len(got) < 2:
            gevent.sleep(0.01)
    call, events = got
    assert (call.direction, call.to_number, call.from_number) == ("inbound", DID, "+12025550199")
    well_formed(events, call.call_id)
    k = kinds(events)
    assert k[0] == "Answered" and k.index("Negotiated") < k.index("PageDone") < k.index("FaxResult")
    r = only(events, ev.FaxResult)
    assert (r.success, r.pages, r.t38) == (True, 3, t38)
    assert r.remote_station_id in ("SENDER 1", "CALLER")
    assert probe_tiff(path).pages == 3


def test_rejected_by_the_reception(line):
    switch = line.backend()
    seen = []
    switch.on_incoming_call(lambda call: (call.reject("CALL_REJECTED"), seen.append(collect(call))))
    line.call_in(switch, False).wait()
    with gevent.Timeout(10):
        while not seen:
            gevent.sleep(0.01)
    (events,) = seen
    assert kinds(events)[-1] == "Hangup"
    assert not any(isinstance(e, (ev.Answered, ev.Negotiated, ev.FaxResult)) for e in events)


FAILURES = {
    # failure class: (hangup causes a switch may give, T.30 code or None, pages, job state with 3 retries)
    "busy": ({"USER_BUSY"}, None, 0, "pending"),
    "no_answer": ({"NO_ANSWER"}, None, 0, "pending"),
    "rejected": ({"CALL_REJECTED"}, None, 0, "pending"),
    "unallocated": ({"UNALLOCATED_NUMBER"}, None, 0, "failed"),
    "not_fax": ({"NORMAL_CLEARING"}, 2, 0, "pending"),
    "dropped": ({"NORMAL_CLEARING"}, 49, 1, "pending"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failure(line, failure):
    switch = line.backend()
    req = request(line.numbers[failure], line.docs[3], ring_timeout=0.5)
    events = collect(switch.originate(req))
    well_formed(events, req.call_id)
    want_causes, code, pages, state = FAILURES[failure]
    assert events[-1].cause in want_causes, events[-1]
    assert events[-1].q850 == causes.q850(events[-1].cause)
    results = [e for e in events if isinstance(e, ev.FaxResult)]
    if code is None:
        assert results == [] and "Answered" not in kinds(events)
    else:
        (r,) = results
        assert (r.success, r.result_code, r.pages) == (False, code, pages)
        if pages == 0:
            assert (r.resolution, r.remote_station_id) == ("", "")    # phase B never came
    assert job_state(events) == state


def test_cancel_mid_fax(line):
    switch = line.backend()
    line.hold()
    req = request(line.fax_number(), line.held_document())
    call = switch.originate(req)
    out: list = []
    line.in_progress(call, out)
    call.hangup("ORIGINATOR_CANCEL")
    line.release()
    events = out + collect(call)
    well_formed(events, req.call_id)
    assert (events[-1].cause, events[-1].q850) == ("ORIGINATOR_CANCEL", 16)
    assert not any(e.success for e in events if isinstance(e, ev.FaxResult))
    assert job_state(events, cancelled=True) == "cancelled"


def test_cancel_while_ringing(line):
    switch = line.backend()
    line.hold()
    req = request(line.numbers["no_answer"], line.docs[1], ring_timeout=30.0)
    call = switch.originate(req)
    out: list = []
    line.ringing(call, out)
    call.hangup("ORIGINATOR_CANCEL")
    events = out + collect(call, timeout=10)
    well_formed(events, req.call_id)
    assert events[-1].cause == "ORIGINATOR_CANCEL"
    assert not any(isinstance(e, (ev.Answered, ev.FaxResult)) for e in events)


def test_reconnect_mid_fax(connected_line):
    line = connected_line
    switch = line.backend()
    line.hold()
    req = request(line.reconnect_number(), line.docs[3])
    call = switch.originate(req)
    out: list = []
    line.in_progress(call, out)
    line.lose_connection(switch, call, out)
    line.release()
    events = out + collect(call)
    well_formed(events, req.call_id)
    assert kinds(events).count("SwitchLost") == 1
    r = only(events, ev.FaxResult)
    assert r.success and r.pages == 3
    assert events[-1].cause == "NORMAL_CLEARING" and job_state(events) == "completed"


def test_find_call_after_restart(line):
    first = line.backend()
    line.hold()
    req = request(line.fax_number(), line.held_document())
    call = first.originate(req)
    line.in_progress(call, [])
    first.stop()                                   # faxd goes away mid-call
    second = line.backend()
    again = second.find_call(req.call_id)
    assert second.find_call("no-such-call") is None
    if not line.calls_survive_restart:
        assert again is None                        # the calls lived in the old process
        return
    assert again is not None and again.call_id == req.call_id
    line.release()
    events = collect(again)
    r = only(events, ev.FaxResult)
    assert r.success and r.pages == 3
    assert isinstance(events[-1], ev.Hangup)


@pytest.mark.parametrize("speed, ecm", [(9600, False), (14400, True)], ids=["v29-no-ecm", "v17-ecm"])
def test_route_settings_reach_the_far_end(line, speed, ecm):
    """A route's highest speed and ECM (faxd/routes.py over the job's options) become each
    backend's own settings (the software line's spandsp, mod_spandsp's channel variables,
    Asterisk's FAXOPT) and the far end negotiates within them."""
    switch = line.backend()
    base = request(line.fax_number(), line.docs[1])
    opts = routes.options(base.options, {"id": "r", "prefix": "+1", "max_speed": speed, "ecm": ecm, "t38": "off"},
                          None)
    call = switch.originate(replace(base, options=opts))
    events = collect(call)
    well_formed(events, base.call_id)
    assert only(events, ev.Negotiated).t38 is False   # (Asterisk tells the rate only at the end)
    fax = only(events, ev.FaxResult)
    assert fax.success and fax.bit_rate == speed and fax.ecm is ecm

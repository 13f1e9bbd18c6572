"""AsteriskBackend through the switch seam, against the AMI emulator (real T.30 behind it).

Each failure is taken through faxd's own result building and retry policy to the job state
it must end in, so the Asterisk backend needs no special cases above the seam.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import gevent
import pytest

from faxd.config import Config
from faxd.outbound.results import build_tx_result
from faxd.retry import RetryPolicy
from faxd.spandsp import probe_tiff
from faxd.switch import events as ev
from faxd.switch.asterisk import AsteriskBackend
from faxd.switch.base import FaxOptions, OriginateRequest
from faxd.testing.ami_emulator import FarEnd

NUMBER = "+15551230001"


def make_backend(emulator, tmp_path, dial="Local/{number}@fax", secret=None, **kw) -> AsteriskBackend:
    config = Config.load(env={}, home=str(tmp_path / "home"), ami_url=(emulator.url(secret=secret),),
                         asterisk_dial=dial)
    return AsteriskBackend(config, connect_timeout=2, backoff=(0.05, 0.2), failure_grace=2, **kw)


@pytest.fixture
def backend(emulator, tmp_path):
    b = make_backend(emulator, tmp_path)
    b.start()
    assert b.wait_connected(5)
    yield b
    b.stop()


def request(fax_docs, call_id="3f9c2b1e-0000-4000-8000-000000000001", number=NUMBER, pages=3, **options):
    return OriginateRequest(call_id=call_id, job_id="job-1", to_number=number, from_number="+12025550100",
                            from_name="faxd tests", tiff_path=os.path.join(fax_docs, f"fax{pages}p.tif"),
                            options=FaxOptions(station_id="+1 202 555 0100", header="faxd tests", **options),
                            ring_timeout=30)


def collect(call, timeout=30.0) -> list:
    out = []
    with gevent.Timeout(timeout):
        while True:
            e = call.events.get()
            out.append(e)
            if isinstance(e, ev.Hangup):
                return out


def job_state(events, retries=3, cancelled=False) -> str:
    fax = next((e for e in events if isinstance(e, ev.FaxResult)), None)
    hangup = events[-1]
    result = build_tx_result(fax=fax, hangup=hangup, elapsed=1)
    return RetryPolicy().decide(retries=retries, attempts=1, result=result, now=datetime.now(timezone.utc),
                                cancelled=cancelled).status


def kinds(events) -> list[str]:
    return [type(e).__name__ for e in events]


def test_send_audio_success(backend, emulator, fax_docs):
    emulator.far_ends[NUMBER] = FarEnd("fax", station_id="REMOTE-1")
    call = backend.originate(request(fax_docs))
    events = collect(call)
    assert kinds(events) == ["Answered", "Negotiated", "PageDone", "FaxResult", "Hangup"]
    r = events[3]
    assert (r.success, r.result_code, r.result_text) == (True, 0, "OK")
    assert (r.pages, r.bit_rate, r.ecm, r.t38) == (3, 14400, True, False)
    assert (r.remote_station_id, r.resolution) == ("REMOTE-1", "204x196")
    assert events[-1].cause == "NORMAL_CLEARING"
    assert job_state(events) == "completed"
    # What faxd asked Asterisk for, as the emulator saw it.
    (orig,) = [a for a in emulator.actions if a.get("Action") == "Originate"]
    assert orig.get("Channel") == f"Local/{NUMBER}@fax"
    assert orig.get("Data").endswith("fax3p.tif,d")
    assert orig.get("ChannelId") == call.call_id
    assert "FAXOPT(headerinfo)=faxd tests" in orig.getall("Variable")
    # The far end really has the pages, and saw our station id.
    (rx,) = [p for p in os.listdir(emulator.rx_dir) if p.startswith("rx-")]
    assert probe_tiff(os.path.join(emulator.rx_dir, rx)).pages == 3
    far = [c for c in emulator.all_channels if c.name.endswith(";2")][0]
    assert far.fax_details["REMOTESTATIONID"] == "+1 202 555 0100"
    assert backend.find_call(call.call_id) is None   # forgotten after its Hangup


@pytest.mark.parametrize("t38,expect_t38,data", [("request", True, ",dz"), ("off", False, ",dF")])
def test_send_over_sip_t38_and_audio(emulator, tmp_path, fax_docs, t38, expect_t38, data):
    b = make_backend(emulator, tmp_path, dial="PJSIP/{number}@to-b")
    b.start()
    try:
        assert b.wait_connected(5)
        emulator.far_ends[NUMBER] = FarEnd("fax", station_id="REMOTE-T38")
        events = collect(b.originate(request(fax_docs, pages=1, t38=t38)))
    finally:
        b.stop()
    r = next(e for e in events if isinstance(e, ev.FaxResult))
    assert r.success and r.pages == 1 and r.t38 is expect_t38
    assert next(e for e in events if isinstance(e, ev.Negotiated)).t38 is expect_t38
    assert job_state(events) == "completed"
    (orig,) = [a for a in emulator.actions if a.get("Action") == "Originate"]
    assert orig.get("Data").endswith(data)


FAILURES = [
    # far end, dial, t38, expected (result_code or None, hangup cause, job state with 3 retries)
    ("hangup", "Local/{number}@fax", "accept", 49, "NORMAL_CLEARING", "pending"),
    ("silent", "Local/{number}@fax", "accept", 2, "NORMAL_CLEARING", "pending"),
    ("t38_refuse", "PJSIP/{number}@to-b", "request", 8, "NORMAL_CLEARING", "pending"),
    ("hangup", "PJSIP/{number}@to-b", "request", 49, "NORMAL_CLEARING", "pending"),
    ("none", "Local/{number}@fax", "accept", None, "NO_ROUTE_DESTINATION", "failed"),
]
# Busy, no answer, rejected and unallocated over a PJSIP trunk, cancel while ringing, receiving,
# reconnecting and find_call after a restart are cases of tests/integration/switch_conformance.


@pytest.mark.parametrize("kind,dial,t38,code,cause,state", FAILURES)
def test_failures_land_in_the_right_job_state(emulator, tmp_path, fax_docs, kind, dial, t38, code, cause, state):
    emulator.far_ends[NUMBER] = FarEnd(kind)
    b = make_backend(emulator, tmp_path, dial=dial)
    b.start()
    try:
        assert b.wait_connected(5)
        events = collect(b.originate(request(fax_docs, t38=t38)))
    finally:
        b.stop()
    assert isinstance(events[-1], ev.Hangup) and events[-1].cause == cause
    results = [e for e in events if isinstance(e, ev.FaxResult)]
    if code is None:
        assert results == []
        assert "Answered" not in kinds(events)
    else:
        (r,) = results
        assert (r.success, r.result_code, r.pages) == (False, code, 0)
        if kind == "t38_refuse":
            assert r.t38 and r.result_text == "error negotiating T.38"
    assert job_state(events) == state
    if kind == "t38_refuse":
        # The retry policy's answer to a failed T.38 negotiation: once more, over audio.
        fax = results[0]
        d = RetryPolicy().decide(retries=3, attempts=1, now=datetime.now(timezone.utc),
                                 result=build_tx_result(fax=fax, hangup=events[-1], elapsed=1))
        assert d.force_audio
    if state == "failed":
        assert job_state(events, retries=1) == "failed"


def test_cancel_mid_fax(backend, emulator, fax_docs):
    emulator.far_ends[NUMBER] = FarEnd("fax")
    emulator.fax_gate.clear()
    call = backend.originate(request(fax_docs))
    assert emulator.fax_started.wait(10)
    call.hangup("ORIGINATOR_CANCEL")
    events = collect(call)
    assert events[-1].cause == "ORIGINATOR_CANCEL"
    r = next(e for e in events if isinstance(e, ev.FaxResult))
    assert not r.success and r.result_code == 49
    assert [a.get("Channel") for a in emulator.actions if a.get("Action") == "Hangup"] == [
        f"Local/{NUMBER}@fax-00000000;1"]
    assert job_state(events, cancelled=True) == "cancelled"


def _receiver(received: list, options: FaxOptions, path: str):
    def handler(call):
        received.append(call)
        call.answer()
        call.receive_fax(path, options)
        call.log = collect(call)
    return handler


def test_receive_with_t38_off_stays_on_audio(backend, emulator, tmp_path):
    received: list = []
    backend.on_incoming_call(_receiver(received, FaxOptions(t38="off"), str(tmp_path / "in.tif")))
    run = emulator.incoming_call("+12025550100", t38=True).done.get(timeout=30)
    assert run.status == "SUCCESS" and run.mode == "audio"


def test_unknown_number_is_rejected(backend, emulator):
    def handler(call):
        call.reject("CALL_REJECTED")
        call.log = collect(call)
    calls = []
    backend.on_incoming_call(lambda c: (calls.append(c), handler(c)))
    inc = emulator.incoming_call("+19999999999")
    assert inc.done.get(timeout=10) is None
    hangup = [m for m in emulator.actions if m.get("Action") == "Hangup"]
    assert hangup[0].get("Cause") == "21"
    with gevent.Timeout(5):
        while not calls or not hasattr(calls[0], "log"):
            gevent.sleep(0.01)
    assert kinds(calls[0].log) == ["Hangup"] and calls[0].log[0].cause == "CALL_REJECTED"


def test_caller_hangs_up_before_faxd_decides(backend, emulator, tmp_path):
    calls = []

    def handler(call):
        calls.append(call)
        # Too late: neither raises, the Hangup is on the queue.
        call.answer()
        call.receive_fax(str(tmp_path / "never.tif"), FaxOptions())
        call.log = collect(call)
    backend.on_incoming_call(handler)
    emulator.incoming_call("+12025550100", hangup_before_decision=True).done.get(timeout=10)
    with gevent.Timeout(5):
        while not calls or not hasattr(calls[0], "log"):
            gevent.sleep(0.01)
    assert kinds(calls[0].log) == ["Hangup"]


def test_dropped_connection_mid_fax_is_survived(backend, emulator, fax_docs):
    emulator.far_ends[NUMBER] = FarEnd("fax")
    emulator.fax_gate.clear()
    call = backend.originate(request(fax_docs))
    assert emulator.fax_started.wait(10)
    emulator.drop_connections()
    with gevent.Timeout(10):
        while True:
            e = call.events.get()
            if isinstance(e, ev.SwitchLost):
                break
    with gevent.Timeout(10):
        while not backend.status()[0]["connected"]:
            gevent.sleep(0.02)
    # Reconciled: CoreShowChannels found the call, Getvar re-read its fax variables.
    assert any(a.get("Action") == "CoreShowChannels" for a in emulator.actions)
    assert any(a.get("Action") == "Getvar" and a.get("Variable") == "FAXSTATUS" for a in emulator.actions)
    emulator.fax_gate.set()
    events = collect(call)
    r = next(e for e in events if isinstance(e, ev.FaxResult))
    assert r.success and r.pages == 3
    assert job_state(events) == "completed"


def test_call_gone_while_disconnected_ends_with_switch_lost(backend, emulator, fax_docs):
    emulator.far_ends[NUMBER] = FarEnd("fax")
    emulator.fax_gate.clear()
    call = backend.originate(request(fax_docs))
    assert emulator.fax_started.wait(10)
    emulator.reject_logins = True
    emulator.drop_connections()
    with gevent.Timeout(10):
        assert isinstance(call.events.get(), (ev.Answered, ev.Negotiated, ev.SwitchLost))
    emulator.fax_gate.set()
    with gevent.Timeout(10):
        while emulator.channels:
            gevent.sleep(0.02)
    emulator.reject_logins = False
    events = collect(call)
    assert "SwitchLost" in kinds(events)
    assert events[-1].cause == "SWITCH_LOST"
    # The job is not lost: the attempt failed and the retry policy schedules another.
    assert job_state(events) == "pending"


def test_login_failure_is_reported_and_retried(emulator, tmp_path):
    b = make_backend(emulator, tmp_path, secret="wrong-secret")
    b.start()
    try:
        with gevent.Timeout(5):
            while not b.status()[0].get("error"):
                gevent.sleep(0.02)
        st = b.status()[0]
        assert st["name"] == f"asterisk 127.0.0.1:{emulator.port}"
        assert st["connected"] is False and "refused" in st["error"]
        call = b.originate(request("/nonexistent"))
        (h,) = collect(call, 5)
        assert h.cause == "NORMAL_TEMPORARY_FAILURE"
    finally:
        b.stop()


def _next(call, kind, timeout=10):
    with gevent.Timeout(timeout):
        while True:
            e = call.events.get()
            if isinstance(e, kind):
                return e


def test_live_pages_while_sending(emulator, tmp_path, fax_docs):
    """Asterisk has no per-page event: the backend polls FAXSession and reports each page as it goes."""
    emulator.far_ends[NUMBER] = FarEnd("fax")
    emulator.step_pages = True
    b = make_backend(emulator, tmp_path, progress_interval=0.02)
    b.start()
    try:
        assert b.wait_connected(5)
        call = b.originate(request(fax_docs))
        for n in (1, 2, 3):
            page = _next(call, ev.PageDone)       # T.30 is held right after page n
            assert (page.pages, page.bit_rate) == (n, 14400)
            emulator.release_page()
        result = _next(call, ev.FaxResult)
        assert result.success and result.pages == 3 and result.ecm is True
        assert isinstance(call.events.get(timeout=10), ev.Hangup)
    finally:
        b.stop()
    polls = [a for a in emulator.actions if a.get("Action") == "FAXSession"]
    assert polls and polls[0].get("SessionNumber")


def test_live_pages_while_receiving(emulator, tmp_path):
    emulator.step_pages = True
    b = make_backend(emulator, tmp_path, progress_interval=0.02)
    calls = []

    def handler(call):
        calls.append(call)
        call.answer()
        call.receive_fax(str(tmp_path / "in.tif"), FaxOptions(station_id="FAXD"))
    b.on_incoming_call(handler)
    b.start()
    try:
        assert b.wait_connected(5)
        inc = emulator.incoming_call("+12025550100")
        with gevent.Timeout(10):
            while not calls:
                gevent.sleep(0.01)
        for n in (1, 2, 3):
            assert _next(calls[0], ev.PageDone).pages == n
            emulator.release_page()
        assert inc.done.get(timeout=10).pages == 3
        assert _next(calls[0], ev.FaxResult).success
    finally:
        b.stop()


def test_two_nodes_one_takes_inbound(emulator, tmp_path):
    """Several faxd nodes on one Asterisk: the one with asterisk_inbound takes the call, the
    other leaves it alone (it neither answers nor refuses it)."""
    taker = make_backend(emulator, tmp_path)
    other_config = Config.load(env={}, home=str(tmp_path / "home2"), ami_url=(emulator.url(),),
                               asterisk_inbound=False)
    other = AsteriskBackend(other_config, connect_timeout=2, backoff=(0.05, 0.2))
    taken, ignored = [], []

    def handler(into):
        def run(call):
            into.append(call)
            call.answer()
            call.receive_fax(str(tmp_path / f"in-{len(into)}.tif"), FaxOptions())
            call.log = collect(call)
        return run
    taker.on_incoming_call(handler(taken))
    other.on_incoming_call(handler(ignored))
    taker.start()
    other.start()
    try:
        assert taker.wait_connected(5) and other.wait_connected(5)
        run = emulator.incoming_call("+12025550100").done.get(timeout=30)
        assert run.status == "SUCCESS"
        with gevent.Timeout(10):
            while not taken or not hasattr(taken[0], "log"):
                gevent.sleep(0.01)
    finally:
        taker.stop()
        other.stop()
    assert ignored == []
    assert taken[0].call_id == f"asterisk-127.0.0.1-{emulator.port}-{emulator.all_channels[-1].uniqueid}"
    assert [a.get("Action") for a in emulator.actions].count("Redirect") == 1


def test_document_asterisk_cannot_read_fails_without_retry(backend, emulator, tmp_path):
    """The spool directory not shared with Asterisk: FILE_ERROR, a document problem (41), final."""
    emulator.far_ends[NUMBER] = FarEnd("fax")
    req = request(str(tmp_path / "not-shared"))
    events = collect(backend.originate(req))
    assert kinds(events) == ["Answered", "FaxResult", "Hangup"]
    r = events[1]
    assert (r.success, r.result_code, r.result_text) == (False, 41, "error reading file")
    assert r.extra["asterisk_error"] == "FILE_ERROR"
    assert job_state(events) == "failed"


@pytest.mark.parametrize("kind,cause,state", [("fax", "NORMAL_CLEARING", "completed"),
                                              ("none", "UNALLOCATED_NUMBER", "failed"),
                                              ("busy", "USER_BUSY", "pending")])
def test_dial_through_a_site_context(emulator, tmp_path, fax_docs, kind, cause, state):
    """FAXD_ASTERISK_DIAL=Local/{number}@faxd-out, whose extension Dial()s the trunk: the trunk
    leg is a third channel, found by its Linkedid, and its cause is the call's."""
    emulator.dial_contexts["faxd-out"] = "PJSIP/{exten}@trunk"
    emulator.far_ends[NUMBER] = FarEnd(kind, station_id="VIA-TRUNK")
    b = make_backend(emulator, tmp_path, dial="Local/{number}@faxd-out")
    b.start()
    try:
        assert b.wait_connected(5)
        events = collect(b.originate(request(fax_docs, pages=1)))
    finally:
        b.stop()
    assert events[-1].cause == cause
    assert job_state(events) == state
    if kind == "fax":
        r = next(e for e in events if isinstance(e, ev.FaxResult))
        assert r.success and r.remote_station_id == "VIA-TRUNK"
    trunk = [c for c in emulator.all_channels if c.name.startswith("PJSIP/trunk")]
    assert len(trunk) == 1 and trunk[0].linkedid == emulator.all_channels[0].uniqueid

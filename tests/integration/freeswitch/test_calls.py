"""faxd's FreeSWITCH backend against the ESL emulator: real T.30 between the two legs."""
import glob
import os
import uuid

import gevent
import pytest

from faxd.switch import events as ev
from faxd.switch.base import FaxOptions, OriginateRequest

from .conftest import collect, only, tiff_pages


def request(doc, to="4930987654", **opts):
    return OriginateRequest(call_id=str(uuid.uuid4()), job_id="job-" + uuid.uuid4().hex[:8], to_number=to,
                            from_number="+4930123456", from_name="ACME Fax", tiff_path=doc,
                            options=FaxOptions(station_id="+4930123456", header="ACME Corp", **opts))


def test_send_audio_fax(emulator, backend, docs):
    emu = emulator(routes={"*": "receive"})
    be = backend(emu)
    assert be.wait_connected(5)
    assert be.status() == [{"name": f"freeswitch 127.0.0.1:{emu.address[1]}", "connected": True, "calls": 0}]
    req = request(docs["3p"])
    call = be.originate(req)
    assert call.call_id == req.call_id
    events = collect(call)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Answered", "Negotiated", "PageDone", "PageDone", "PageDone", "FaxResult", "Hangup"]
    r = only(events, ev.FaxResult)
    assert (r.success, r.result_code, r.result_text, r.pages, r.pages_total) == (True, 0, "OK", 3, 3)
    assert (r.bit_rate, r.ecm, r.t38, r.remote_station_id, r.resolution) == (14400, True, False, "FS-RECEIVER", "204x196")
    assert events[-1] == ev.Hangup(req.call_id, "NORMAL_CLEARING", 16)
    # The far end really received the pages.
    (received,) = glob.glob(os.path.join(emu.spool, "rxfax-*.tif"))
    assert tiff_pages(received) == 3
    # The originate carried our channel variables.
    v = emu.calls[0].o["variables"]
    assert v["origination_uuid"] == req.call_id and v["fax_ident"] == "%2B4930123456"
    assert v["ignore_early_media"] == "true" and v["originate_timeout"] == "60"


def test_ecm_off_and_v17_off_reach_spandsp(emulator, backend, docs):
    emu = emulator(routes={"*": "receive"})
    be = backend(emu)
    r = only(collect(be.originate(request(docs["1p"], ecm=False, v17=False, t38="off"))), ev.FaxResult)
    assert r.success and not r.ecm and r.bit_rate == 9600 and not r.t38


# Busy, no answer, rejected, not a fax and a drop mid-page are cases of
# tests/integration/switch_conformance; what is FreeSWITCH's own is an unrouted number.
@pytest.mark.parametrize("route,cause,code,pages", [
    ("unrouted", "NO_ROUTE_DESTINATION", None, 0),
])
def test_injected_failures(emulator, backend, docs, route, cause, code, pages):
    emu = emulator(routes={"5550000": route})
    be = backend(emu)
    events = collect(be.originate(request(docs["3p"], to="5550000")))
    assert events[-1].cause == cause
    results = [e for e in events if isinstance(e, ev.FaxResult)]
    if code is None:
        assert results == [] and not any(isinstance(e, ev.Answered) for e in events)
        return
    (r,) = results
    assert (r.success, r.result_code, r.pages) == (False, code, pages)
    assert r.result_text == {2: "Timed out waiting for initial communication",
                             49: "The call dropped prematurely"}[code]


def test_missing_result_event_falls_back_to_channel_variables(emulator, backend, docs):
    emu = emulator(routes={"*": "no_result"})
    be = backend(emu)
    events = collect(be.originate(request(docs["3p"])))
    r = only(events, ev.FaxResult)
    assert r.success and r.pages == 3 and r.bit_rate == 14400
    assert [type(e).__name__ for e in events][-2:] == ["FaxResult", "Hangup"]


def test_missing_file_fails_without_t30(emulator, backend, docs, tmp_path):
    emu = emulator(routes={"*": "receive"})
    be = backend(emu)
    events = collect(be.originate(request(str(tmp_path / "nonexistent.tif"))))
    assert not any(isinstance(e, (ev.Negotiated, ev.FaxResult)) for e in events)
    assert events[-1].detail == "Cannot send non-existant fax file"


def test_call_gone_while_disconnected_ends_as_switch_lost(emulator, backend, docs):
    emu = emulator(routes={"*": "drop_esl_gone:1"})
    be = backend(emu)
    events = collect(be.originate(request(docs["3p"])))
    assert isinstance(events[-2], ev.SwitchLost)
    assert events[-1].cause == "SWITCH_LOST" and "ended while" in events[-1].detail


def test_wrong_password_is_reported_and_no_call_is_placed(emulator, backend, docs):
    emu = emulator()
    be = backend(emu, password="wrong", connect_wait=0.3)
    with gevent.Timeout(5):
        while not be.nodes[0].last_error:
            gevent.sleep(0.01)
    assert "refused the password: -ERR invalid" in be.nodes[0].last_error
    assert be.status()[0]["connected"] is False
    events = collect(be.originate(request(docs["1p"])))
    assert [type(e).__name__ for e in events] == ["Hangup"]
    assert events[0].cause == "NORMAL_TEMPORARY_FAILURE" and "no FreeSWITCH connected" in events[0].detail


def test_a_stalled_client_is_cut_off_and_does_not_block_faxd(emulator, backend, docs):
    emu = emulator(routes={"*": "receive"}, queue_limit=500, lost_limit=100)
    be = backend(emu)
    import socket
    stalled = socket.create_connection(emu.address)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"auth ClueCon\n\nevent plain ALL\n\n")   # and never reads again
    assert be.wait_connected(5)
    with gevent.Timeout(5):
        while not any(s.all for s in list(emu.sessions)):
            gevent.sleep(0.01)
    batches = 0
    while any(s.all for s in list(emu.sessions)) and batches < 20:   # until the stalled listener is killed
        calls = [be.originate(request(docs["1p"], t38="request")) for _ in range(10)]
        for c in calls:
            assert only(collect(c), ev.FaxResult).success   # faxd's calls never wait for the stalled client
        batches += 1
    slow = [s for s in list(emu.sessions) if s.all]
    assert slow == []                                 # the stalled listener was killed
    assert be.nodes[0].connects == 1                  # faxd's own connection never was
    stalled.settimeout(5)
    data = b""
    while len(data) < 100:
        data += stalled.recv(100)
    stalled.close()
    assert data.startswith(b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n")


def test_a_stalled_freeswitch_blocks_neither_the_caller_nor_other_greenlets(emulator, backend, docs):
    emu = emulator(routes={"*": "receive"}, pace=0.1)
    be = backend(emu, command_timeout=0.5)
    assert be.wait_connected(5)
    emu.stall()
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(1000)])
    import time
    t0 = time.monotonic()
    call = be.originate(request(docs["1p"]))
    assert time.monotonic() - t0 < 0.05               # originate returns at once
    events = collect(call, timeout=5)
    assert [type(e).__name__ for e in events] == ["Hangup"]
    assert events[0].cause == "NORMAL_TEMPORARY_FAILURE" and "no reply to bgapi" in events[0].detail
    assert len(ticks) > 20                             # the hub kept running meanwhile
    ticker.kill()
    emu.resume()                                       # the late originate runs; faxd kills that channel
    with gevent.Timeout(5):
        while not emu.calls:
            gevent.sleep(0.01)
    assert emu.wait_idle(10)
    assert emu.calls[0].kill_cause == "NORMAL_TEMPORARY_FAILURE"


def test_two_freeswitch_nodes_share_the_calls(emulator, docs, tmp_path):
    from faxd.config import Config
    from faxd.switch.freeswitch.backend import FreeSwitchBackend
    one, two = emulator(routes={"*": "receive"}), emulator(routes={"*": "receive"}, password="other")
    config = Config.load(path=None, env={}, home=str(tmp_path / "h"), esl_url=f"{one.url},{two.url}",
                         esl_listen="127.0.0.1:0")
    be = FreeSwitchBackend(config, backoff=(0.05, 0.5))
    be.start()
    try:
        assert be.wait_connected(5)
        assert [s["connected"] for s in be.status()] == [True, True]
        calls = [be.originate(request(docs["1p"], t38="request")) for _ in range(6)]
        results = [only(collect(c), ev.FaxResult) for c in calls]
        assert all(r.success for r in results)
        assert len(one.calls) >= 1 and len(two.calls) >= 1 and len(one.calls) + len(two.calls) == 6
        two.stop()                                    # one node goes away: the other carries on
        with gevent.Timeout(5):
            while be.status()[1]["connected"]:
                gevent.sleep(0.01)
        r = only(collect(be.originate(request(docs["1p"], t38="request"))), ev.FaxResult)
        assert r.success and len(one.calls) + len(two.calls) == 7
    finally:
        be.stop()


def test_freeswitch_on_another_host_fetches_the_tiff_over_http(emulator, backend, docs):
    import urllib.error
    import urllib.request
    emu = emulator(routes={"*": "receive"})
    be = backend(emu, spool_http_listen=("127.0.0.1", 0))
    req = request(docs["3p"])
    events = collect(be.originate(req))
    r = only(events, ev.FaxResult)
    assert r.success and r.pages == 3
    call = emu.calls[0]
    url = call.arg.split("&txfax(${http_get(", 1)[1].rsplit(")}", 1)[0]
    assert url.startswith(f"http://127.0.0.1:{be.spool_server.address[1]}/spool/") and url.endswith(".tif")
    assert call.fetched and call.fetched != req.tiff_path        # txfax read FreeSWITCH's own copy
    assert open(call.fetched, "rb").read() == open(req.tiff_path, "rb").read()
    assert be.spool_server.hits == 1
    with pytest.raises(urllib.error.HTTPError) as e:             # the URL dies with the call
        urllib.request.urlopen(url, timeout=5)
    assert e.value.code == 404


def test_freeswitch_restart_reconnects_and_fails_calls_it_forgot(emulator, backend, docs):
    first = emulator(routes={"*": "receive"}, pace=0.2)
    be = backend(first)
    assert be.wait_connected(5)
    call = be.originate(request(docs["1p"]))
    with gevent.Timeout(10):
        while not isinstance(call.events.get(), ev.Answered):
            pass
    port = first.address[1]
    first.stop()                                       # FreeSWITCH goes down with the call
    second = emulator(routes={"*": "receive"}, port=port)
    events = collect(call)
    assert isinstance(events[0], ev.SwitchLost)
    assert events[-1].cause == "SWITCH_LOST"           # the new FreeSWITCH has no such channel
    assert be.nodes[0].connects == 2
    r = only(collect(be.originate(request(docs["1p"], t38="request"))), ev.FaxResult)
    assert r.success and len(second.calls) == 1

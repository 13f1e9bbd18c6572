"""On-net faxes: faxd sends to one of its own numbers and Asterisk routes the call back into
faxd-inbound on the same AMI connection, so faxd sends on one channel and receives on another
of the same call tree (the Local pair shares the outbound call's Linkedid)."""
from __future__ import annotations

import gevent
import pytest

from faxd.spandsp import probe_tiff
from faxd.switch import events as ev
from faxd.switch.base import FaxOptions
from tests.integration.asterisk.test_backend import collect, kinds, make_backend, request

OWN = "+12025550100"


def _receive_into(path: str, options: FaxOptions, calls: list):
    def handler(call):
        calls.append(call)
        call.answer()
        call.receive_fax(path, options)
        call.log = collect(call)
    return handler


def _wait_log(calls, timeout=20):
    with gevent.Timeout(timeout):
        while not calls or not hasattr(calls[0], "log"):
            gevent.sleep(0.01)
    return calls[0]


# (dial string, what the emulator's site dialplan does, T.38 expected with "request")
LOOPS = {
    # ;2 of the Local pair runs faxd-inbound itself: audio only (neither half has a T.38 peer).
    "local-goto": ("Local/{number}@from-internal", False),
    # ;2 Dial()s the SIP loop to-b -> from-a, whose context is faxd-inbound: T.38 passes.
    "local-dial-sip": ("Local/{number}@onnet", True),
}


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("t38", ["accept", "request"])
def test_onnet_fax_is_sent_and_received(emulator, tmp_path, fax_docs, loop, t38):
    dial, t38_passes = LOOPS[loop]
    emulator.goto_contexts.add("from-internal")
    emulator.dial_contexts["onnet"] = "PJSIP/{exten}@to-b"
    emulator.endpoint_contexts["from-a"] = "faxd-inbound"
    b = make_backend(emulator, tmp_path, dial=dial)
    calls: list = []
    path = str(tmp_path / "in.tif")
    b.on_incoming_call(_receive_into(path, FaxOptions(station_id="FAXD-RX", t38="accept"), calls))
    b.start()
    try:
        assert b.wait_connected(5)
        out = collect(b.originate(request(fax_docs, number=OWN, pages=3, t38=t38)), timeout=60)
        inbound = _wait_log(calls)
    finally:
        b.stop()
    sent = next(e for e in out if isinstance(e, ev.FaxResult))
    got = next(e for e in inbound.log if isinstance(e, ev.FaxResult))
    assert sent.success and sent.pages == 3, sent
    assert got.success and got.pages == 3, got
    assert probe_tiff(path).pages == 3
    # ReceiveFAX asks for T.38 itself on a T.38 channel, whatever the sender's option.
    expect_t38 = t38_passes
    assert sent.t38 is expect_t38 and got.t38 is expect_t38
    assert got.remote_station_id == "+1 202 555 0100" and sent.remote_station_id == "FAXD-RX"
    assert (out[-1].cause, inbound.log[-1].cause) == ("NORMAL_CLEARING", "NORMAL_CLEARING")
    assert inbound.to_number == OWN and inbound.direction == "inbound"
    receiver = inbound.uniqueid
    chans = {c.uniqueid: c for c in emulator.all_channels}
    if loop == "local-goto":
        # The channel faxd received on is the ;2 half, linked to the outbound call.
        assert receiver == out[0].call_id + ";2"
        assert chans[receiver].linkedid == out[0].call_id
        assert chans[receiver].name.endswith(";2")


def test_onnet_fax_to_an_unknown_number_of_ours_is_refused(emulator, tmp_path, fax_docs):
    """The inbound leg is refused (CALL_REJECTED): the sending side ends with that cause."""
    emulator.goto_contexts.add("from-internal")
    b = make_backend(emulator, tmp_path, dial="Local/{number}@from-internal")
    calls: list = []

    def refuse(call):
        calls.append(call)
        call.reject("CALL_REJECTED")
        call.log = collect(call)
    b.on_incoming_call(refuse)
    b.start()
    try:
        assert b.wait_connected(5)
        out = collect(b.originate(request(fax_docs, number="+12025550177", pages=1)))
        _wait_log(calls)
    finally:
        b.stop()
    assert kinds(out) == ["Hangup"] and out[-1].cause == "CALL_REJECTED"


@pytest.mark.parametrize("dial,t38", [("Local/{number}@from-internal", False), ("Local/{number}@onnet", True)],
                         ids=["audio", "t38"])
def test_faxbox_to_faxbox_through_a_local_loop(config, store, emulator, tmp_path, dial, t38):
    """faxd's real composition: a job from one faxbox to another faxbox's number completes
    with every page sent, and the other faxbox's inbox has the fax with the same page count."""
    from tests.integration.asterisk.test_engine import asterisk
    from tests.integration.engine.harness import TEXT, job_doc, running, wait_final
    emulator.goto_contexts.add("from-internal")
    emulator.dial_contexts["onnet"] = "PJSIP/{exten}@to-b"
    emulator.endpoint_contexts["from-a"] = "faxd-inbound"
    acct = store.create_account("acme")
    media = {"media": {"fax_option": True}} if t38 else {}
    sender = store.create_faxbox(acct.account_id, {"name": "Sales", "caller_id": "+12025550100",
                                                   "numbers": ["+12025550100"], **media}, "fax.test")
    target = store.create_faxbox(acct.account_id, {"name": "Billing", "caller_id": "+12025550111",
                                                   "numbers": ["+12025550111"], **media}, "fax.test")
    with running(asterisk(config, emulator, tmp_path).replace(asterisk_dial=dial)):
        with gevent.Timeout(10):
            while not any(s.logged_in for s in emulator.sessions):
                gevent.sleep(0.02)
        docs = [(TEXT, "text/plain", f"page{i}.txt") for i in (1, 2, 3)]
        job_id = store.enqueue_job(acct.account_id, job_doc("+12025550111"), documents=docs,
                                   faxbox_id=sender["id"])["id"]
        job = wait_final(store, acct.account_id, [job_id], timeout=90)[job_id]
        with gevent.Timeout(20):
            while True:
                with store.transaction() as cur:
                    cur.execute("SELECT id FROM inbox WHERE faxbox_id = %s", (target["id"],))
                    rows = cur.fetchall()
                if rows:
                    break
                gevent.sleep(0.1)
    assert job["status"] == "completed", job["tx_result"]
    tx = job["tx_result"]
    assert tx["pages_sent"] == job["page_count"] == 3
    assert tx["t38_used"] is t38
    fax = store.get_inbox_fax(acct.account_id, rows[0]["id"])
    rx = fax["rx_result"]
    assert rx["success"] is True and rx["pages_sent"] == 3 and fax["page_count"] == 3
    assert rx["pages_total"] == tx["pages_total"] == 3
    assert rx["t38_used"] is t38
    assert (fax["from_number"], fax["to_number"]) == ("+12025550100", "+12025550111")


def test_emulator_speaks_the_derived_onnet_traffic(tmp_path):
    """The stored derivation is what the emulator says today, channel by channel (the order
    between the two halves' events is a race in Asterisk, as between two threads)."""
    from faxd.switch.asterisk.ami import parse_stream
    from tests.integration.asterisk.derive_onnet import DERIVED, derive
    from tests.integration.asterisk.traffic import Normalizer, read

    def per_channel(data: bytes, actions: bool = False) -> dict:
        _, msgs = parse_stream(data, expect_banner=not actions)
        n = Normalizer("TX/", "RX/")
        out: dict = {}
        for m in msgs:
            key = m.get("Action") if actions else (m.uniqueid or m.event or "response")
            out.setdefault(key, []).append(n.message(m))
        return out
    sent, received = derive(str(tmp_path))
    assert per_channel(sent) == per_channel(read(DERIVED + ".ami.txt"))
    assert per_channel(received, True) == per_channel(read(DERIVED + ".client-sent.txt"), True)

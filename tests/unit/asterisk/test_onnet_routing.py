"""The derived traffic of an on-net fax through a Local loop, routed by the backend.

``tests/data/asterisk/derived-onnet-local-loop.ami.txt`` (derived from Asterisk's source and
documentation, not recorded: see the README there) is fed event by event into
``AsteriskBackend``'s router, as its AMI reader would: the ``;2`` half carries the outbound
call's ``Linkedid`` and must become an inbound call of its own, while the ``;1`` half's
events stay with the outbound call.
"""
from __future__ import annotations

import os

import gevent

from faxd.config import Config
from faxd.switch import events as ev
from faxd.switch.asterisk import AsteriskBackend
from faxd.switch.asterisk.ami import parse_stream
from faxd.switch.asterisk.backend import AsteriskCall

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "asterisk")
DERIVED = os.path.join(DATA, "derived-onnet-local-loop.ami.txt")
CALL_ID = "5e0c4d2a-7f1b-4c3e-9a55-0d1e2f3a4b5c"


def drain(call) -> list:
    out = []
    while not call.events.empty():
        out.append(call.events.get())
    return out


def test_linked_inbound_leg_is_taken_and_kept_apart(tmp_path):
    with open(DERIVED, "rb") as f:
        _, msgs = parse_stream(f.read())
    incoming = next(m for m in msgs if m.get("UserEvent") == "FaxdIncoming")
    assert incoming.get("Channel").endswith(";2") and incoming.linkedid == CALL_ID != incoming.uniqueid
    config = Config.load(env={}, home=str(tmp_path), ami_url=("ami://faxd:faxd@127.0.0.1:5038",))
    backend = AsteriskBackend(config, progress_interval=0)
    link = backend._links[0]
    outbound = AsteriskCall(backend, link, CALL_ID, "outbound", CALL_ID, to_number="+12025550100")
    backend._calls[CALL_ID] = outbound
    backend._by_uid[CALL_ID] = outbound
    taken = []
    backend.on_incoming_call(taken.append)
    for m in msgs:
        if m.is_event:
            backend._on_event(link, m)
    gevent.sleep(0)
    (inbound,) = taken
    assert (inbound.direction, inbound.uniqueid, inbound.to_number) == ("inbound", CALL_ID + ";2", "+12025550100")
    got, sent = drain(inbound), drain(outbound)
    assert [type(e).__name__ for e in got] == ["Answered", "Negotiated", "PageDone", "FaxResult", "Hangup"]
    assert [type(e).__name__ for e in sent] == ["Answered", "Negotiated", "PageDone", "FaxResult", "Hangup"]
    rx, tx = got[3], sent[3]
    assert rx.success and rx.pages == 3 and rx.extra["result_event"] == "ReceiveFAX"
    assert tx.success and tx.pages == 3 and tx.extra["result_event"] == "SendFAX"
    assert isinstance(sent[-1], ev.Hangup) and sent[-1].cause == "NORMAL_CLEARING"
    # The ;2 half's events went to the inbound call only: nothing of it is a cause of the outbound.
    assert outbound.translator.linked_causes == []
    assert backend._calls == {} and backend._by_uid == {}

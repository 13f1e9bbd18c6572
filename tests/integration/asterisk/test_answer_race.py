"""Answering an inbound call without racing Asterisk's Redirect.

A Redirect is an async goto: it sets the channel's soft-hangup flag until the channel's
dialplan thread acts on it, and ``action_redirect`` (main/manager.c) refuses every Redirect
to a channel with that flag set. faxd's decision is therefore one Redirect, after its
variables.
"""
from __future__ import annotations

import gevent
import pytest

from faxd.switch.asterisk.ami import ActionFailed, AMIConnection
from faxd.switch.base import FaxOptions
from tests.integration.asterisk.test_backend import backend, collect, kinds  # noqa: F401 (fixture)


def _wait_user_event(events, name="FaxdIncoming", timeout=10):
    with gevent.Timeout(timeout):
        while True:
            for e in events:
                if e.event == "UserEvent" and e.get("UserEvent") == name:
                    return e
            gevent.sleep(0.01)


def test_emulator_refuses_a_redirect_while_one_is_pending(emulator):
    """As Asterisk does: the second Redirect before the first is acted on is refused."""
    events = []
    conn = AMIConnection.connect("127.0.0.1", emulator.port, "faxd", "faxd", on_event=events.append)
    try:
        inc = emulator.incoming_call("+12025550100")
        chan = _wait_user_event(events).get("Channel")
        conn.action("Redirect", [("Channel", chan), ("Context", "faxd-control"), ("Exten", "answer"),
                                 ("Priority", "1")])
        with pytest.raises(ActionFailed) as refused:
            conn.action("Redirect", [("Channel", chan), ("Context", "faxd-control"), ("Exten", "receive"),
                                     ("Priority", "1")])
        assert refused.value.response.get("Message") == "Redirect failed, channel not up."
        # Once the channel has moved on (Newexten into the target), a Redirect goes through.
        with gevent.Timeout(5):
            while not any(e.event == "Newexten" and e.get("Exten") == "answer" and e.get("Application") == "Wait"
                          for e in events):
                gevent.sleep(0.01)
        conn.action("Hangup", [("Channel", chan), ("Cause", "16")])
        with pytest.raises(ActionFailed) as unknown:
            conn.action("Redirect", [("Channel", "PJSIP/nosuch-00000000"), ("Context", "faxd-control"),
                                     ("Exten", "receive"), ("Priority", "1")])
        assert unknown.value.response.get("Message") == "Channel does not exist: PJSIP/nosuch-00000000"
        assert inc.done.get(timeout=10) is None
    finally:
        conn.close()


@pytest.mark.parametrize("t38", [False, True])
def test_reception_is_one_redirect_after_its_variables(backend, emulator, tmp_path, t38):
    """answer() + receive_fax(): the Setvars, then exactly one Redirect (to receive), accepted;
    the call is answered and received, never left to the dialplan's cause 41."""
    received: list = []
    seen = []
    watcher = AMIConnection.connect("127.0.0.1", emulator.port, "faxd", "faxd", on_event=seen.append)

    def handler(call):
        received.append(call)
        call.answer()
        call.receive_fax(str(tmp_path / "in.tif"), FaxOptions(station_id="FAXD-RX"))
        call.log = collect(call)
    backend.on_incoming_call(handler)
    try:
        run = emulator.incoming_call("+12025550100", t38=t38).done.get(timeout=30)
        with gevent.Timeout(10):
            while not received or not hasattr(received[0], "log"):
                gevent.sleep(0.01)
    finally:
        watcher.close()
    assert run is not None and run.status == "SUCCESS" and run.pages == 3
    assert kinds(received[0].log) == ["Answered", "Negotiated", "PageDone", "FaxResult", "Hangup"]
    control = [a for a in emulator.actions if a.get("Action") in ("Setvar", "Redirect")]
    assert [a.get("Action") for a in control] == ["Setvar"] * 4 + ["Redirect"]
    assert (control[-1].get("Context"), control[-1].get("Exten")) == ("faxd-control", "receive")
    # The dialplan answered in faxd-control,receive, then ran ReceiveFAX.
    steps = [(m.get("Exten"), m.get("Application")) for m in seen
             if m.event == "Newexten" and m.uniqueid == received[0].uniqueid]
    assert steps[-3:] == [("receive", "Answer"), ("receive", "ReceiveFAX"), ("receive", "Hangup")]

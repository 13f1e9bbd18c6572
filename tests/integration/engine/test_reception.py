"""Receptions through the router: failures leave an inbox-error record and a notification;
unknown numbers are rejected."""
import json
import os

import gevent

from faxd.documents import DocumentPipeline
from faxd.inbound.router import InboundRouter
from faxd.switch.base import FaxOptions, OriginateRequest
from faxd.switch.events import Hangup
from faxd.switch.software import SoftwareSwitch


def _stack(config, store):
    config = config.replace(originate_timeout=5, negotiate_timeout=20)
    switch = SoftwareSwitch(config, lambda n: store.faxbox_for_number(n) is not None)
    router = InboundRouter(config=config, store=store, pipeline=DocumentPipeline(config), switch=switch,
                           node="test-node", switch_name="software")
    router.start()
    switch.start()
    return switch, router


def _call(switch, to, tiff_path):
    call = switch.originate(OriginateRequest(call_id=os.urandom(8).hex(), job_id="j", to_number=to,
                                             from_number="+12025550199", from_name="Sender",
                                             tiff_path=tiff_path, options=FaxOptions(station_id="SENDER")))
    with gevent.Timeout(60):
        while True:
            ev = call.events.get()
            if isinstance(ev, Hangup):
                return ev


def test_failed_reception_leaves_an_error_record_and_a_notification(config, store, tmp_path):
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with store.transaction() as cur:
        cur.execute("UPDATE faxboxes SET notifications = %s WHERE id = %s",
                    (json.dumps({"inbound": {"email": {"send_to": ["ops@example.com"]}}}), boot.faxbox_id))
    switch, router = _stack(config.replace(spool_dir=str(tmp_path / "spool")), store)
    try:
        _call(switch, "+12025550100", str(tmp_path / "missing.tif"))  # the sender has no document
        with gevent.Timeout(20):
            while True:
                with store.transaction() as cur:
                    cur.execute("SELECT id, status, rx_result FROM inbox WHERE account_id = %s", (boot.account_id,))
                    rows = cur.fetchall()
                if rows:
                    break
                gevent.sleep(0.05)
    finally:
        switch.stop()
    (row,) = rows
    assert row["status"] == "failed"
    assert row["rx_result"]["success"] is False and row["rx_result"]["error_message"]
    assert store.list_documents(inbox_id=row["id"]) == []
    notes = store.list_notifications(inbox_id=row["id"])
    assert [(n["channel"], n["event"], n["target"]) for n in notes] == [("email", "inbound_failure", "ops@example.com")]
    with store.transaction() as cur:
        cur.execute("SELECT count(*) AS n FROM incoming_calls")
        assert cur.fetchone()["n"] == 0, "the live row goes when the call ends"


def test_unknown_number_is_rejected(config, store, tmp_path):
    switch = SoftwareSwitch(config, lambda n: True)  # the switch routes it here; no faxbox owns it
    router = InboundRouter(config=config, store=store, pipeline=DocumentPipeline(config), switch=switch,
                           node="test-node", switch_name="software")
    router.start()
    switch.start()
    try:
        hangup = _call(switch, "+12025550177", str(tmp_path / "x.tif"))
    finally:
        switch.stop()
    assert hangup.cause == "UNALLOCATED_NUMBER"
    assert router.rejected_unknown == 1

"""The live event stream against a real faxd: order, resume with Last-Event-ID, isolation."""
from __future__ import annotations

import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from faxd.store import PostgresStore
from tests.integration.foundation.daemon import FaxdProcess
from tests.integration.foundation.daemon import database_url as _url
from tests.integration.foundation.fax_client import FaxClient
from tests.integration.operator.sse import Stream

REMOTE = "+12025550188"       # the software switch's built-in remote fax machine


def _events_url(faxd, account_id=None):
    return f"{faxd.base_url}/v2/accounts/{account_id or faxd.bootstrap['account_id']}/faxes/events"


def _token(client: FaxClient) -> str:
    return client.headers["X-Auth-Token"]


def _done(fax_id):
    return lambda ev: ev.get("data", {}).get("fax_id") == fax_id and ev["event"] in ("completed", "failed")


def test_a_fax_events_arrive_in_order_with_increasing_ids(faxd):
    stream = Stream(_events_url(faxd), _token(faxd.client))
    assert stream.status == 200
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    fax_id = faxd.client.send_text(REMOTE)
    events = [e for e in stream.until(_done(fax_id)) if e["data"]["fax_id"] == fax_id]
    stream.close()
    kinds = [e["event"] for e in events]
    pages = [e["data"]["data"]["page"] for e in events if e["event"] == "page"]
    assert kinds[:4] == ["queued", "prepared", "dialing", "answered"], kinds
    assert kinds[4] == "negotiated" and kinds[-1] == "completed", kinds
    assert pages == list(range(1, len(pages) + 1)) and pages, kinds
    negotiated = events[4]["data"]["data"]
    assert negotiated["fax_speed"] >= 9600 and negotiated["remote_station_id"]
    done = events[-1]["data"]["data"]
    assert done["pages_sent"] == len(pages) and done["result_code"] == 0
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))
    assert all(e["data"]["id"] == e["id"] and e["data"]["account_id"] == faxd.bootstrap["account_id"]
               for e in events)


def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(faxd):
    token = _token(faxd.client)
    whole = Stream(_events_url(faxd), token)           # stays connected: the reference
    first = Stream(_events_url(faxd), token, query_token=True)
    fax_ids = [faxd.client.send_text(REMOTE) for _ in range(2)]
    got = [first.next() for _ in range(3)]             # then drop the connection mid-fax
    first.close()
    time.sleep(0.5)                                    # events keep coming while disconnected
    resumed = Stream(_events_url(faxd), token, last_event_id=got[-1]["id"])
    done = set()

    def both_done(ev):
        if ev["event"] in ("completed", "failed"):
            done.add(ev["data"]["fax_id"])
        return done == set(fax_ids)
    got += resumed.until(both_done)
    done.clear()
    reference = whole.until(both_done)
    resumed.close()
    whole.close()
    assert [e["id"] for e in got] == [e["id"] for e in reference]
    assert len({e["id"] for e in got}) == len(got)


def test_another_account_sees_none_of_them_and_only_a_super_admin_reads_every_account(faxd, dsn):
    store = PostgresStore(dsn, 1)
    try:
        other = store.create_account("other")
    finally:
        store.close()
    other_client = FaxClient(faxd.base_url, other.account_id, other.api_key)
    theirs = Stream(_events_url(faxd, other.account_id), _token(other_client))
    assert theirs.status == 200
    everything = Stream(faxd.base_url + "/v2/events", _token(faxd.client))
    assert everything.status == 200
    fax_id = faxd.client.send_text(REMOTE)
    assert everything.until(_done(fax_id))
    # The other account's stream stays silent but alive: heartbeats only.
    after = time.monotonic() + 1.5      # a heartbeat (every second here) sent after the fax ended
    while True:
        ev = theirs.next(comments=True)
        assert ev is not None and "comment" in ev, f"another account's event leaked: {ev}"
        if ev["comment"] == "heartbeat" and time.monotonic() > after:
            break
    theirs.close()
    everything.close()
    # Not a super-admin: /v2/events is 403, the bootstrap account's stream does not exist.
    h = {"X-Auth-Token": _token(other_client)}
    r = requests.get(faxd.base_url + "/v2/events", headers=h, timeout=10)
    assert r.status_code == 403, r.text
    r = requests.get(_events_url(faxd), headers=h, timeout=10)
    assert r.status_code == 404, r.text
    r = requests.get(_events_url(faxd), timeout=10)
    assert r.status_code == 401
    r = requests.get(_events_url(faxd), headers={"X-Auth-Token": _token(faxd.client), "Last-Event-ID": "x1"},
                     timeout=10)
    assert r.status_code == 400 and "Last-Event-ID" in r.text


def _node_of(base_url: str) -> str:
    """The node id of a faxd, from its faxd_switch_connected gauge."""
    text = requests.get(base_url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "faxd_switch_connected":
            return family.samples[0].labels["node"]
    raise AssertionError("no faxd_switch_connected in /metrics")


def test_switch_connections_going_up_and_down_reach_the_all_accounts_stream(faxd, tmp_path, dsn):
    everything = Stream(faxd.base_url + "/v2/events", _token(faxd.client), last_event_id=0)
    assert everything.status == 200
    mine = _node_of(faxd.base_url)
    up = everything.until(lambda ev: ev["event"] == "switch_connected" and ev["data"]["data"]["node"] == mine)
    assert up[-1]["data"]["data"] == {"switch": "software", "node": mine}
    assert up[-1]["data"]["account_id"] is None

    other = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": str(tmp_path / "b")}).wait_ready()
    try:
        theirs = _node_of(other.base_url)
        everything.until(lambda ev: ev["event"] == "switch_connected" and ev["data"]["data"]["node"] == theirs)
    finally:
        other.stop()
    down = everything.until(lambda ev: ev["event"].startswith("switch_") and ev["data"]["data"]["node"] == theirs)
    assert down[-1]["event"] == "switch_disconnected"
    # An account's own stream carries no switch events (they belong to no account).
    own = Stream(_events_url(faxd), _token(faxd.client), last_event_id=0)
    fax_id = faxd.client.send_text(REMOTE)
    assert not [e for e in own.until(_done(fax_id)) if e["event"].startswith("switch_")]
    everything.close()
    own.close()

"""The fan-out process (python -m faxd.fanout) that writes the event streams: killed, it is
started again, and its clients resume with Last-Event-ID missing nothing."""
from __future__ import annotations

import os
import signal
import time

import psycopg2
import requests

from tests.integration.foundation.daemon import FaxdProcess
from tests.integration.foundation.daemon import database_url as _url
from tests.integration.foundation.fax_client import FaxClient
from tests.integration.operator.sse import Stream

REMOTE = "+12025550188"


def fanout_pid(faxd_pid: int) -> int | None:
    for task in os.listdir(f"/proc/{faxd_pid}/task"):
        with open(f"/proc/{faxd_pid}/task/{task}/children") as f:
            for child in f.read().split():
                try:
                    with open(f"/proc/{child}/cmdline", "rb") as c:
                        if b"faxd.fanout" in c.read():
                            return int(child)
                except FileNotFoundError:
                    pass
    return None


def account_event_ids(dsn: str, account_id: str, after: int, upto: int) -> list[int]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM events WHERE account_id = %s AND id > %s AND id <= %s ORDER BY id",
                        (account_id, after, upto))
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _done(fax_id):
    return lambda ev: ev.get("data", {}).get("fax_id") == fax_id and ev["event"] in ("completed", "failed")


def test_a_killed_fanout_process_is_restarted_and_its_clients_resume_missing_nothing(faxd, dsn):
    account = faxd.bootstrap["account_id"]
    url = f"{faxd.base_url}/v2/accounts/{account}/faxes/events"
    token = faxd.client.headers["X-Auth-Token"]
    first_pid = fanout_pid(faxd.proc.pid)
    assert first_pid is not None, "faxd runs no fan-out process"
    # The stream is written by that process at a lower priority, not by faxd.
    assert os.getpriority(os.PRIO_PROCESS, first_pid) == \
        min(19, os.getpriority(os.PRIO_PROCESS, faxd.proc.pid) + 10)

    stream = Stream(url, token)
    assert stream.status == 200
    one = faxd.client.send_text(REMOTE)
    got = stream.until(_done(one))
    start = got[0]["id"] - 1

    os.kill(first_pid, signal.SIGKILL)
    assert stream.next() is None          # the connection closed with the process
    stream.close()
    two = faxd.client.send_text(REMOTE)   # its events happen while no fan-out process runs

    deadline = time.monotonic() + 30
    while (pid := fanout_pid(faxd.proc.pid)) in (None, first_pid):
        assert time.monotonic() < deadline, "the fan-out process was not started again"
        time.sleep(0.1)
    resumed = Stream(url, token, last_event_id=got[-1]["id"])
    assert resumed.status == 200
    got += resumed.until(_done(two))
    resumed.close()

    ids = [e["id"] for e in got]
    assert ids == sorted(set(ids)), "an event twice or out of order"
    assert ids == account_event_ids(dsn, account, start, ids[-1]), "an event missed"
    deadline = time.monotonic() + 10
    while requests.get(faxd.base_url + "/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "/health did not recover"
        time.sleep(0.1)


def test_the_per_address_connection_cap_holds_for_streams_in_the_fanout_process(tmp_path, dsn):
    node = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": str(tmp_path / "cap"),
                        "FAXD_HTTP_MAX_CONNECTIONS_PER_CLIENT": "3"}).wait_ready()
    try:
        client = FaxClient(node.base_url, node.bootstrap["account_id"], node.bootstrap["api_key"])
        url = f"{node.base_url}/v2/accounts/{node.bootstrap['account_id']}/faxes/events"
        token = client.headers["X-Auth-Token"]
        streams = [Stream(url, token) for _ in range(3)]
        assert [s.status for s in streams] == [200, 200, 200]
        assert all(s.next(comments=True) for s in streams)   # each is being written
        refused = Stream(url, token)
        assert refused.status == 503 and "too many event streams" in refused.response.text
        # Handed-over streams left faxd's own count: other requests still go through.
        assert requests.get(node.base_url + "/health", timeout=5).status_code == 200
        streams.pop().close()
        deadline = time.monotonic() + 10
        while (again := Stream(url, token)).status != 200:   # once the fan-out process saw it close
            again.close()
            assert time.monotonic() < deadline, "the closed stream was never counted off"
            time.sleep(0.2)
        again.close()
        for s in streams:
            s.close()
    finally:
        node.stop()

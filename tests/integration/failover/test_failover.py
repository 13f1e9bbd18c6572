"""PostgreSQL failover under a running faxd, for real: a primary and a synchronous streaming
standby (Debian's binaries), faxd on the multi-host URL, faxes on the line, the primary
SIGKILLed mid-run and the standby promoted.

Must hold: every fax acknowledged before the kill is there after the promotion and ends in a
final state; no attempt is dialled twice and no fax's pages go out twice (attempt records and
faxd's own "originate" log lines);
the API answers 503 with Retry-After (a precise body, never a 500) while no primary is
reachable; and the same faxd process serves again afterwards, without a restart.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections import Counter

import psycopg2
import psycopg2.extras
import pytest
import requests

from tests.integration.failover.replication import FaxdNode, ReplicatedCluster
from tests.integration.foundation.fax_client import FINAL, FaxClient


FAXES_BEFORE = 8          # submitted before the kill
FAXES_AFTER = 2           # submitted once the new primary serves
GAP = 3.0                 # seconds between the kill and the promotion (the manager's detection)


@pytest.fixture
def cluster():
    c = ReplicatedCluster().start()
    yield c
    c.stop()


def _statuses(client: FaxClient, ids: list[str]) -> dict[str, str]:
    out = {}
    for box in ("outgoing", "outbox"):
        r = client.call("GET", f"/faxes/{box}?paginate=false")
        assert r.status_code == 200, r.text
        out.update({j["id"]: j["status"] for j in r.json()["data"] if j["id"] in ids})
    return out


def _check_unavailable(r: requests.Response, what: str) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text)
    assert r.headers.get("Retry-After", "").isdigit(), (what, r.headers)
    body = r.json()
    assert body["error"] == "503" and body["status"] == "error", body
    assert "database is unavailable" in body["message"], body
    assert "Traceback" not in r.text


def test_primary_killed_mid_run_standby_promoted(cluster, tmp_path):
    started = time.monotonic()
    home = tempfile.mkdtemp(prefix="faxd-failover-home-", dir="/tmp")
    faxd = FaxdNode(home, cluster.url, FAXD_SOFTWARE_PACED="true", FAXD_LEASE_SECONDS="6",
                     FAXD_RETRY_PERIOD="1").wait_ready()
    try:
        b = faxd.bootstrap
        client = FaxClient(faxd.base_url, b["account_id"], b["api_key"])
        # Three tries each, as a sender who cares would ask: the software line looks its numbers
        # up in the database before it dials, so a call placed in the gap fails there
        # (NORMAL_TEMPORARY_FAILURE, nothing sent) and is tried again after the promotion.
        acknowledged = [client.send_text(f"+1312555{1000 + i}", retries=3) for i in range(FAXES_BEFORE)]

        # Kill the primary while calls are on the line (paced calls take seconds each).
        deadline = time.monotonic() + 30
        while (at_kill := Counter(_statuses(client, acknowledged).values()))["processing"] < 2:
            assert time.monotonic() < deadline, _statuses(client, acknowledged)
            time.sleep(0.1)
        in_flight = at_kill["processing"]
        cluster.primary.kill()
        killed = time.monotonic()

        # No primary: every request is a precise 503 with Retry-After, never a 500.
        answers = Counter()
        while time.monotonic() - killed < GAP:
            r = client.call("GET", "/faxes/outgoing")
            _check_unavailable(r, "GET /faxes/outgoing")
            r = client.call("PUT", "/faxes", json={"data": {"to_number": "+13125559999",
                                                            "document": {"url": "http://127.0.0.1:9/x.pdf"}}})
            _check_unavailable(r, "PUT /faxes")
            answers[r.status_code] += 2
            time.sleep(0.2)
        cluster.promote()
        promoted = time.monotonic()

        # The same faxd process serves again, on the new primary.
        while True:
            r = client.call("GET", "/faxes/outgoing")
            if r.status_code == 200:
                break
            _check_unavailable(r, "GET /faxes/outgoing after promotion")
            answers[503] += 1
            assert time.monotonic() - promoted < 20, "faxd did not recover after the promotion"
            time.sleep(0.1)
        recovered = time.monotonic()
        assert faxd.proc.poll() is None
        acknowledged += [client.send_text(f"+1312555{2000 + i}", retries=3) for i in range(FAXES_AFTER)]

        # Every acknowledged fax ends in a final state.
        deadline = time.monotonic() + 45
        while True:
            statuses = _statuses(client, acknowledged)
            assert set(statuses) == set(acknowledged), set(acknowledged) - set(statuses)
            if all(s in FINAL for s in statuses.values()):
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.3)
        assert faxd.proc.poll() is None

        # None dialled twice: from the database's attempt records and from faxd's own log.
        conn = psycopg2.connect(cluster.standby.dsn(cluster.dbname))
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT j.id, j.status, j.attempts, "
                        "array_agg(a.outcome ORDER BY a.attempt) AS outcomes, "
                        "array_agg(a.call_id ORDER BY a.attempt) AS calls, "
                        "array_agg(a.tx_result ORDER BY a.attempt) AS results "
                        "FROM jobs j LEFT JOIN job_attempts a ON a.job_id = j.id "
                        "WHERE j.id = ANY(%s) GROUP BY j.id", (acknowledged,))
            rows = {r["id"]: r for r in cur.fetchall()}
            # The LISTEN connection was re-established on the new primary (wake-ups, cancels).
            cur.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'faxd-listen'")
            listeners = cur.fetchone()["n"]
        conn.close()
        assert listeners >= 1
        assert set(rows) == set(acknowledged)
        originated = Counter(re.findall(r"\[job=(\S+) call=\S+\] originate to", faxd.log()))
        not_routed = 0
        for job_id, row in rows.items():
            assert row["outcomes"].count("completed") <= 1, row
            calls = [c for c in row["calls"] if c]
            assert len(calls) == len(set(calls)), row
            assert originated[job_id] <= len(row["outcomes"]), (row, originated[job_id])
            results = [r or {} for r in row["results"]]
            # Pages reached a fax machine in one attempt only: nothing was sent twice.
            assert sum(r.get("pages_sent", 0) > 0 for r in results) == 1, row
            for outcome, r in zip(row["outcomes"], results):
                if outcome == "failed":            # placed in the gap, never reached the line
                    not_routed += 1
                    assert r.get("hangup_cause") == "NORMAL_TEMPORARY_FAILURE" and not r.get("pages_sent"), row
        completed = sum(r["status"] == "completed" for r in rows.values())
        assert completed == len(acknowledged), ({k: (r["status"], r["outcomes"]) for k, r in rows.items()
                                                 if r["status"] != "completed"})
        assert "Traceback" not in faxd.log(), faxd.log()[-4000:]

        print(f"\nfailover: {in_flight} faxes on the line at the kill ({dict(at_kill)}), {not_routed} not routed in the gap, "
              f"{answers[503]} answers 503 during the gap; "
              f"API back {recovered - promoted:.2f} s after the promotion, gap {recovered - killed:.2f} s; "
              f"{completed}/{len(acknowledged)} completed, wall {time.monotonic() - started:.1f} s")
    finally:
        faxd.stop()
        (tmp_path / "faxd.log").write_text(faxd.log())      # kept by pytest for a failed run
        shutil.rmtree(home, ignore_errors=True)

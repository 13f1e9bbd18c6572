"""/metrics (parsed with prometheus_client's parser) and /health readiness on a real faxd."""
from __future__ import annotations

import os
import signal
import time

import psycopg2
import requests
from prometheus_client.parser import text_string_to_metric_families

from faxd.store import PostgresStore
from tests.integration.foundation.daemon import FaxdProcess
from tests.integration.foundation.fax_client import FaxClient
from tests.integration.foundation.daemon import database_url as _url

REMOTE = "+12025550188"
BUSY = "+12025550101"


def scrape(base_url: str) -> dict:
    """{(sample name, frozenset(labels)): value} of one /metrics answer."""
    r = requests.get(base_url + "/metrics", headers={"Accept": "text/plain"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def total(samples: dict, name: str, **labels) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def _dispatch_waits(dsn: str, jobs: list[str]) -> tuple[float, float]:
    """Sums over ``jobs`` of prepared -> first dialing, and of queued -> first dialing (seconds)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("""SELECT sum(extract(epoch FROM d.t - p.created)), sum(extract(epoch FROM d.t - q.created))
                             FROM (SELECT job_id, min(created) AS t FROM events WHERE kind = 'dialing'
                                    GROUP BY job_id) d
                             JOIN events p ON p.job_id = d.job_id AND p.kind = 'prepared'
                             JOIN events q ON q.job_id = d.job_id AND q.kind = 'queued'
                            WHERE d.job_id = ANY(%s)""", (jobs,))
            a, b = cur.fetchone()
            return float(a), float(b)
    finally:
        conn.close()


def test_counters_match_the_faxes_sent_and_received_and_two_nodes_agree(faxd, tmp_path, dsn):
    other = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": str(tmp_path / "b")}).wait_ready()
    try:
        before = [scrape(n.base_url) for n in (faxd, other)]
        assert all(total(b, "faxd_faxes_total") == 0 for b in before)
        local = faxd.bootstrap["fax_number"]
        jobs = [faxd.client.send_text(n) for n in (REMOTE, REMOTE, local, BUSY)]
        ended = [faxd.client.wait_final(j) for j in jobs]
        assert [j["status"] for j in ended] == ["completed", "completed", "completed", "failed"]
        faxd.client.wait_inbox(1)
        pages = sum(j["tx_result"]["pages_sent"] for j in ended)
        deadline = time.monotonic() + 10
        while True:   # the receiving side counts its fax once the inbox row is written
            after = [scrape(n.base_url) for n in (faxd, other)]
            if sum(total(a, "faxd_faxes_total", direction="inbound") for a in after) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sum(total(a, "faxd_faxes_total", direction="outbound", result="OK") for a in after) == 3
        assert sum(total(a, "faxd_faxes_total", direction="outbound", result="USER_BUSY") for a in after) == 1
        assert sum(total(a, "faxd_faxes_total", direction="inbound", result="OK") for a in after) == 1
        assert sum(total(a, "faxd_pages_total", direction="outbound") for a in after) == pages
        assert sum(total(a, "faxd_pages_total", direction="inbound") for a in after) == ended[2]["tx_result"]["pages_sent"]
        assert sum(total(a, "faxd_fax_duration_seconds_count", direction="outbound") for a in after) == 4
        assert sum(total(a, "faxd_dispatch_latency_seconds_count") for a in after) == 4
        # Dispatch latency is the dispatcher's own delay: from a job becoming runnable (its
        # 'prepared' event, documents converted) to its claim ('dialing'), not from its creation.
        waited, since_queued = _dispatch_waits(dsn, jobs)
        observed = sum(total(a, "faxd_dispatch_latency_seconds_sum") for a in after)
        print(f"dispatch latency sum {observed:.3f} s; prepared->dialing {waited:.3f} s; "
              f"queued->dialing {since_queued:.3f} s")
        # Both ends are read on the database's clock (the claim returns its own time): the sum
        # is at least the events' prepared->dialing time and nearer to it than to queued->dialing.
        assert observed >= waited - 0.01, (observed, waited)
        assert observed - waited < since_queued - observed, (observed, waited, since_queued)
        # Cluster-wide gauges: the same on both nodes.
        for status in ("pending", "processing", "attaching_files"):
            assert total(after[0], "faxd_jobs", status=status) == total(after[1], "faxd_jobs", status=status) == 0
        assert total(after[0], "faxd_notifications_pending") == total(after[1], "faxd_notifications_pending")
        for a in after:
            assert total(a, "faxd_switch_connected", switch="software") == 1
            assert total(a, "faxd_calls_active") == 0
            assert total(a, "process_cpu_seconds_total") > 0
        nodes = {dict(ls)["node"] for a in after for (n, ls) in a if n == "faxd_switch_connected"}
        assert len(nodes) == 2
    finally:
        other.stop()


def _children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(p) for p in f.read().split()]
    return out


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode()


def test_the_start_up_is_frozen_out_of_the_collector_and_its_pauses_are_timed(faxd):
    """`faxd run` owns its process: once it serves, its start-up (modules, pools, configuration)
    is frozen out of the garbage collector's walks and young collections come less often, so a
    node with thousands of calls runs fewer and shorter full collections; every collection's
    pause is in a histogram by generation."""
    samples = scrape(faxd.base_url)
    assert total(samples, "faxd_gc_frozen_objects") > 10_000
    # Young collections every 10,000 allocations, not CPython's 700: fewer objects outlive one.
    assert total(samples, "faxd_gc_threshold", generation="0") == 10_000
    # The collection that settles the heap is a full one, timed like any other.
    assert total(samples, "faxd_gc_pause_seconds_count", generation="2") >= 1
    assert total(samples, "faxd_gc_pause_seconds_sum", generation="2") > 0


def test_health_is_503_naming_the_smtp_gateway_while_it_is_not_listening(tmp_path, dsn):
    proc = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": str(tmp_path / "h"),
                        "FAXD_SMTP_LISTEN": "127.0.0.1:0"}).wait_ready()
    try:
        r = proc.get("/health")
        assert r.status_code == 200, r.text
        assert r.json()["ready"] is True and r.json()["not_ready"] == []
        smtp = [p for p in _children(proc.proc.pid) if "faxd.smtp" in _cmdline(p)]
        assert len(smtp) == 1
        os.kill(smtp[0], signal.SIGKILL)     # the gateway dies: restarted after a second
        deadline = time.monotonic() + 5
        while (r := proc.get("/health")).status_code == 200:
            assert time.monotonic() < deadline, "/health stayed 200 without the SMTP gateway"
            time.sleep(0.05)
        assert r.status_code == 503 and r.json()["not_ready"] == ["smtp"] and r.headers["Retry-After"]
        deadline = time.monotonic() + 15
        while (r := proc.get("/health")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.1)
        assert r.json()["ready"] is True
    finally:
        proc.stop()


def test_metrics_needs_the_metrics_token_or_a_super_admins_token_when_loopback_is_not_trusted(tmp_path, dsn):
    node = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": str(tmp_path / "m"),
                        "FAXD_METRICS_LOOPBACK": "0", "FAXD_METRICS_TOKEN": "s3cret-scrape"}).wait_ready()
    try:
        url = node.base_url + "/metrics"
        store = PostgresStore(dsn, 1)
        try:
            other = store.create_account("not-an-admin")
        finally:
            store.close()
        admin = FaxClient(node.base_url, node.bootstrap["account_id"], node.bootstrap["api_key"])
        plain = FaxClient(node.base_url, other.account_id, other.api_key)

        def get(**headers):
            return requests.get(url, headers=headers, timeout=10)

        nothing = get()
        assert nothing.status_code == 401 and "metrics_token" in nothing.json()["message"]
        assert get(Authorization="Bearer wrong").status_code == 401
        assert get(**{"X-Auth-Token": "no-such-token"}).status_code == 401
        refused = get(**{"X-Auth-Token": plain.headers["X-Auth-Token"]})
        assert refused.status_code == 403 and "super-admin" in refused.json()["message"]
        for ok in (get(Authorization="Bearer s3cret-scrape"), get(**{"X-Auth-Token": admin.headers["X-Auth-Token"]})):
            assert ok.status_code == 200, ok.text
            names = {f.name for f in text_string_to_metric_families(ok.text)}
            assert {"faxd_faxes", "faxd_jobs", "faxd_dispatch_latency_seconds"} <= names
    finally:
        node.stop()

"""Retention sweeper under load: deleting 100,000 documents while the API serves listings.

A scratch database holds 50,000 sent faxes of one account, final 40 days ago, each with its
fax TIFF and PDF (100,000 documents of 2 KB each). A faxd node serves ``GET /faxes/outbox`` to
4 clients at once, each request after the previous one; a second node runs the retention
sweeper every 5 s (finding nothing while the account keeps its faxes). The listing's latency
is measured:

1. ``before``: for ``--seconds``, nothing to delete;
2. ``sweeping``: from the moment the account's ``fax_policy`` says ``retention_documents_days``
   30 until the sweeper has deleted every document;
3. ``after``: for ``--seconds`` again, the baseline's second half (the machine's drift).

Reported: p50 and p99 of each phase, the ratio of p99 while sweeping over the baseline's
(before and after together; goal <= 1.2), and the sweeper's documents per second.

Usage: python -m bench retention [--jobs N] [--seconds S] [--clients C]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import gevent
import requests

from bench.bench_engine import Node, Scratch, _percentile


SWEEP_INTERVAL = 5


def _fill(store, account_id: str, jobs: int, size: int = 2048) -> None:
    """``jobs`` completed faxes delivered 40 days ago, each with a fax TIFF and a PDF."""
    with store.transaction() as cur:
        cur.execute("""
            INSERT INTO jobs (id, account_id, status, to_number, from_number, attempts, page_count,
                              created, modified, delivered, tx_result)
            SELECT 'bench' || g, %(acct)s, 'completed', '+1202555' || lpad((g %% 10000)::text, 4, '0'),
                   '+12025550100', 1, 1, now() - interval '41 days' + g * interval '1 ms',
                   now() - interval '40 days', now() - interval '40 days', '{"success": true}'
              FROM generate_series(1, %(jobs)s) g""", {"acct": account_id, "jobs": jobs})
        cur.execute("""
            INSERT INTO documents (id, account_id, job_id, role, seq, content_type, size_bytes, sha256, pages, data)
            SELECT 'bench' || g || r.role, %(acct)s, 'bench' || g, r.role, 0, r.ct, %(size)s, md5(g::text), 1,
                   convert_to(repeat(md5(g::text || r.role), %(size)s / 32), 'UTF8')
              FROM generate_series(1, %(jobs)s) g,
                   (VALUES ('fax_tiff', 'image/tiff'), ('pdf', 'application/pdf')) AS r(role, ct)""",
                    {"acct": account_id, "jobs": jobs, "size": size})
    with store.transaction() as cur:
        cur.execute("ANALYZE jobs; ANALYZE documents")


def _documents(store) -> int:
    with store.transaction() as cur:
        cur.execute("SELECT count(*) AS n FROM documents")
        return cur.fetchone()["n"]


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench retention")
    ap.add_argument("--jobs", type=int, default=50_000, help="sent faxes (two documents each)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each baseline phase")
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args(argv)

    from faxd.store import PostgresStore
    from faxd.store.migrate import migrate

    tmp = tempfile.mkdtemp(prefix="faxd-bench-retention-")
    db = Scratch()
    migrate(db.dsn)
    store = PostgresStore(db.dsn, 4)
    node = sweeper = None
    try:
        acct = store.create_account("bench")
        t0 = time.monotonic()
        _fill(store, acct.account_id, args.jobs)
        fill_s = time.monotonic() - t0
        total_docs = _documents(store)
        node = Node(os.path.join(tmp, "home"), db.url, os.path.join(tmp, "faxd.log"))
        # The sweeper of a second node, as any node of a cluster runs one: every
        # SWEEP_INTERVAL seconds, finding nothing to delete until the account's policy says 30 days.
        sweeper = Node(os.path.join(tmp, "home2"), db.url, os.path.join(tmp, "faxd2.log"),
                       {"FAXD_RETENTION_INTERVAL": str(SWEEP_INTERVAL)})
        token = requests.put(node.base_url + "/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                             timeout=10).json()["auth_token"]
        url = f"{node.base_url}/v2/accounts/{acct.account_id}/faxes/outbox?page_size=50"
        phase = {"name": "warmup"}
        latencies: dict[str, list[float]] = {"warmup": [], "before": [], "sweeping": [], "after": []}

        def client():
            s = requests.Session()
            s.headers["X-Auth-Token"] = token
            while phase["name"] != "stop":
                name = phase["name"]
                t = time.perf_counter()
                r = s.get(url, timeout=30)
                ms = (time.perf_counter() - t) * 1000
                assert r.status_code == 200 and len(r.json()["data"]) == 50, r.text[:300]
                latencies[name].append(ms)

        clients = [gevent.spawn(client) for _ in range(args.clients)]
        gevent.sleep(3)
        phase["name"] = "before"
        gevent.sleep(args.seconds)
        phase["name"] = "sweeping"
        t0 = time.monotonic()
        store.set_fax_policy(acct.account_id, {"retention_documents_days": 30})
        while _documents(store) > 0:
            assert time.monotonic() - t0 < 1800, "the sweep did not finish"
            gevent.sleep(0.1)
        sweep_s = time.monotonic() - t0
        phase["name"] = "after"
        gevent.sleep(args.seconds)
        phase["name"] = "stop"
        gevent.joinall(clients, timeout=30, raise_error=True)
        left = _documents(store)

        def stats(values):
            return {"requests": len(values), "p50_ms": round(statistics.median(values), 1),
                    "p99_ms": round(_percentile(values, 99), 1)}

        baseline = latencies["before"] + latencies["after"]
        report = {
            "bench": "retention", "jobs": args.jobs, "documents": total_docs, "fill_s": round(fill_s, 1),
            "documents_left": left,
            "sweep_s": round(sweep_s, 1), "documents_per_s": round((total_docs - left) / sweep_s),
            "listing": {"before": stats(latencies["before"]), "sweeping": stats(latencies["sweeping"]),
                        "after": stats(latencies["after"]), "baseline": stats(baseline)},
            "p99_ratio_sweeping_vs_baseline": round(_percentile(latencies["sweeping"], 99)
                                                    / _percentile(baseline, 99), 3),
            "p50_ratio_sweeping_vs_baseline": round(statistics.median(latencies["sweeping"])
                                                    / statistics.median(baseline), 3),
            "goal": "p99 ratio <= 1.2",
        }
    finally:
        for n in (node, sweeper):
            if n is not None:
                n.stop()
        store.close()
        db.drop()
    print(json.dumps(report, indent=2))
    return 0

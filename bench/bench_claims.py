"""Claim cost and dispatch rate vs the backlog: the claim of migration 0007 against the one before it.

For each backlog (due jobs of one large account, plus three small accounts with a few due
jobs each), in one scratch database:

1. claim cost: one ``faxd_claim_job`` call per transaction, timed at the client (a round trip
   on the loopback), old and new interleaved in blocks of 10; each claimed job is put back in
   the queue at once (untimed), so the backlog stays the same size;
2. dispatch rate: ``--workers`` connections, each a node with its own switch, claim and put
   back as fast as they can for ``--seconds``; claims per second for the whole "cluster".
   Then the same with every worker on one switch (where claims must take turns).

The old function is the one of migration 0002 (read from that file, renamed
``faxd_claim_job_old``): it orders every due job under one advisory lock for all nodes.
Documents are 4-byte placeholders: the claim returns the fax TIFF of the one job it takes,
whatever the backlog.

Usage: python -m bench claims [--sizes 100,1000,10000,100000] [--samples N] [--seconds S] [--workers N]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import gevent
import psycopg2

from bench.bench_engine import Scratch, _percentile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD_MIGRATION = os.path.join(ROOT, "faxd", "store", "migrations", "0002_engine_wakeups.sql")


def old_claim_sql() -> str:
    """The claim as it was before 0007, renamed."""
    with open(OLD_MIGRATION) as f:
        text = f.read()
    start = text.index("CREATE OR REPLACE FUNCTION faxd_claim_job")
    end = text.index("$$;", text.index("BEGIN", start)) + 3
    return text[start:end].replace("FUNCTION faxd_claim_job(", "FUNCTION faxd_claim_job_old(")


def fill(conn, account: str, n: int, prefix: str) -> None:
    """n due jobs of one account (distinct numbers) with their fax TIFF rows, in bulk."""
    with conn, conn.cursor() as cur:
        cur.execute("""
            INSERT INTO jobs (id, account_id, status, to_number, from_number, page_count, run_after, created)
            SELECT md5(%(p)s || g), %(a)s, 'pending', '+1' || (3000000000 + g)::text || %(p)s, '+12025550100', 1,
                   now() - interval '1 hour', now() - interval '1 hour' + g * interval '1 millisecond'
              FROM generate_series(1, %(n)s) g""", {"a": account, "n": n, "p": prefix})
        cur.execute("""
            INSERT INTO documents (id, account_id, job_id, role, content_type, size_bytes, sha256, pages, data)
            SELECT md5('d' || j.id), j.account_id, j.id, 'fax_tiff', 'image/tiff', 4, '', 1, '\\x49492a00'::bytea
              FROM jobs j WHERE j.account_id = %(a)s AND NOT EXISTS
                   (SELECT 1 FROM documents d WHERE d.job_id = j.id)""", {"a": account})


def put_back(cur, job_id: str) -> None:
    cur.execute("UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_expires = NULL WHERE id = %s",
                (job_id,))


def claim_once(conn, fn: str, switch: str, max_channels: int = 100_000) -> tuple[float, str | None]:
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(f"SELECT id FROM {fn}(%s, %s, %s, 30)", ("bench", switch, max_channels))
        row = cur.fetchone()
        elapsed = time.perf_counter() - t0
        if row and row[0]:
            put_back(cur, row[0])
        return elapsed, (row[0] if row else None)


def latency(conn, samples: int) -> dict:
    out = {"old": [], "new": []}
    for block in range(0, samples, 10):
        for fn, key in (("faxd_claim_job_old", "old"), ("faxd_claim_job", "new")):
            for _ in range(min(10, samples - block)):
                elapsed, job = claim_once(conn, fn, "sw-latency")
                assert job, f"{fn} claimed nothing"
                out[key].append(elapsed * 1000)
    return {k: {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(_percentile(v, 99), 3)}
            for k, v in out.items()}


def rate(dsn: str, fn: str, workers: int, seconds: float, one_switch: bool) -> float:
    conns = [psycopg2.connect(dsn) for _ in range(workers)]
    for c in conns:
        c.autocommit = True
    counts = [0] * workers
    stop = time.monotonic() + seconds

    def work(i):
        switch = "sw-shared" if one_switch else f"sw-{i}"
        while time.monotonic() < stop:
            try:
                _, job = claim_once(conns[i], fn, switch)
            except psycopg2.errors.UniqueViolation:
                continue   # two switches took the same number at once: the unique index refused one
            if job:
                counts[i] += 1
    t0 = time.monotonic()
    gevent.joinall([gevent.spawn(work, i) for i in range(workers)])
    elapsed = time.monotonic() - t0
    for c in conns:
        c.close()
    return round(sum(counts) / elapsed, 1)


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench claims")
    ap.add_argument("--sizes", default="100,1000,10000,100000")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    from faxd.store.migrate import migrate

    db = Scratch()
    report = {"bench": "claims", "workers": args.workers, "seconds": args.seconds, "sizes": {}}
    try:
        migrate(db.dsn)
        conn = psycopg2.connect(db.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(old_claim_sql())
            for name in ("big", "small1", "small2", "small3"):
                cur.execute("INSERT INTO accounts (id, name, max_outbound) VALUES (%s, %s, 100000)", (name, name))
        for name in ("small1", "small2", "small3"):
            fill(conn, name, 5, name)
        have = 0
        for size in sizes:
            t0 = time.monotonic()
            fill(conn, "big", size - have, f"big{size}")
            have = size
            with conn.cursor() as cur:
                cur.execute("VACUUM ANALYZE jobs")
                cur.execute("VACUUM ANALYZE documents")
            filled = time.monotonic() - t0
            due = size + 15
            entry = {"due_jobs": due, "fill_seconds": round(filled, 1), "claim": latency(conn, args.samples)}
            entry["claim"]["ratio_old_over_new_p50"] = round(
                entry["claim"]["old"]["p50_ms"] / entry["claim"]["new"]["p50_ms"], 1)
            for one_switch in (False, True):
                key = "claims_per_s_one_switch" if one_switch else "claims_per_s_switch_per_worker"
                entry[key] = {fn: rate(db.dsn, f"faxd_claim_job{suffix}", args.workers, args.seconds, one_switch)
                              for fn, suffix in (("old", "_old"), ("new", ""))}
            report["sizes"][str(size)] = entry
            print(json.dumps({str(size): entry}), flush=True)
        base = report["sizes"][str(sizes[0])]["claim"]["new"]["p50_ms"]
        report["new_p50_vs_smallest"] = {s: round(e["claim"]["new"]["p50_ms"] / base, 2)
                                         for s, e in report["sizes"].items()}
        conn.close()
    finally:
        db.drop()
    print(json.dumps(report, indent=2))
    return 0

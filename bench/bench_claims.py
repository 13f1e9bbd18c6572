"""Claim cost and dispatch rate vs the backlog: the batched claim against the claim before it.

For each backlog (due jobs of one large account, plus three small accounts with 5 due jobs
each), in one scratch database, three claims are measured:

- ``before``: the single claim of migration 0007 (read from that file, renamed), as it was
  before claims came in batches;
- ``single``: ``faxd_claim_job``, today's claim of one job (the batch of one);
- ``batch``: ``faxd_claim_jobs`` taking up to ``--batch`` jobs, as a dispatcher with that many
  free channels does.

Each claimed job is then completed and a new due job of the same account (with its TIFF) is
queued, in one untimed statement: the backlog keeps its size, every claim takes a distinct job,
and the head of the queue leaves behind it what a cluster's leaves (index entries of jobs no
longer due, pages first written since the last checkpoint). An earlier version of this bench
put each claimed job back in the queue with its due time and age unchanged, so every claim took
the same job again (2,000 claims, one distinct job): it measured the versions of one row, not a
queue. The jobs table is vacuumed before each measurement (this server may run without
autovacuum; a deployment has it).

1. claim cost: after a few untimed claims of each, one claim per transaction (commit
   included), timed at the client (a round trip on the loopback), the three interleaved in
   blocks of 10; for ``batch`` the cost per job
   (the batch's time divided by the jobs it took) and per batch;
2. dispatch rate: ``--workers`` connections, each a node with its own switch, claim as fast as
   they can for ``--seconds``; jobs claimed per second for the whole "cluster". Then the same
   with every worker on one switch (where claims take turns).

Documents are 4-byte placeholders: the claim returns the fax TIFF of the jobs it takes,
whatever the backlog.

Usage: python -m bench claims [--sizes 100,1000,10000,100000] [--samples N] [--seconds S] [--workers N]
                              [--batch N]
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
BEFORE_MIGRATION = os.path.join(ROOT, "faxd", "store", "migrations", "0007_flat_claims.sql")
KINDS = ("before", "single", "batch")


def before_claim_sql() -> str:
    """The claim of migration 0007 (and its helper), renamed."""
    with open(BEFORE_MIGRATION) as f:
        text = f.read()
    start = text.index("CREATE FUNCTION faxd_claim_pick")
    end = text.index("$$;", text.index("BEGIN", text.index("FUNCTION faxd_claim_job", start))) + 3
    return (text[start:end].replace("faxd_claim_pick", "faxd_claim_pick_0007")
            .replace("OR REPLACE FUNCTION faxd_claim_job(", "FUNCTION faxd_claim_job_0007("))


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


# The claimed jobs end (completed) and as many new ones join their accounts' queues.
CHURN = """
WITH done AS (
    UPDATE jobs SET status = 'completed', lease_owner = NULL, lease_expires = NULL, delivered = now()
     WHERE id = ANY (%(ids)s) RETURNING account_id
), queued AS (
    INSERT INTO jobs (id, account_id, status, to_number, from_number, page_count)
    SELECT replace(gen_random_uuid()::text, '-', ''), account_id, 'pending',
           '+1' || (4000000000 + floor(random() * 1e9))::bigint::text, '+12025550100', 1
      FROM done RETURNING id, account_id
)
INSERT INTO documents (id, account_id, job_id, role, content_type, size_bytes, sha256, pages, data)
SELECT md5('d' || q.id), q.account_id, q.id, 'fax_tiff', 'image/tiff', 4, '', 1, '\\x49492a00'::bytea FROM queued q
"""


def claim_once(conn, kind: str, switch: str, batch: int, max_channels: int = 100_000) -> tuple[float, list[str]]:
    """One claim (its own transaction); the time it took and the jobs it took, which are then churned."""
    if kind == "before":
        sql, args = "SELECT id FROM faxd_claim_job_0007(%s, %s, %s, 30)", ("bench", switch, max_channels)
    elif kind == "single":
        sql, args = "SELECT id FROM faxd_claim_job(%s, %s, %s, 30)", ("bench", switch, max_channels)
    else:
        sql, args = "SELECT id FROM faxd_claim_jobs(%s, %s, %s, 30, %s)", ("bench", switch, max_channels, batch)
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(sql, args)
        ids = [r[0] for r in cur.fetchall() if r[0]]
        elapsed = time.perf_counter() - t0
        if ids:
            cur.execute(CHURN, {"ids": ids})
        return elapsed, ids


def vacuum(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE jobs")


def latency(conn, samples: int, batch: int) -> dict:
    per_job = {k: [] for k in KINDS}
    per_batch = []
    for kind in KINDS:     # untimed: plans cached and pages read before the first sample
        for _ in range(5):
            claim_once(conn, kind, "sw-latency", batch)
    vacuum(conn)
    for block in range(0, samples, 10):
        for kind in KINDS:
            for _ in range(min(10, samples - block)):
                elapsed, ids = claim_once(conn, kind, "sw-latency", batch)
                assert ids, f"{kind} claimed nothing"
                per_job[kind].append(elapsed * 1000 / len(ids))
                if kind == "batch":
                    per_batch.append(elapsed * 1000)
    out = {k: {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(_percentile(v, 99), 3)}
           for k, v in per_job.items()}
    out["batch"]["per_batch_p50_ms"] = round(statistics.median(per_batch), 3)
    return out


def rate(dsn: str, kind: str, workers: int, seconds: float, one_switch: bool, batch: int) -> float:
    conns = [psycopg2.connect(dsn) for _ in range(workers)]
    for c in conns:
        c.autocommit = True
    vacuum(conns[0])
    counts = [0] * workers
    stop = time.monotonic() + seconds

    def work(i):
        switch = "sw-shared" if one_switch else f"sw-{i}"
        while time.monotonic() < stop:
            try:
                _, ids = claim_once(conns[i], kind, switch, batch)
            except psycopg2.errors.UniqueViolation:
                continue   # two switches took the same number at once: the unique index refused one
            counts[i] += len(ids)
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
    ap.add_argument("--batch", type=int, default=20, help="jobs per batched claim (the dispatcher's CLAIM_BATCH)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    from faxd.store.migrate import migrate

    db = Scratch()
    report = {"bench": "claims", "workers": args.workers, "seconds": args.seconds, "batch": args.batch,
              "sizes": {}}
    try:
        migrate(db.dsn)
        conn = psycopg2.connect(db.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(before_claim_sql())
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
            entry = {"due_jobs": size + 15, "fill_seconds": round(filled, 1),
                     "claim": latency(conn, args.samples, args.batch)}
            for one_switch in (False, True):
                key = "claims_per_s_one_switch" if one_switch else "claims_per_s_switch_per_worker"
                entry[key] = {kind: rate(db.dsn, kind, args.workers, args.seconds, one_switch, args.batch)
                              for kind in KINDS}
            report["sizes"][str(size)] = entry
            print(json.dumps({str(size): entry}), flush=True)
        first = report["sizes"][str(sizes[0])]["claim"]
        report["p50_vs_smallest"] = {kind: {s: round(e["claim"][kind]["p50_ms"] / first[kind]["p50_ms"], 2)
                                            for s, e in report["sizes"].items()} for kind in KINDS}
        conn.close()
    finally:
        db.drop()
    print(json.dumps(report, indent=2))
    return 0

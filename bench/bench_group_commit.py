"""Group commit vs a transaction per write: many live calls recording their progress at once.

In one scratch database (faxd's schema, its events trigger and NOTIFY included), ``--calls``
jobs are in ``processing`` as a claim leaves them; a greenlet per call records progress
``--writes`` times through ``PostgresStore.record_progress`` (the job engine's write), 10 ms
apart, waiting for each to be committed. Rounds alternate the two ways of committing, in the
same run: ``commit_writers = 0`` (a transaction per write) and ``--writers`` (faxd's group
commit, faxd/store/group.py). Reported per way: writes per second, the write's latency
(p50/p99, submit to committed), transactions committed per second (counted by the store:
PostgreSQL's own counters reach ``pg_stat_database`` up to seconds late) and this process's
CPU; medians over the rounds and the ratio.

Usage: python -m bench group_commit [--calls 1000] [--writes 10] [--writers 2] [--rounds 3]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
import uuid

import gevent

from bench.bench_engine import Scratch, _percentile


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one_round(dsn: str, calls: int, writes: int, writers: int) -> dict:
    from faxd.store import PostgresStore
    store = PostgresStore(dsn, pool_size=20, commit_writers=writers)
    try:
        account = store.create_account("bench").account_id
        jobs = [uuid.uuid4().hex for _ in range(calls)]
        with store.transaction() as cur:
            for i, job in enumerate(jobs):
                cur.execute("INSERT INTO jobs (id, account_id, status, to_number, from_number, attempts, lease_owner,"
                            " lease_expires) VALUES (%s, %s, 'processing', %s, '+12025550100', 1, 'bench',"
                            " now() + interval '1 hour')", (job, account, f"+1312555{i:05d}"))
        latencies: list[float] = []

        def call(job: str) -> None:
            for k in range(writes):
                t0 = time.perf_counter()
                store.record_progress(job, "bench", 1, {"stage": "pages", "pages_sent": k, "text": f"Page {k}"})
                latencies.append(time.perf_counter() - t0)
                gevent.sleep(0.01)

        commits0, cpu0, t0 = store.grouped_commits(), _cpu(), time.perf_counter()
        gevent.joinall([gevent.spawn(call, job) for job in jobs], raise_error=True)
        wall = time.perf_counter() - t0
        cpu, commits = _cpu() - cpu0, store.grouped_commits() - commits0
        with store.transaction() as cur:
            cur.execute("DELETE FROM jobs")
            cur.execute("DELETE FROM events")
        return {"writes_per_s": round(calls * writes / wall), "p50_ms": round(statistics.median(latencies) * 1000, 1),
                "p99_ms": round(_percentile([x * 1000 for x in latencies], 99), 1),
                "commits_per_s": round(commits / wall), "client_cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}
    finally:
        store.close()


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench group_commit")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--writes", type=int, default=10)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    from faxd.store.migrate import migrate
    db = Scratch()
    runs: dict[str, list[dict]] = {"each": [], "group": []}
    try:
        migrate(db.dsn)
        for _ in range(args.rounds):
            for way, writers in (("each", 0), ("group", args.writers)):
                r = one_round(db.dsn, args.calls, args.writes, writers)
                runs[way].append(r)
                print(json.dumps({way: r}), flush=True)
    finally:
        db.drop()
    med = {way: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for way, rs in runs.items()}
    report = {"bench": "group_commit", "calls": args.calls, "writes_per_call": args.writes,
              "writers": args.writers, "median": med,
              "throughput_group_over_each": round(med["group"]["writes_per_s"] / med["each"]["writes_per_s"], 2),
              "p99_each_over_group": round(med["each"]["p99_ms"] / med["group"]["p99_ms"], 2)}
    print(json.dumps(report, indent=2))
    return 0

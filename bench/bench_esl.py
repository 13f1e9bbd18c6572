"""FreeSWITCH control-plane capacity: N concurrent calls' recorded event streams at real-time pace.

The ESL emulator runs in its own process and replays the recorded audio fax call (no DSP) for
N calls started over ``--ramp`` seconds, each at the recorded pace (about 70 s per call). faxd's
FreeSWITCH backend, in this process, parses and routes every event; a consumer per call commits
each neutral event's effect to PostgreSQL (one UPDATE per event, as the job engine records
progress). Measured per N: this process's CPU (in cores), and the delay from an event's arrival
on the socket to its effect committed (p50/p99/max).

Baseline, interleaved in the same run for each N: the same streams with the consumer doing no
database write (parse + route only). The knee is the first N where p99 >= 100 ms or faxd needs
more than 0.9 of a core.

    python -m bench esl [--calls 500,1000,2000] [--pace 1.0] [--ramp 10] [--commit group|each] [--no-baseline]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import psycopg2
import psycopg2.extensions
import psycopg2.extras

from faxd.config import Config
from faxd.switch import events as ev
from faxd.switch.base import FaxOptions, OriginateRequest
from faxd.switch.freeswitch.backend import FreeSwitchBackend


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Database:
    """A scratch database with one row per call; a small green connection pool."""

    def __init__(self, admin_dsn: str, size: int = 20):
        self.admin = admin_dsn
        self.name = f"faxd_bench_esl_{os.getpid()}"
        conn = psycopg2.connect(admin_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
            cur.execute(f'CREATE DATABASE "{self.name}"')
        conn.close()
        self.dsn = psycopg2.extensions.make_dsn(admin_dsn, dbname=self.name)
        with psycopg2.connect(self.dsn) as c, c.cursor() as cur:
            cur.execute("CREATE TABLE calls (call_id uuid PRIMARY KEY, stage text, pages int NOT NULL DEFAULT 0,"
                        " result jsonb, events int NOT NULL DEFAULT 0, modified timestamptz)")
        self._free = [psycopg2.connect(self.dsn) for _ in range(size)]
        self._sem = gevent.lock.BoundedSemaphore(size)

    def execute(self, sql: str, params) -> None:
        with self._sem:
            conn = self._free.pop()
            try:
                with conn.cursor() as cur:
                    cur.execute(sql, params)
                conn.commit()
            finally:
                self._free.append(conn)

    def start_group_commit(self, writers: int = 2) -> None:
        """Writers that commit whatever is pending in one transaction (group commit)."""
        self._pending: list = []
        self._wake = gevent.event.Event()
        self._writers = [gevent.spawn(self._writer) for _ in range(writers)]

    def submit(self, effect: tuple) -> gevent.event.Event:
        """``effect`` = (call_id, stage, pages or None, result JSON or None)."""
        done = gevent.event.Event()
        self._pending.append((effect, done))
        self._wake.set()
        return done

    def _writer(self) -> None:
        while True:
            self._wake.wait()
            batch, self._pending = self._pending[:1000], self._pending[1000:]
            if not self._pending:
                self._wake.clear()
            if not batch:
                continue
            # One statement per batch: the latest state of each call, and how many events it had.
            rows: dict[str, list] = {}
            for (call_id, stage, pages, result), _ in batch:
                row = rows.setdefault(call_id, [call_id, stage, pages, result, 0])
                row[1] = stage
                row[2] = pages if pages is not None else row[2]
                row[3] = result if result is not None else row[3]
                row[4] += 1
            with self._sem:
                conn = self._free.pop()
                try:
                    with conn.cursor() as cur:
                        psycopg2.extras.execute_values(
                            cur, "UPDATE calls c SET stage = v.stage, pages = COALESCE(v.pages, c.pages), "
                                 "result = COALESCE(v.result, c.result), events = c.events + v.n, modified = now() "
                                 "FROM (VALUES %s) AS v(call_id, stage, pages, result, n) "
                                 "WHERE c.call_id = v.call_id",
                            list(rows.values()), template="(%s::uuid, %s, %s::int, %s::jsonb, %s::int)",
                            page_size=1000)
                    conn.commit()
                finally:
                    self._free.append(conn)
            for _, done in batch:
                done.set()

    def close(self) -> None:
        for w in getattr(self, "_writers", []):
            w.kill()
        for c in self._free:
            c.close()
        conn = psycopg2.connect(self.admin)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        conn.close()


def _state(event) -> tuple:
    """(call_id, stage, pages, result) this event leaves the call in."""
    if isinstance(event, ev.PageDone):
        return (event.call_id, "pages", event.pages, None)
    if isinstance(event, ev.FaxResult):
        return (event.call_id, "result", event.pages,
                json.dumps({"success": event.success, "code": event.result_code}))
    return (event.call_id, type(event).__name__.lower(), None, None)


def _effect(event) -> tuple[str, tuple]:
    """The UPDATE a job engine would commit for this neutral event."""
    if isinstance(event, ev.PageDone):
        return ("UPDATE calls SET stage='pages', pages=%s, events=events+1, modified=now() WHERE call_id=%s",
                (event.pages, event.call_id))
    if isinstance(event, ev.FaxResult):
        return ("UPDATE calls SET stage='result', pages=%s, result=%s, events=events+1, modified=now() "
                "WHERE call_id=%s", (event.pages, psycopg2.extras.Json({"success": event.success,
                                                                        "code": event.result_code}),
                                     event.call_id))
    stage = type(event).__name__.lower()
    return ("UPDATE calls SET stage=%s, events=events+1, modified=now() WHERE call_id=%s", (stage, event.call_id))


def run_step(n: int, args, db: Database | None, tiff: str, emu_url: str, tmp: str) -> dict:
    config = Config.load(path=None, env={}, home=tmp, esl_url=(emu_url,), esl_listen=("127.0.0.1", 0),
                         dial_string="sofia/gateway/bench/{number}")
    backend = FreeSwitchBackend(config, listen=None)
    arrivals: dict[str, collections.deque] = collections.defaultdict(collections.deque)
    node = backend.nodes[0]
    route = node._on_event

    def timed(event):
        # Stamp the arrival of every event that becomes a neutral event for a call.
        call = node.calls.get(event.headers.get("Unique-ID", "")) if event.name != "BACKGROUND_JOB" else None
        before = call.events.qsize() if call is not None else 0
        now = time.perf_counter()
        route(event)
        if call is not None:
            for _ in range(call.events.qsize() - before):
                arrivals[call.call_id].append(now)
    node._on_event = timed
    backend.start()
    if not backend.wait_connected(10):
        raise SystemExit("cannot connect to the emulator")
    delays: list[float] = []
    done = [0]
    results = collections.Counter()

    def one(i: int) -> None:
        gevent.sleep(args.ramp * i / n)
        call_id = str(uuid.uuid4())
        if db is not None:
            db.execute("INSERT INTO calls (call_id, stage) VALUES (%s, 'originate')", (call_id,))
        call = backend.originate(OriginateRequest(call_id=call_id, job_id=f"bench{i}", to_number=f"+1202555{i:04d}",
                                                  from_number="+4930123456", from_name="bench", tiff_path=tiff,
                                                  options=FaxOptions(station_id="bench")))
        while True:
            event = call.events.get(timeout=600)
            if db is not None:
                sql, params = _effect(event)
                if args.group_commit:
                    db.submit(_state(event)).wait()
                else:
                    db.execute(sql, params)
            q = arrivals.get(call_id)
            if q:
                delays.append(time.perf_counter() - q.popleft())
            if isinstance(event, ev.FaxResult):
                results["success" if event.success else "failed"] += 1
            if isinstance(event, ev.Hangup):
                done[0] += 1
                return

    peak = [0]

    def watch():
        while True:
            peak[0] = max(peak[0], len(node.calls))
            gevent.sleep(0.05)
    watcher = gevent.spawn(watch)
    t0, c0 = time.monotonic(), _cpu()
    pool = gevent.pool.Pool(n)
    for i in range(n):
        pool.spawn(one, i)
    pool.join()
    wall, cpu = time.monotonic() - t0, _cpu() - c0
    watcher.kill()
    backend.stop()
    return {"calls": n, "done": done[0], "ok": results["success"], "peak_concurrent": peak[0], "events": len(delays),
            "wall_s": wall, "cpu_s": cpu, "cores": cpu / wall,
            "p50_ms": _pct(delays, 50) * 1000, "p99_ms": _pct(delays, 99) * 1000,
            "max_ms": max(delays) * 1000 if delays else float("nan")}


def main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m bench esl")
    p.add_argument("--calls", default="500,1000,2000")
    p.add_argument("--pace", type=float, default=1.0, help="1.0 = the recorded real-time pace")
    p.add_argument("--ramp", type=float, default=20.0, help="seconds over which each step's calls start")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--commit", choices=("group", "each"), default="group",
                   help="group: pending effects share one transaction (default); each: one commit per event")
    p.add_argument("--database-url", default=os.environ.get("FAXD_BENCH_DATABASE_URL"),
                   help="default: an embedded PostgreSQL of its own (no other load on it)")
    args = p.parse_args(argv)
    args.group_commit = args.commit == "group"
    tmp = tempfile.mkdtemp(prefix="faxd-bench-esl-")
    pg = None
    try:
        admin = args.database_url
        if not admin:
            from faxd.store.embedded import EmbeddedPostgres
            os.chmod(tmp, 0o755)
            pg = EmbeddedPostgres(os.path.join(tmp, "postgres"), dbname="postgres")
            admin = pg.start()
        from faxd.spandsp.testdoc import make_text_tiff
        tiff = make_text_tiff(os.path.join(tmp, "doc.tif"), 1)
        emu = subprocess.Popen([sys.executable, "-m", "faxd.testing.esl", "--port", "0", "--no-dsp",
                                "--pace", str(args.pace), "--route", "*=receive", "--spool", os.path.join(tmp, "fs")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = emu.stdout.readline().split()
        emu_url = f"esl://:ClueCon@{line[1]}"
        db = Database(admin)
        if args.group_commit:
            db.start_group_commit()
        rows = []
        try:
            for n in [int(x) for x in args.calls.split(",")]:
                variants = [("postgres", db)] + ([] if args.no_baseline else [("route-only", None)])
                for name, d in variants:
                    r = run_step(n, args, d, tiff, emu_url, tmp)
                    r["variant"] = name
                    rows.append(r)
                    print(f"N={n:5d} {name:10s} done={r['done']}/{n} ok={r['ok']} peak={r['peak_concurrent']} "
                          f"events={r['events']} cpu={r['cpu_s']:.1f}s over {r['wall_s']:.1f}s = "
                          f"{r['cores']:.3f} cores  delay p50={r['p50_ms']:.1f} ms p99={r['p99_ms']:.1f} ms "
                          f"max={r['max_ms']:.1f} ms", flush=True)
        finally:
            db.close()
            emu.stdin.close()
            emu.wait(timeout=30)
        knee = next((r["calls"] for r in rows if r["variant"] == "postgres"
                     and (r["p99_ms"] >= 100 or r["cores"] > 0.9 or r["done"] < r["calls"])), None)
        full = [r for r in rows if r["variant"] == "postgres"]
        base = {r["calls"]: r for r in rows if r["variant"] == "route-only"}
        for r in full:
            b = base.get(r["calls"])
            if b:
                print(f"N={r['calls']}: CPU with PostgreSQL / route only = {r['cpu_s'] / b['cpu_s']:.2f}x; "
                      f"p99 {r['p99_ms']:.1f} vs {b['p99_ms']:.1f} ms")
        print("median cores per 1000 calls:",
              f"{statistics.median(r['cores'] * 1000 / r['calls'] for r in full):.3f}")
        print("knee:", f"N={knee}" if knee else f"not reached up to N={full[-1]['calls']} "
              "(p99 < 100 ms and under 0.9 of a core at every step)")
        return 0
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)

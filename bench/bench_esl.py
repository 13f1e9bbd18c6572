"""FreeSWITCH control-plane capacity: N concurrent calls' recorded event streams at real-time pace.

The ESL emulator runs in its own process and replays the recorded audio fax call (no DSP) for
N calls started over ``--ramp`` seconds, each at the recorded pace (about 70 s per call). faxd's
FreeSWITCH backend, in this process, parses and routes every event; a consumer per call writes
each neutral event's effect with faxd's own store on faxd's schema (``record_progress``, which
fires the events trigger and its NOTIFY; ``release_job`` at the hangup) and waits until it is
committed, as the job engine does (which records progress at most every 0.25 s per call: this
is harsher); each call also renews its lease every third of ``--lease`` seconds, as the engine
does. Measured per N: this process's CPU (in cores), the calls' commits per second,
and the delay from an event's arrival on the socket to its effect committed (p50/p99/max).

``--commit group`` (default) writes through faxd's group commit (faxd/store/group.py, with
``--writers`` writers, faxd's ``commit_writers``); ``--commit each`` commits every write on its
own (``commit_writers = 0``): run both for the before/after figures.

Baseline, interleaved in the same run for each N: the same streams with the consumer doing no
database write (parse + route only). The knee is the first N where p99 >= 100 ms or faxd needs
more than 0.9 of a core.

    python -m bench esl [--calls 500,1000,2000] [--pace 1.0] [--ramp 10] [--commit group|each] [--writers 2]
                        [--lease 30] [--no-baseline] [--unsettled] [--timeline SECONDS] [--start one|each]
                        [--jobs-fillfactor N]
"""
from __future__ import annotations

import argparse
import collections
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
import gevent.pool
import psycopg2
import psycopg2.extensions

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
    """A scratch faxd database (the real schema, triggers included) and faxd's own store on it.

    Each call is a job in ``processing`` with its attempt row, as a claim leaves it; every
    neutral event records the call's progress with ``PostgresStore.record_progress`` (the
    job engine's statement, which fires the events trigger and its NOTIFY), and the hangup
    ends the attempt with ``release_job``. ``commit_writers`` > 0 sends those writes through
    faxd's group commit (faxd/store/group.py), 0 commits each on its own.
    """

    def __init__(self, admin_dsn: str, commit_writers: int, size: int = 20, start: str = "one",
                 fillfactor: int | None = None):
        from faxd.store import PostgresStore
        from faxd.store.migrate import migrate
        self.admin = admin_dsn
        self.start = start
        self.name = f"faxd_bench_esl_{os.getpid()}"
        conn = psycopg2.connect(admin_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
            cur.execute(f'CREATE DATABASE "{self.name}"')
        conn.close()
        self.dsn = psycopg2.extensions.make_dsn(admin_dsn, dbname=self.name)
        migrate(self.dsn)
        if fillfactor:
            c = psycopg2.connect(self.dsn)
            c.autocommit = True
            with c.cursor() as cur:
                cur.execute(f"ALTER TABLE jobs SET (fillfactor = {int(fillfactor)})")
            c.close()
        self.store = PostgresStore(self.dsn, pool_size=size, commit_writers=commit_writers)
        self.account = self.store.create_account("bench").account_id
        with self.store.transaction() as cur:
            cur.execute("UPDATE accounts SET max_outbound = 100000 WHERE id = %s", (self.account,))

    def start_call(self, call_id: str, i: int) -> str:
        """The job and attempt rows a claim would have left for this call, in one statement (a
        claim writes a batch of calls' rows in one, see faxd_claim_jobs; ``--start each``:
        a transaction of two INSERTs per call, four round trips); the job's id."""
        job_id = uuid.uuid4().hex
        params = (job_id, self.account, f"+1202555{i:05d}", call_id, job_id, call_id)
        if self.start == "each":
            with self.store.transaction() as cur:
                cur.execute(_INSERT_JOB, params[:4])
                cur.execute(_INSERT_ATTEMPT, params[4:])
            return job_id
        with self.store.statement() as cur:
            cur.execute(f"WITH job AS ({_INSERT_JOB}) {_INSERT_ATTEMPT}", params)
        return job_id

    def record(self, job_id: str, event) -> None:
        """The write the job engine makes for this event."""
        from faxd.models import JobStatus
        if isinstance(event, ev.Hangup):
            self.store.release_job(job_id, "bench", 1, status=JobStatus.COMPLETED, outcome="completed",
                                   tx_result={"hangup_cause": event.cause}, progress={"stage": "done"},
                                   notify=False)
            return
        self.store.record_progress(job_id, "bench", 1, _progress(event))

    def wal_flushes(self) -> tuple[int, float]:
        """The cluster's WAL flushes so far and the time spent in them (ms; 0 unless
        track_wal_io_timing is on), from pg_stat_wal."""
        with self.store.statement() as cur:
            cur.execute("SELECT wal_sync, wal_sync_time FROM pg_stat_wal")
            row = cur.fetchone()
        return int(row["wal_sync"]), float(row["wal_sync_time"])

    def vacuums(self) -> list[str]:
        """When autovacuum and autoanalyze last ran on jobs and how often (pg_stat_user_tables)."""
        with self.store.statement() as cur:
            cur.execute("SELECT autovacuum_count, autoanalyze_count, extract(epoch FROM now() - last_autovacuum) AS v, "
                        "extract(epoch FROM now() - last_autoanalyze) AS a FROM pg_stat_user_tables "
                        "WHERE relname = 'jobs'")
            r = cur.fetchone()
        return [f"{r['autovacuum_count']} autovacuums (last {r['v'] or 0:.0f} s ago)",
                f"{r['autoanalyze_count']} autoanalyzes (last {r['a'] or 0:.0f} s ago)"]

    def job_updates(self) -> tuple[int, int]:
        """Updates of jobs rows so far, and how many of them were HOT (no index touched), from
        pg_stat_user_tables (each backend reports within a second or so)."""
        with self.store.statement() as cur:
            cur.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'jobs'")
            row = cur.fetchone()
        return int(row["n_tup_upd"]), int(row["n_tup_hot_upd"])

    def commits(self) -> int:
        """Transactions the calls' writes committed (counted by the store: PostgreSQL's own
        counters reach pg_stat_database up to seconds late)."""
        return self.store.grouped_commits()

    def close(self) -> None:
        self.store.close()
        conn = psycopg2.connect(self.admin)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        conn.close()


_INSERT_JOB = ("INSERT INTO jobs (id, account_id, status, to_number, from_number, attempts, lease_owner, "
               "lease_expires, call_id, switch) VALUES (%s, %s, 'processing', %s, '+4930123456', 1, 'bench', "
               "now() + interval '1 hour', %s, 'bench')")
_INSERT_ATTEMPT = "INSERT INTO job_attempts (job_id, attempt, node, call_id, switch) VALUES (%s, 1, 'bench', %s, 'bench')"


def _progress(event) -> dict:
    """The progress a neutral event leaves the call in."""
    if isinstance(event, ev.PageDone):
        return {"stage": "pages", "pages_sent": event.pages}
    if isinstance(event, ev.FaxResult):
        return {"stage": "result", "pages_sent": event.pages, "success": event.success, "code": event.result_code}
    return {"stage": type(event).__name__.lower()}


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
    stamps: list[float] = []
    done = [0]
    results = collections.Counter()

    renewals: list[float] = []

    def renew(job_id: str) -> None:
        # The job engine renews each call's lease every third of the lease (faxd's default: 30 s).
        while True:
            gevent.sleep(args.lease / 3)
            t = time.perf_counter()
            db.store.renew_lease(job_id, "bench", 1, args.lease)
            renewals.append(time.perf_counter() - t)

    def one(i: int) -> None:
        gevent.sleep(args.ramp * i / n)
        call_id = str(uuid.uuid4())
        job_id = db.start_call(call_id, i) if db is not None else None
        renewer = gevent.spawn(renew, job_id) if db is not None and args.lease > 0 else None
        call = backend.originate(OriginateRequest(call_id=call_id, job_id=f"bench{i}", to_number=f"+1202555{i:04d}",
                                                  from_number="+4930123456", from_name="bench", tiff_path=tiff,
                                                  options=FaxOptions(station_id="bench")))
        try:
            while True:
                event = call.events.get(timeout=600)
                if db is not None:
                    db.record(job_id, event)
                q = arrivals.get(call_id)
                if q:
                    t = q.popleft()
                    delays.append(time.perf_counter() - t)
                    stamps.append(t)
                if isinstance(event, ev.FaxResult):
                    results["success" if event.success else "failed"] += 1
                if isinstance(event, ev.Hangup):
                    done[0] += 1
                    return
        finally:
            if renewer is not None:
                renewer.kill()

    peak = [0]

    def watch():
        while True:
            peak[0] = max(peak[0], len(node.calls))
            gevent.sleep(0.05)
    watcher = gevent.spawn(watch)
    flushes: list[tuple[int, float]] = []

    def sample_wal():
        # Once a second, the disk's side of a commit: when the delays grow while this
        # process's CPU does not, a flush that takes long is what they wait for.
        while True:
            flushes.append(db.wal_flushes())
            gevent.sleep(1)
    sampler = gevent.spawn(sample_wal) if db is not None else None
    gc0 = _full_collections()
    upd0 = db.job_updates() if db is not None else (0, 0)
    t0, c0 = time.monotonic(), _cpu()
    commits0 = db.commits() if db is not None else 0
    pool = gevent.pool.Pool(n)
    for i in range(n):
        pool.spawn(one, i)
    pool.join()
    wall, cpu = time.monotonic() - t0, _cpu() - c0
    commits = db.commits() - commits0 if db is not None else 0
    gc1 = _full_collections()
    gevent.sleep(1.5)       # the backends' last statistics
    upd1 = db.job_updates() if db is not None else (0, 0)
    if db is not None and args.timeline:
        print("  jobs at the step's end:", ", ".join(db.vacuums()), flush=True)
    watcher.kill()
    if sampler is not None:
        sampler.kill()
    seconds = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(flushes, flushes[1:])]
    per_flush = [ms / n for n, ms in seconds if n]
    backend.stop()
    if args.timeline:
        _timeline(stamps, delays, args.timeline)
    return {"calls": n, "done": done[0], "ok": results["success"], "peak_concurrent": peak[0], "events": len(delays),
            "wall_s": wall, "cpu_s": cpu, "cores": cpu / wall, "commits_per_s": commits / wall,
            "p50_ms": _pct(delays, 50) * 1000, "p99_ms": _pct(delays, 99) * 1000,
            "max_ms": max(delays) * 1000 if delays else float("nan"), "renewals": len(renewals),
            "renew_p99_ms": _pct(renewals, 99) * 1000, "full_gcs": gc1[0] - gc0[0], "full_gc_ms": (gc1[1] - gc0[1]) * 1000,
            "wal_flushes": sum(n for n, _ in seconds),
            "wal_flush_ms": sum(ms for _, ms in seconds) / max(1, sum(n for n, _ in seconds)),
            "wal_worst_ms": max(per_flush, default=0.0),
            "updates": upd1[0] - upd0[0], "hot": upd1[1] - upd0[1]}


def _full_collections() -> tuple[float, float]:
    """Full garbage collections so far and their total pause (faxd's own histogram)."""
    from faxd.metrics import REGISTRY
    labels = {"generation": "2"}
    return (REGISTRY.get_sample_value("faxd_gc_pause_seconds_count", labels) or 0,
            REGISTRY.get_sample_value("faxd_gc_pause_seconds_sum", labels) or 0)


def _timeline(stamps: list[float], delays: list[float], width: float) -> None:
    """The delays' p50/p99/max per window of the step (when the slow events came)."""
    if not stamps:
        return
    t0 = min(stamps)
    windows: dict[int, list[float]] = collections.defaultdict(list)
    for t, d in zip(stamps, delays):
        windows[int((t - t0) // width)].append(d)
    for w in sorted(windows):
        ds = windows[w]
        print(f"  t={w * width:5.0f}s events={len(ds):6d} p50={_pct(ds, 50) * 1000:7.1f} ms "
              f"p99={_pct(ds, 99) * 1000:7.1f} ms max={max(ds) * 1000:7.1f} ms", flush=True)


def main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m bench esl")
    p.add_argument("--calls", default="500,1000,2000")
    p.add_argument("--pace", type=float, default=1.0, help="1.0 = the recorded real-time pace")
    p.add_argument("--ramp", type=float, default=20.0, help="seconds over which each step's calls start")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--lease", type=float, default=30.0,
                   help="lease seconds: each call renews its lease every third of it, as the job engine "
                        "does (faxd's lease_seconds; 0: no renewals)")
    p.add_argument("--commit", choices=("group", "each"), default="group",
                   help="group: faxd's group commit (default); each: one commit per write")
    p.add_argument("--writers", type=int, default=2, help="group commit writers (faxd's commit_writers)")
    p.add_argument("--start", choices=("one", "each"), default="one",
                   help="one: a call's job and attempt rows in one statement (default); each: a transaction "
                        "of two INSERTs per call (the benchmark before)")
    p.add_argument("--jobs-fillfactor", type=int, default=None,
                   help="the jobs table's fillfactor (default: the schema's, 70; 100: PostgreSQL's default)")
    p.add_argument("--unsettled", action="store_true",
                   help="leave the start-up in the garbage collector's walks (faxd embedded in another "
                        "program); default: frozen, as `faxd run` does")
    p.add_argument("--timeline", type=float, default=0,
                   help="print the delays' percentiles per window of this many seconds (0: off)")
    p.add_argument("--database-url", default=os.environ.get("FAXD_BENCH_DATABASE_URL"),
                   help="default: an embedded PostgreSQL of its own (no other load on it)")
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="faxd-bench-esl-")
    pg = None
    try:
        admin = args.database_url
        if not admin:
            from faxd.store.embedded import EmbeddedPostgres
            os.chmod(tmp, 0o755)
            pg = EmbeddedPostgres(os.path.join(tmp, "postgres"), dbname="postgres")
            admin = pg.start()
            conn = psycopg2.connect(admin)
            conn.autocommit = True
            with conn.cursor() as cur:    # the WAL flushes' time in pg_stat_wal (its own cluster only)
                cur.execute("ALTER SYSTEM SET track_wal_io_timing = on")
                cur.execute("SELECT pg_reload_conf()")
            conn.close()
        from faxd.spandsp.testdoc import make_text_tiff
        tiff = make_text_tiff(os.path.join(tmp, "doc.tif"), 1)
        emu = subprocess.Popen([sys.executable, "-m", "faxd.testing.esl", "--port", "0", "--no-dsp",
                                "--pace", str(args.pace), "--route", "*=receive", "--spool", os.path.join(tmp, "fs")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = emu.stdout.readline().split()
        emu_url = f"esl://:ClueCon@{line[1]}"
        db = Database(admin, commit_writers=args.writers if args.commit == "group" else 0, start=args.start,
                      fillfactor=args.jobs_fillfactor)
        from faxd import metrics
        metrics.watch_gc()
        if not args.unsettled:
            from faxd.green import settle_heap
            settle_heap()       # as `faxd run` does once it serves
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
                          f"{r['cores']:.3f} cores  commits/s={r['commits_per_s']:.0f}  "
                          f"delay p50={r['p50_ms']:.1f} ms p99={r['p99_ms']:.1f} ms "
                          f"max={r['max_ms']:.1f} ms"
                          + (f"  lease renewals={r['renewals']} p99={r['renew_p99_ms']:.1f} ms" if r["renewals"] else "")
                          + f"  full GCs={r['full_gcs']:.0f} ({r['full_gc_ms']:.0f} ms)"
                          + (f"  WAL flushes={r['wal_flushes']} mean={r['wal_flush_ms']:.2f} ms "
                             f"(worst second {r['wal_worst_ms']:.2f} ms)" if r["wal_flushes"] else "")
                          + (f"  job updates={r['updates']} HOT={r['hot'] / r['updates']:.0%}" if r["updates"] else ""),
                          flush=True)
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

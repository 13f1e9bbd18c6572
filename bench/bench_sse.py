"""SSE fan-out benchmark: one faxd node, faxes on the software line, 0 / 100 / 1,000 clients on
the account's event stream (one selector process, faxd/testing/sse_swarm.py).

Measures per round (rounds interleaved so background load falls on every case):
  - events per second delivered to the clients (frames received / round time);
  - faxd's CPU seconds per fax (utime+stime of the faxd process), hence the CPU added per fax
    per 100 clients against the round without clients;
  - dispatch latency p50/p99 (``prepared`` -> ``dialing`` event, stamped by PostgreSQL);
  - the fan-out process's CPU seconds per fax (python -m faxd.fanout, which writes the streams).
``--inprocess`` runs the streams inside faxd instead (FAXD_EVENTS_PROCESS=0), for comparison.
Goal: 1,000 clients with no effect on dispatch p99 beyond 20%.

Usage: python -m bench sse [--rounds N] [--faxes N] [--clients 0,100,1000] [--inprocess] [--events-nice N]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import requests

from bench.bench_engine import Node, Scratch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = b"faxd bench page\n" + b"The quick brown fox jumps over the lazy dog.\n" * 20


def _cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fanout_pid(pid: int) -> int | None:
    """faxd's fan-out child process (python -m faxd.fanout), if it runs one."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for child in f.read().split():
                with open(f"/proc/{child}/cmdline", "rb") as c:
                    if b"faxd.fanout" in c.read():
                        return int(child)
    return None


class Client:
    def __init__(self, base_url: str, dsn: str):
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM accounts WHERE name = 'bootstrap'")
            self.account = cur.fetchone()[0]
        conn.close()
        self.base = base_url
        self.dsn = dsn

    def login(self, api_key: str) -> str:
        r = requests.put(self.base + "/v2/api_auth", json={"data": {"api_key": api_key}}, timeout=10)
        self.token = r.json()["auth_token"]
        return self.token

    def send(self, number: str) -> str:
        doc = {"to_number": number, "from_number": "+12025550100", "retries": 0}
        r = requests.put(f"{self.base}/v2/accounts/{self.account}/faxes", headers={"X-Auth-Token": self.token},
                         files=[("content", ("fax.json", json.dumps({"data": doc}), "application/json")),
                                ("content", ("page.txt", TEXT, "text/plain"))], timeout=60)
        assert r.status_code in (200, 201), r.text
        return r.json()["data"]["id"]

    def finished(self, jobs: list[str]) -> bool:
        conn = psycopg2.connect(self.dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM jobs WHERE id = ANY(%s) AND status IN ('completed', 'failed')",
                            (jobs,))
                return cur.fetchone()[0] == len(jobs)
        finally:
            conn.close()

    def events_of(self, jobs: list[str]) -> int:
        conn = psycopg2.connect(self.dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM events WHERE job_id = ANY(%s)", (jobs,))
                return cur.fetchone()[0]
        finally:
            conn.close()

    def latencies(self, jobs: list[str]) -> list[float]:
        conn = psycopg2.connect(self.dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("""SELECT extract(epoch FROM d.created - p.created) FROM events p
                                 JOIN events d ON d.job_id = p.job_id AND d.kind = 'dialing'
                                WHERE p.kind = 'prepared' AND p.job_id = ANY(%s)""", (jobs,))
                return [float(r[0]) for r in cur.fetchall()]
        finally:
            conn.close()


def _round(node, client, clients: int, faxes: int, base: int) -> dict:
    swarm = None
    url = f"{client.base}/v2/accounts/{client.account}/faxes/events"
    if clients:
        # The clients stand for remote browsers and terminals: their one reader process runs at
        # nice 19, so that on a small machine it takes the CPU faxd leaves.
        swarm = subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "faxd.testing.sse_swarm", url,
                                  client.token, str(clients)],
                                 cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = json.loads(swarm.stdout.readline())
        assert hello == {"connected": clients}, hello
    fanout = _fanout_pid(node.proc.pid)
    cpu0, fan0, t0 = _cpu(node.proc.pid), _cpu(fanout), time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(lambda i: client.send(f"+1202556{base + i:04d}"), range(faxes)))
    while not client.finished(jobs):
        time.sleep(0.05)
    wall, cpu = time.monotonic() - t0, _cpu(node.proc.pid) - cpu0
    stats = {"events": 0, "min_events": 0, "client_cpu": 0.0}
    if swarm is not None:
        swarm.stdin.write(f"{client.events_of(jobs)}\n")    # let every client receive them all
        swarm.stdin.flush()
        stats = json.loads(swarm.stdout.readline())
        stats["client_cpu"] = _cpu(swarm.pid)
        swarm.stdin.close()
        swarm.wait(30)
    fan_cpu = _cpu(fanout) - fan0      # after the swarm has every event: all writes counted
    return {"fan_cpu": fan_cpu, "clients": clients, "wall": wall, "expected": client.events_of(jobs) if clients else 0, "cpu": cpu, "lat": client.latencies(jobs), **stats}


def _p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench sse")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--faxes", type=int, default=30)
    ap.add_argument("--clients", default="0,100,1000")
    ap.add_argument("--inprocess", action="store_true", help="streams written inside faxd (FAXD_EVENTS_PROCESS=0)")
    ap.add_argument("--events-nice", type=int, default=10, help="FAXD_EVENTS_NICE of the fan-out process")
    args = ap.parse_args(argv)
    cases = [int(c) for c in args.clients.split(",")]
    scratch = Scratch()
    home = tempfile.mkdtemp(prefix="faxd-bench-sse-")
    node = Node(home, scratch.url, os.path.join(home, "faxd.log"),
                extra_env={"FAXD_HTTP_MAX_CONNECTIONS_PER_CLIENT": "0", "FAXD_SUBMIT_RATE_LIMIT": "-1",
                           "FAXD_SUBMIT_DAILY_QUOTA": "-1", "FAXD_MAX_OUTBOUND": "100",
                           "FAXD_EVENTS_PROCESS": "0" if args.inprocess else "1",
                           "FAXD_EVENTS_NICE": str(args.events_nice)})
    try:
        with open(os.path.join(home, "bootstrap.json")) as f:
            key = json.load(f)["api_key"]
        client = Client(node.base_url, scratch.dsn)
        client.login(key)
        _round(node, client, 0, 5, 9000)     # warm-up: converters, caches
        results = {c: [] for c in cases}
        base = 0
        for r in range(args.rounds):
            for c in cases:
                res = _round(node, client, c, args.faxes, base)
                base += args.faxes
                results[c].append(res)
                print(f"round {r + 1} clients {c:5d}: {res['wall']:.2f} s, cpu {res['cpu']:.2f} s "
                      f"(fan-out {res['fan_cpu']:.2f} s), "
                      f"dispatch p99 {_p(res['lat'], .99) * 1000:.1f} ms, events delivered {res['events']}",
                      flush=True)
        print("\nclients  events/s delivered  cpu/fax (ms)  dispatch p50 (ms)  p99 (ms)  p99 vs 0 clients")
        base_cpu = sum(x["cpu"] for x in results[cases[0]]) / (args.rounds * args.faxes)
        base_p99 = _p([l for x in results[cases[0]] for l in x["lat"]], .99)
        for c in cases:
            rs = results[c]
            lat = [l for x in rs for l in x["lat"]]
            ev_s = sum(x["events"] for x in rs) / sum(x["wall"] for x in rs)
            cpu_fax = sum(x["cpu"] for x in rs) / (args.rounds * args.faxes)
            p99 = _p(lat, .99)
            print(f"{c:7d}  {ev_s:19.0f}  {cpu_fax * 1000:12.1f}  {_p(lat, .5) * 1000:17.1f}  {p99 * 1000:8.1f}  "
                  f"{(p99 / base_p99 - 1) * 100:+15.0f}%")
            if c:
                added = (cpu_fax - base_cpu) / (c / 100)
                client_cpu = sum(x["client_cpu"] for x in rs) / (args.rounds * args.faxes)
                fan_cpu = sum(x["fan_cpu"] for x in rs) / (args.rounds * args.faxes)
                print(f"         added faxd CPU per fax per 100 clients: {added * 1000:.2f} ms; fan-out process "
                      f"{fan_cpu * 1000:.1f} ms per fax (the clients' own process, on the same cores: "
                      f"{client_cpu * 1000:.1f} ms per fax)")
        short = [(c, x["min_events"], x["expected"]) for c in cases if c for x in results[c]
                 if x["min_events"] != x["expected"]]
        print("every client got every event" if not short else f"clients short of events: {short}")
    finally:
        node.stop()
        scratch.drop()
    return 0

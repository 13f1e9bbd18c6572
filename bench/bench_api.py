"""REST API benchmark: wrk at concurrency 32 against the real server (gevent.pywsgi, as in
``faxd run``), in a process of its own, on loopback.

Measures, interleaved in rounds, requests/s and p50/p99 latency of
  - ``GET /bench/bare``: a bare Falcon endpoint on the same server (the ceiling);
  - ``PUT /v2/accounts/{id}/faxes``: JSON job with a URL document (the fax policy and the
    submission counter checked on each, with limits set high enough never to refuse);
  - ``GET /v2/accounts/{id}/faxes/outbox?page_size=50`` on an account with 100,000 faxes;
  - ``GET /v2/accounts/{id}/faxes/outgoing/{fax_id}``;
and, for information, the same listing with a different ``created_to`` on every request
(``outbox_uncached``): pages the listing cache has not seen, what a page costs the first
time (the benchmark's listing asks the same first page again and again, as polling clients
do, so from its third request on it is served from the cache while its rows are unchanged).
Goals: PUT >= 40% and the listing >= 30% of the bare endpoint's req/s; p99 < 50 ms.

Usage: python -m bench api [--rounds N] [--seconds S] [--faxes N] [--cases bare,put_faxes]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg2
import psycopg2.extensions
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONCURRENCY = 32
JOB = {"data": {"document": {"url": "http://myserver.com/fax.pdf", "method": "get"}, "retries": 3,
                "from_name": "Test Fax", "from_number": "18884732963", "to_name": "To Name",
                "to_number": "18884732963"}}


def serve(dsn: str, port_file: str) -> int:
    """The server process: the real app plus one bare Falcon route."""
    from faxd.api.app import create_app
    from faxd.config import Config
    from faxd.api.server import ApiServer
    from faxd.store import PostgresStore

    class Bare:
        public = True

        def on_get(self, req, resp):
            resp.media = {"ok": True}

    config = Config.load(path=None, env={}, home=tempfile.mkdtemp(prefix="faxd-bench-api-"), database_url=dsn)
    store = PostgresStore(dsn, config.db_pool_size)
    app = create_app(config, store)
    app.add_route("/bench/bare", Bare())
    server = ApiServer(("127.0.0.1", 0), app)
    server.bind()
    server.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.address[1]))
    os.rename(port_file + ".tmp", port_file)
    import gevent
    gevent.wait()
    return 0


class Scratch:
    def __init__(self):
        self.admin = os.environ.get("FAXD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        self.name = f"faxd_bench_api_{os.getpid()}"
        self._sql(f'CREATE DATABASE "{self.name}"')
        self.dsn = psycopg2.extensions.make_dsn(self.admin, dbname=self.name)

    def _sql(self, statement):
        conn = psycopg2.connect(self.admin)
        conn.autocommit = True
        try:
            conn.cursor().execute(statement)
        finally:
            conn.close()

    def drop(self):
        self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: float, script: str | None = None, headers=(), server_pid: int | None = None) -> dict:
    cmd = ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds:g}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cpu0 = _cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    cpu = _cpu_seconds(server_pid) - cpu0 if server_pid else 0.0
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": int(bad.group(1)) if bad else 0,
            "cpu_ms": 1000 * cpu / max(total, 1),
            "socket_errors": errors.group(0) if errors else ""}


def main(argv) -> int:
    if argv and argv[0] == "--serve":
        return serve(argv[1], argv[2])
    ap = argparse.ArgumentParser(prog="python -m bench api")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--faxes", type=int, default=100_000)
    ap.add_argument("--cases", default="", help="comma-separated subset, e.g. bare,put_faxes (goals need all)")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk (make setup does)")
        return 1

    from faxd.store import PostgresStore
    from faxd.store.migrate import migrate
    scratch = Scratch()
    tmp = tempfile.mkdtemp(prefix="faxd-bench-api-")
    proc = None
    try:
        migrate(scratch.dsn)
        store = PostgresStore(scratch.dsn, 2)
        acct = store.create_account("bench")
        # Limits the benchmark never reaches, so that every PUT is counted (the check's cost is
        # measured) and none refused.
        store.set_fax_policy(acct.account_id, {"submit_rate_limit": 10_000_000, "submit_daily_quota": 10_000_000})
        t = time.perf_counter()
        with store.transaction() as c:
            c.execute(
                "INSERT INTO jobs (id, account_id, status, to_number, from_number, doc, tx_result, "
                "  page_count, attempts, created, modified, delivered) "
                "SELECT md5('bench' || g::text), %(a)s, (ARRAY['completed','failed'])[1 + g %% 2], "
                "  '+18884732963', '+18884732963', %(doc)s::jsonb, '{\"success\": true, \"pages_sent\": 1}'::jsonb, "
                "  1, 1, now() - g * interval '1 second', now(), now() "
                "FROM generate_series(1, %(n)s) g",
                {"a": acct.account_id, "n": args.faxes, "doc": json.dumps(JOB["data"])})
            c.execute("ANALYZE jobs")
        print(f"account with {args.faxes} faxes created in {time.perf_counter() - t:.1f} s", flush=True)
        store.close()

        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([sys.executable, "-m", "bench", "api", "--serve", scratch.dsn, port_file],
                                cwd=ROOT)
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("the API server did not start")
            time.sleep(0.05)
        base = f"http://127.0.0.1:{open(port_file).read()}"
        token = requests.put(f"{base}/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                             timeout=10).json()["auth_token"]
        acct_url = f"{base}/v2/accounts/{acct.account_id}"
        job_id = requests.put(acct_url + "/faxes", json=JOB, headers={"X-Auth-Token": token},
                              timeout=10).json()["data"]["id"]
        put_lua = os.path.join(tmp, "put.lua")
        with open(put_lua, "w") as f:
            f.write('wrk.method = "PUT"\n'
                    f"wrk.body = {json.dumps(json.dumps(JOB))}\n"
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["X-Auth-Token"] = "{token}"\n')
        uncached_lua = os.path.join(tmp, "uncached.lua")
        newest = int(time.time()) + 62167219200
        with open(uncached_lua, "w") as f:
            # created_to anywhere in the account's 100,000 seconds: a page not seen before.
            f.write(f'wrk.headers["X-Auth-Token"] = "{token}"\n'
                    "math.randomseed(os.time())\n"
                    "request = function()\n"
                    f'  return wrk.format("GET", "/v2/accounts/{acct.account_id}/faxes/outbox?page_size=50'
                    f'&created_to=" .. ({newest} - math.random(0, {args.faxes}))) \n'
                    "end\n")
        auth = [f"X-Auth-Token: {token}"]
        cases = {
            "bare": dict(url=f"{base}/bench/bare"),
            "put_faxes": dict(url=acct_url + "/faxes", script=put_lua),
            "outbox_list": dict(url=acct_url + "/faxes/outbox?page_size=50", headers=auth),
            "outgoing_get": dict(url=f"{acct_url}/faxes/outgoing/{job_id}", headers=auth),
            "outbox_uncached": dict(url=acct_url + "/faxes/outbox", script=uncached_lua),
        }
        if args.cases:
            cases = {name: case for name, case in cases.items() if name in args.cases.split(",")}
        for name, case in cases.items():   # warm-up (and a check that each answers 2xx)
            r = wrk(seconds=1, **case)
            if r["non2xx"]:
                raise SystemExit(f"{name}: {r['non2xx']} non-2xx responses in warm-up")
        results = {name: [] for name in cases}
        for rnd in range(args.rounds):
            for name, case in cases.items():
                r = wrk(seconds=args.seconds, server_pid=proc.pid, **case)
                results[name].append(r)
                print(f"round {rnd + 1} {name:15s} {r['rps']:8.0f} req/s  p50 {r['p50']:6.2f} ms  "
                      f"p99 {r['p99']:6.2f} ms  server CPU {r['cpu_ms']:5.2f} ms/req  "
                      f"non-2xx {r['non2xx']} {r['socket_errors']}", flush=True)
        bare = statistics.median(r["rps"] for r in results["bare"])
        print(f"\nmedians over {args.rounds} rounds, wrk -t2 -c{CONCURRENCY} -d{args.seconds:g}s, loopback:")
        summary = {}
        for name, rs in results.items():
            rps = statistics.median(r["rps"] for r in rs)
            p50 = statistics.median(r["p50"] for r in rs)
            p99 = statistics.median(r["p99"] for r in rs)
            cpu = statistics.median(r["cpu_ms"] for r in rs)
            summary[name] = {"rps": round(rps), "ratio_to_bare": round(rps / bare, 3),
                             "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "server_cpu_ms": round(cpu, 3)}
            print(f"  {name:15s} {rps:8.0f} req/s  {rps / bare:6.1%} of bare  p50 {p50:6.2f} ms  "
                  f"p99 {p99:6.2f} ms  server CPU {cpu:5.2f} ms/req")
        if args.cases:
            print(json.dumps({"bench": "api", "summary": summary}))
            return 0
        goals = {
            "put_faxes >= 40% of bare": summary["put_faxes"]["ratio_to_bare"] >= 0.40,
            "outbox_list >= 30% of bare": summary["outbox_list"]["ratio_to_bare"] >= 0.30,
            "p99 < 50 ms (all)": all(s["p99_ms"] < 50 for name, s in summary.items()
                                     if name != "outbox_uncached"),
        }
        for goal, ok in goals.items():
            print(f"  goal {goal}: {'met' if ok else 'NOT met'}")
        print(json.dumps({"bench": "api", "summary": summary, "goals": goals}))
        return 0
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        scratch.drop()
        shutil.rmtree(tmp, ignore_errors=True)

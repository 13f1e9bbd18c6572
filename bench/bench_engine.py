"""Job engine benchmark: dispatch latency and whole-process CPU per fax vs the DSP alone.

1. Dispatch latency on an idle system, one job at a time:
   - ready job committed (document already converted; what the API's PUT leaves once the
     attacher is done) -> "originate" logged by faxd;
   - ``PUT /faxes`` (multipart, a one-page text document) answered -> originate, which
     includes the document conversion.
2. 200 one-page faxes on the software line in T.38 mode: faxd's process CPU per fax (claim,
   transmission, both T.30 endpoints, results, notifications) vs the same 200 T.38 session
   pairs run by the spandsp bindings alone, in this run, interleaved in rounds. Two pages:
   - ``letter``: a full A4 page of dense 9 pt text at fine resolution (one page of the spandsp
     benchmark's document, ~55 KB of G4): what a typical fax page costs; the goal's figure;
   - ``sparse``: 41 short lines of text (~2 KB of G4), nearly blank: T.30 costs almost nothing
     there, so its ratio shows faxd's own cost per call at its most visible.
   Each reports faxd's CPU beyond the DSP as ``overhead_ms_per_fax``.

Usage: python -m bench engine [--samples N] [--faxes N]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

import gevent
import psycopg2
import psycopg2.extensions
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = b"faxd benchmark page\n" + b"The quick brown fox jumps over the lazy dog.\n" * 40
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*\[job=([0-9a-f]{32}) call=\S+\] originate to")


def _percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Scratch:
    """A scratch database on the benchmark server."""

    def __init__(self):
        self.admin = os.environ.get("FAXD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        self.name = f"faxd_bench_{os.getpid()}"
        self._sql(f'CREATE DATABASE "{self.name}"')
        self.dsn = psycopg2.extensions.make_dsn(self.admin, dbname=self.name)
        parts = psycopg2.extensions.parse_dsn(self.dsn)
        self.url = (f"postgresql://{parts.get('user', 'postgres')}@{parts.get('host', '127.0.0.1')}:"
                    f"{parts.get('port', '5432')}/{self.name}")

    def _sql(self, sql):
        conn = psycopg2.connect(self.admin)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.close()

    def drop(self):
        self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Node:
    def __init__(self, home: str, url: str, log_path: str, extra_env: dict | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
        env.update(FAXD_HOME=home, FAXD_DATABASE_URL=url, FAXD_API_LISTEN="127.0.0.1:0", FAXD_SMTP_LISTEN="",
                   FAXD_T38="request", FAXD_MAX_CHANNELS="1000")
        env.update(extra_env or {})
        self.log = open(log_path, "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "faxd", "run"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.base_url = None
        while self.base_url is None:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("faxd did not start; see " + log_path)
            if line.startswith("faxd: API listening on "):
                self.base_url = line.split()[-1]

    def originate_times(self) -> dict[str, datetime]:
        self.log.flush()
        out = {}
        with open(self.log.name) as f:
            for line in f:
                m = _LOG_TIME.match(line)
                if m:
                    out[m.group(2)] = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()


def _wait(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        gevent.sleep(0.002)


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench engine")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--faxes", type=int, default=200)
    args = ap.parse_args(argv)

    from faxd.config import Config
    from faxd.documents import DocumentPipeline
    from faxd.spandsp.cli import run_once
    from faxd.spandsp.testdoc import make_text_tiff
    from faxd.store import PostgresStore
    from faxd.store.migrate import migrate

    tmp = tempfile.mkdtemp(prefix="faxd-bench-")
    db = Scratch()
    migrate(db.dsn)
    store = PostgresStore(db.dsn, 4)
    acct = store.create_account("bench")
    with store.transaction() as cur:
        cur.execute("UPDATE accounts SET max_outbound = 1000")
    pipeline = DocumentPipeline(Config.load(env={}))
    fax = pipeline.convert([(TEXT, "text/plain")])
    pdf = pipeline.tiff_to_pdf(fax.tiff)
    tiff_path = os.path.join(tmp, "page.tif")
    with open(tiff_path, "wb") as f:
        f.write(fax.tiff)

    def ready_job(number, tiff=fax.tiff, page_pdf=pdf):
        with store.transaction() as cur:
            job = store.enqueue_job(acct.account_id, {"to_number": number, "from_number": "+12025550100"},
                                    status="pending", cur=cur)
            store.add_document(acct.account_id, job_id=job["id"], role="fax_tiff", content_type="image/tiff",
                               data=tiff, pages=1, cur=cur)
            store.add_document(acct.account_id, job_id=job["id"], role="pdf", content_type="application/pdf",
                               data=page_pdf, pages=1, cur=cur)
            cur.execute("UPDATE jobs SET page_count = 1 WHERE id = %s", (job["id"],))
        return job["id"], datetime.now()

    node = Node(os.path.join(tmp, "home"), db.url, os.path.join(tmp, "faxd.log"))
    report = {}
    try:
        token = requests.put(node.base_url + "/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                             timeout=10).json()["auth_token"]
        # --- 1. latency, idle system, one at a time
        ready, put = [], []
        for i in range(args.samples):
            job_id, t0 = ready_job(f"+1202555{5000 + i:04d}")
            _wait(lambda: job_id in node.originate_times())
            ready.append((node.originate_times()[job_id] - t0).total_seconds() * 1000)
            body = [("content", ("fax.json", json.dumps({"data": {
                        "to_number": f"+1202555{6000 + i:04d}", "from_number": "+12025550100"}}), "application/json")),
                    ("content", ("page.txt", TEXT, "text/plain"))]
            r = requests.put(f"{node.base_url}/v2/accounts/{acct.account_id}/faxes", files=body,
                             headers={"X-Auth-Token": token}, timeout=30)
            t1 = datetime.now()
            job_id = r.json()["data"]["id"]
            _wait(lambda: job_id in node.originate_times())
            put.append((node.originate_times()[job_id] - t1).total_seconds() * 1000)
            gevent.sleep(0.3)  # idle between samples
        report["dispatch_ms_ready_job"] = {"p50": round(statistics.median(ready), 1),
                                           "p99": round(_percentile(ready, 99), 1), "max": round(max(ready), 1)}
        report["dispatch_ms_put_incl_conversion"] = {"p50": round(statistics.median(put), 1),
                                                     "p99": round(_percentile(put, 99), 1)}
        _wait(lambda: store.count_final_jobs(acct.account_id) >= 2 * args.samples)

        # --- 2. CPU per fax, faxd vs the DSP alone, interleaved in rounds
        letter = make_text_tiff(os.path.join(tmp, "letter.tif"), 1)
        with open(letter, "rb") as f:
            letter_tiff = f.read()
        pages = {"letter": (letter_tiff, pipeline.tiff_to_pdf(letter_tiff), letter),
                 "sparse": (fax.tiff, pdf, tiff_path)}
        rounds = 4
        per_round = max(1, args.faxes // rounds)
        cpu = {name: {"faxd": 0.0, "dsp": 0.0} for name in pages}
        serial = 0
        for rnd in range(rounds):
            for name, (tiff, page_pdf, path) in pages.items():
                done_before = store.count_final_jobs(acct.account_id)
                c0 = _cpu_seconds(node.proc.pid)
                for _ in range(per_round):
                    ready_job(f"+1203555{serial:04d}", tiff, page_pdf)
                    serial += 1
                _wait(lambda: store.count_final_jobs(acct.account_id) >= done_before + per_round, timeout=600)
                cpu[name]["faxd"] += _cpu_seconds(node.proc.pid) - c0
                r0 = resource.getrusage(resource.RUSAGE_SELF)
                for _ in range(per_round):
                    run = run_once(path, os.path.join(tmp, "rx.tif"), t38=True)
                    assert run["completion_code"] == 0, run
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                cpu[name]["dsp"] += (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        with store.transaction() as cur:
            cur.execute("SELECT count(*) AS n FROM jobs WHERE account_id = %s AND status = 'completed'",
                        (acct.account_id,))
            completed = cur.fetchone()["n"]
        n = rounds * per_round
        report["faxes_per_page_kind"] = n
        report["completed_total"] = completed
        for name, c in cpu.items():
            report[name] = {"page_bytes": len(pages[name][0]),
                            "faxd_cpu_ms_per_fax": round(1000 * c["faxd"] / n, 2),
                            "dsp_only_cpu_ms_per_fax": round(1000 * c["dsp"] / n, 2),
                            "overhead_ms_per_fax": round(1000 * (c["faxd"] - c["dsp"]) / n, 2),
                            "ratio_faxd_vs_dsp": round(c["faxd"] / c["dsp"], 3)}
    finally:
        node.stop()
        store.close()
        db.drop()
    print(json.dumps({"bench": "engine", **report}, indent=2))
    return 0

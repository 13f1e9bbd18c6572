"""Submission features at scale: broadcasts and scheduled jobs.

1. Broadcast: one ``PUT /faxes`` of a 3-page PDF to N recipients (default 1,000), through the
   real Falcon app on the real store and the real document pipeline (Ghostscript). Reported:
   the request's wall time, jobs accepted per second, and the conversions performed (goal:
   exactly one per request). Baseline in the same run: N separate ``PUT /faxes`` of the same
   document (one job each; the attacher would convert each of them).
2. Claims with scheduled jobs: the cost of the dispatcher's claim (``claim_next_job``, the
   store's method, as the dispatcher calls it) with 100 due jobs, first alone, then with
   S scheduled-but-not-due jobs (default 100,000; ``run_after`` tomorrow, as ``send_at`` or a
   closed send window leaves them) in the table. Goal: the same cost (within 20%).

Usage: python -m bench submit [--recipients N] [--scheduled S] [--claims N]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time

import psycopg2
from falcon import testing

from bench.bench_engine import Scratch


def _pdf(pages: int) -> bytes:
    from PIL import Image, ImageDraw
    frames = []
    for n in range(pages):
        im = Image.new("L", (1700, 2200), 255)
        d = ImageDraw.Draw(im)
        for row in range(60):
            d.text((100, 100 + row * 33), f"Page {n + 1} line {row + 1}: the quick brown fox jumps over the lazy dog",
                   fill=0)
        frames.append(im.convert("RGB"))
    out = io.BytesIO()
    frames[0].save(out, format="PDF", save_all=True, append_images=frames[1:], resolution=200)
    return out.getvalue()


def _multipart(meta: dict, doc: bytes) -> tuple[bytes, str]:
    boundary = "faxdbenchboundary"
    body = (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps({'data': meta})}\r\n"
            f"--{boundary}\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=doc.pdf"
            f"\r\n\r\n").encode() + doc + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/mixed; boundary={boundary}"


def _app(scratch, home):
    from faxd.api.app import create_app
    from faxd.config import Config
    from faxd.documents.pipeline import DocumentPipeline
    from faxd.store import PostgresStore
    from faxd.store.migrate import migrate

    migrate(scratch.dsn)
    config = Config.load(path=None, env={}, home=home, database_url=scratch.dsn)
    store = PostgresStore(scratch.dsn, pool_size=8)
    pipeline = DocumentPipeline(config)
    conversions = []
    real = pipeline.convert

    def counted(*args, **kw):
        conversions.append(1)
        return real(*args, **kw)
    pipeline.convert = counted
    return config, store, testing.TestClient(create_app(config, store, documents=pipeline)), conversions


def _account(client, store, name):
    acct = store.create_account(name)
    store.set_fax_policy(acct.account_id, {"submit_rate_limit": -1, "submit_daily_quota": -1,
                                           "allow_international": True})
    token = client.simulate_put("/v2/api_auth", json={"data": {"api_key": acct.api_key}}).json["auth_token"]
    return acct.account_id, {"X-Auth-Token": token}


def bench_broadcast(client, store, conversions, recipients: int) -> dict:
    doc = _pdf(3)
    account, headers = _account(client, store, "broadcaster")
    numbers = [f"+1202{5550000 + i:07d}" for i in range(recipients)]
    body, ctype = _multipart({"from_number": "+12025559999", "to_number": numbers}, doc)
    before = len(conversions)
    t0 = time.perf_counter()
    r = client.simulate_put(f"/v2/accounts/{account}/faxes", body=body, headers={**headers, "Content-Type": ctype})
    broadcast_s = time.perf_counter() - t0
    assert r.status_code == 201, r.text
    converted = len(conversions) - before
    # Baseline: the same recipients one request each (the attacher converts each job later).
    account2, headers2 = _account(client, store, "one by one")
    t0 = time.perf_counter()
    for n in numbers:
        body, ctype = _multipart({"from_number": "+12025559999", "to_number": n}, doc)
        r = client.simulate_put(f"/v2/accounts/{account2}/faxes", body=body,
                                headers={**headers2, "Content-Type": ctype})
        assert r.status_code == 201, r.text
    single_s = time.perf_counter() - t0
    return {"recipients": recipients, "broadcast_s": round(broadcast_s, 2),
            "broadcast_jobs_per_s": round(recipients / broadcast_s, 1), "conversions_in_broadcast": converted,
            "single_requests_s": round(single_s, 2), "single_jobs_per_s": round(recipients / single_s, 1),
            "conversions_later_for_single_requests": recipients,
            "pdf_bytes": len(doc)}


def _claim_ms(store, dsn, claims: int) -> float:
    """Median ms of claim_next_job with 100 due jobs kept due (each claimed job is put back)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    times = []
    try:
        for _ in range(claims):
            t0 = time.perf_counter()
            job = store.claim_next_job("bench-node", "software", 1000, 60)
            times.append((time.perf_counter() - t0) * 1000)
            assert getattr(job, "id", None), job
            with conn.cursor() as cur:
                cur.execute("UPDATE jobs SET status = 'pending', lease_owner = NULL, lease_expires = NULL, "
                            "attempts = 0, call_id = NULL WHERE id = %s", (job.id,))
                cur.execute("DELETE FROM job_attempts WHERE job_id = %s", (job.id,))
    finally:
        conn.close()
    return statistics.median(times)


def _insert_jobs(dsn, account: str, n: int, due: bool, prefix: str) -> None:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(f"""
            INSERT INTO jobs (id, account_id, status, to_number, from_number, doc, run_after, page_count)
            SELECT '{prefix}' || lpad(g::text, 10, '0'), %s, 'pending', '+1303' || lpad(g::text, 7, '0'),
                   '+12025559999', '{{}}', now() + CASE WHEN %s THEN interval '0' ELSE interval '1 day' END, 1
              FROM generate_series(1, %s) g""", (account, due, n))
        cur.execute(f"""
            INSERT INTO documents (id, account_id, job_id, role, content_type, size_bytes, sha256, data, pages)
            SELECT 'd' || j.id, j.account_id, j.id, 'fax_tiff', 'image/tiff', 4, '', '\\x49492a00', 1
              FROM jobs j WHERE j.id LIKE '{prefix}%%'""")
        cur.execute("ANALYZE jobs")
    conn.close()


def bench_scheduled(client, store, dsn, scheduled: int, claims: int) -> dict:
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("TRUNCATE jobs CASCADE")   # the broadcast benchmark's jobs are not part of this one
    conn.close()
    account, _ = _account(client, store, "scheduler")
    _insert_jobs(dsn, account, 100, True, "due")
    alone = _claim_ms(store, dsn, claims)
    _insert_jobs(dsn, account, scheduled, False, "later")
    with_scheduled = _claim_ms(store, dsn, claims)
    return {"due_jobs": 100, "scheduled_not_due": scheduled, "claim_ms_median_alone": round(alone, 3),
            "claim_ms_median_with_scheduled": round(with_scheduled, 3),
            "ratio": round(with_scheduled / alone, 2)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench submit")
    ap.add_argument("--recipients", type=int, default=1000)
    ap.add_argument("--scheduled", type=int, default=100_000)
    ap.add_argument("--claims", type=int, default=200)
    args = ap.parse_args(argv)
    scratch = Scratch()
    try:
        with tempfile.TemporaryDirectory() as home:
            _config, store, client, conversions = _app(scratch, home)
            out = {"bench": "submit", "broadcast": bench_broadcast(client, store, conversions, args.recipients),
                   "scheduled": bench_scheduled(client, store, scratch.dsn, args.scheduled, args.claims)}
            store.close()
        goals = {"one_conversion_per_broadcast": out["broadcast"]["conversions_in_broadcast"] == 1,
                 "claim_cost_flat_with_scheduled_jobs": out["scheduled"]["ratio"] <= 1.2}
        out["goals"] = goals
        print(json.dumps(out))
        return 0 if all(goals.values()) else 1
    finally:
        scratch.drop()

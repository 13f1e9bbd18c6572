"""Document preparation (the attacher) throughput, and fairness under one account's burst.

For each kind of document, a burst of jobs of one account is inserted in bulk (SQL, status
``attaching_files``, the document stored as the job's original, as the API stores it); the
real Attacher of one node (``attach_concurrency`` slots, default: two per core, at least 4)
then prepares them: fax TIFF + PDF rendition stored, job moved to ``pending``. Half a second
into the burst, one job of a second account is queued: its wait until ``pending`` is reported.

Kinds:
- ``tiff``: a fax-ready TIFF (1728 wide, 204x196, min-is-white, G4, one strip per page, as
  faxd's own converter writes it): taken as it is, no converter;
- ``tiff-strips``: the same page cut into strips of 37 rows (as tiffcp writes by default):
  re-encoded by tiffcp into one strip per page, losslessly;
- ``pdf``: a one-page text PDF: Ghostscript, bound by its own speed on the cores available.

Usage: python -m bench prepare [--tiffs 5000] [--strips 300] [--pdfs 300] [--concurrency N]
Uses FAXD_BENCH_DATABASE_URL (default: the server on 127.0.0.1:5432) for a scratch database.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

import gevent
import psycopg2

from bench.bench_engine import Scratch

TEXT = b"faxd benchmark page\n" + b"The quick brown fox jumps over the lazy dog.\n" * 40


def one_page_pdf(tmp: str) -> bytes:
    ps = ["%!PS", "/Courier findfont 10 scalefont setfont"]
    for line in range(60):
        ps.append(f"40 {800 - line * 12.5:.1f} moveto (Line {line + 1}: "
                  f"The quick brown fox jumps over the lazy dog. 0123456789) show")
    ps.append("showpage")
    src, out = os.path.join(tmp, "page.ps"), os.path.join(tmp, "page.pdf")
    with open(src, "w") as f:
        f.write("\n".join(ps))
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-sPAPERSIZE=a4",
                    f"-sOutputFile={out}", src], check=True)
    with open(out, "rb") as f:
        return f.read()


def in_strips(tmp: str, tiff: bytes) -> bytes:
    src, out = os.path.join(tmp, "one.tif"), os.path.join(tmp, "strips.tif")
    with open(src, "wb") as f:
        f.write(tiff)
    subprocess.run(["tiffcp", "-c", "g4", "-r", "37", src, out], check=True)
    with open(out, "rb") as f:
        return f.read()


def queue(cur, account: str, n: int, data: bytes, ctype: str, tag: str) -> None:
    """n jobs waiting for preparation, each with its document as the original, in bulk (one
    transaction, as the API queues a job with its documents)."""
    cur.execute("BEGIN")
    cur.execute("""
        INSERT INTO jobs (id, account_id, status, to_number, from_number, doc)
        SELECT md5(%(t)s || g), %(a)s, 'attaching_files', '+1' || (3000000000 + g)::text, '+12025550100',
               '{"retries": 1}'
          FROM generate_series(1, %(n)s) g""", {"a": account, "n": n, "t": tag})
    cur.execute("""
        INSERT INTO documents (id, account_id, job_id, role, seq, content_type, size_bytes, sha256, data)
        SELECT md5('o' || %(t)s || g), %(a)s, md5(%(t)s || g), 'original', 0, %(c)s, length(%(d)s), '', %(d)s
          FROM generate_series(1, %(n)s) g""", {"a": account, "n": n, "t": tag, "c": ctype,
                                                "d": psycopg2.Binary(data)})
    cur.execute("COMMIT")


def run_kind(db, store, attacher_factory, kind: str, n: int, data: bytes, ctype: str) -> dict:
    conn = psycopg2.connect(db.dsn)
    conn.autocommit = True
    cur = conn.cursor()
    queue(cur, "burst", n, data, ctype, kind)
    attacher = attacher_factory()
    t0 = time.monotonic()
    attacher.start()
    gevent.sleep(0.5)
    queue(cur, "other", 1, data, ctype, "other-" + kind)
    t_other = time.monotonic()
    other_wait = None
    try:
        while True:
            cur.execute("SELECT account_id, status, count(*) FROM jobs WHERE status <> 'attaching_files' "
                        "AND id IN (SELECT md5(%s || g) FROM generate_series(1, %s) g UNION ALL "
                        "SELECT md5(%s || 1)) GROUP BY 1, 2", (kind, n, "other-" + kind))
            done = {(a, s): c for a, s, c in cur.fetchall()}
            if other_wait is None and done.get(("other", "pending")):
                other_wait = time.monotonic() - t_other
            burst = sum(c for (a, _), c in done.items() if a == "burst")
            if burst >= n and other_wait is not None:
                break
            if time.monotonic() - t0 > 3600:
                raise SystemExit("preparation did not finish within an hour")
            gevent.sleep(0.05)
        elapsed = time.monotonic() - t0
    finally:
        attacher.stop_intake()
        attacher.stop()
    cur.execute("SELECT status, count(*) FROM jobs WHERE account_id = 'burst' AND id IN "
                "(SELECT md5(%s || g) FROM generate_series(1, %s) g) GROUP BY 1", (kind, n))
    statuses = dict(cur.fetchall())
    conn.close()
    return {"documents": n, "document_bytes": len(data), "seconds": round(elapsed, 2),
            "per_second": round(n / elapsed, 1), "statuses": statuses,
            "other_account_wait_s": round(other_wait, 3)}


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench prepare")
    ap.add_argument("--tiffs", type=int, default=5000)
    ap.add_argument("--strips", type=int, default=300)
    ap.add_argument("--pdfs", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=0)
    args = ap.parse_args(argv)

    from faxd.config import Config
    from faxd.documents import DocumentPipeline
    from faxd.outbound.attacher import Attacher, default_concurrency
    from faxd.store import PostgresStore
    from faxd.store.migrate import migrate

    tmp = tempfile.mkdtemp(prefix="faxd-bench-")
    config = Config.load(env={})
    if args.concurrency:
        config = config.replace(attach_concurrency=args.concurrency)
    pipeline = DocumentPipeline(config)
    fax = pipeline.convert([(TEXT, "text/plain")])
    kinds = [("tiff", args.tiffs, fax.tiff, "image/tiff"),
             ("tiff-strips", args.strips, in_strips(tmp, fax.tiff), "image/tiff"),
             ("pdf", args.pdfs, one_page_pdf(tmp), "application/pdf")]
    db = Scratch()
    report = {"bench": "prepare", "concurrency": args.concurrency or default_concurrency(),
              "cpus": len(os.sched_getaffinity(0)), "kinds": {}}
    try:
        migrate(db.dsn)
        store = PostgresStore(db.dsn, 20)
        with store.transaction() as cur:
            for name in ("burst", "other"):
                cur.execute("INSERT INTO accounts (id, name) VALUES (%s, %s)", (name, name))
        for kind, n, data, ctype in kinds:
            if n <= 0:
                continue
            entry = run_kind(db, store, lambda: Attacher(config, store, pipeline, "bench"), kind, n, data, ctype)
            report["kinds"][kind] = entry
            print(json.dumps({kind: entry}), flush=True)
        store.close()
    finally:
        db.drop()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main([]))

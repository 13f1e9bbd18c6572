"""``faxd loopback FAX.tif``: real T.30 sessions in-process between two spandsp endpoints.

Prints one JSON document: ``{"spandsp": {...}, "document": {...}, "runs": [{...}, ...], "summary": {...}}``;
``spandsp`` says which library runs (``version``, ``generation`` 0 or 3, the file loaded).
Each run has ``cpu_seconds`` (CPU time of the thread that ran the session pair),
``pages_transferred``, ``bit_rate``, ``ecm``, ``t38``, ``bad_rows``, ``completion_code``,
``completion_text``, ``remote_station_id`` and more. Exit code 0 when every run succeeded,
1 otherwise (the document will not go through as it is).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

from faxd.spandsp.errors import DocumentError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("tiff", metavar="FAX.tif", help="the fax TIFF to send")
    p.add_argument("--t38", action="store_true", help="T.38 terminals instead of audio")
    ecm = p.add_mutually_exclusive_group()
    ecm.add_argument("--ecm", dest="ecm", action="store_true", default=True, help="error correction (default)")
    ecm.add_argument("--no-ecm", dest="ecm", action="store_false", help="no error correction")
    p.add_argument("--no-v17", dest="v17", action="store_false", default=True, help="at most 9600 bps (V.29)")
    p.add_argument("--t6", action="store_true", help="allow T.6 (needs ECM)")
    p.add_argument("--out", metavar="RX.tif", help="keep the received TIFF (last run)")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="run N sessions in a row")
    p.add_argument("--station-id", default=None, help="sender's station id (default: the configured one)")
    p.add_argument("--header", default="", help="page header line printed by the sender")
    p.add_argument("--paced", action="store_true", help="real time (8000 samples/s): as slow as a real fax")


def run_once(path: str, out: str, *, t38: bool = False, ecm: bool = True, v17: bool = True, t6: bool = False,
             station_id: str = "faxd", header: str = "", paced: bool = False) -> dict:
    """One loopback session; returns the JSON-ready dict of one run."""
    from faxd.spandsp import FaxSession, T38Session, run_pair, run_pair_paced
    cls = T38Session if t38 else FaxSession
    opts = dict(ecm=ecm, v17=v17, t6=t6 and ecm)
    tx = cls(True, station_id=station_id[:20], header=header, **opts)
    rx = cls(False, station_id="LOOPBACK", **opts)
    try:
        tx.set_tx_file(path)
        rx.set_rx_file(out)
        r = run_pair_paced(tx, rx) if paced else run_pair(tx, rx)
    finally:
        tx.close()
        rx.close()
    a, b = r.tx, r.rx
    ok = a.success and b.success
    code, text = (a.completion_code, a.completion_text) if not a.success or ok else (b.completion_code,
                                                                                     b.completion_text)
    return {
        "cpu_seconds": round(r.cpu_seconds, 4),
        "line_seconds": round(r.seconds, 2),
        "success": ok,
        "pages_transferred": b.pages_rx,
        "pages_in_file": a.pages_in_file,
        "bit_rate": a.bit_rate,
        "ecm": a.ecm,
        "t38": t38,
        "encoding": b.encoding or a.encoding,
        "resolution": b.resolution or a.resolution,
        "bad_rows": b.bad_rows,
        "ecm_retries": a.ecm_retries,
        "completion_code": code,
        "completion_text": text,
        "sender": {"completion_code": a.completion_code, "completion_text": a.completion_text},
        "receiver": {"completion_code": b.completion_code, "completion_text": b.completion_text},
        "remote_station_id": a.remote_station_id,
        "local_station_id": b.remote_station_id,
    }


def main(args, config) -> int:
    from faxd.spandsp.library import info as library_info
    from faxd.spandsp import probe_tiff
    if args.repeat < 1:
        sys.stderr.write("faxd: error: --repeat must be at least 1\n")
        return 2
    doc: dict = {"path": args.tiff}
    try:
        info = probe_tiff(args.tiff)
        doc.update(pages=info.pages, width=info.width, resolution=info.resolution)
    except DocumentError as e:
        # Still run it: the session reports spandsp's own code for this file.
        doc.update(error=str(e), completion_code=e.result_code)
    runs = []
    with tempfile.TemporaryDirectory(prefix="faxd-loopback-") as tmp:
        for i in range(args.repeat):
            last = i == args.repeat - 1
            out = args.out if (args.out and last) else os.path.join(tmp, f"rx{i}.tif")
            runs.append(run_once(args.tiff, out, t38=args.t38, ecm=args.ecm, v17=args.v17, t6=args.t6,
                                 station_id=args.station_id or config.station_id, header=args.header,
                                 paced=args.paced))
            if not last and os.path.exists(out):
                os.unlink(out)
    cpu = [r["cpu_seconds"] for r in runs]
    summary = {
        "runs": len(runs),
        "succeeded": sum(r["success"] for r in runs),
        "cpu_seconds_median": round(statistics.median(cpu), 4),
        "cpu_seconds_min": round(min(cpu), 4),
        "cpu_seconds_per_session": round(sum(cpu) / len(cpu), 4),
    }
    pages = sum(r["pages_transferred"] for r in runs)
    if sum(cpu) > 0:
        summary["pages_per_cpu_second"] = round(pages / sum(cpu), 1)
    print(json.dumps({"spandsp": library_info(), "document": doc, "runs": runs, "summary": summary}, indent=2))
    return 0 if summary["succeeded"] == len(runs) else 1

"""faxd's software fax line against a C program running the same loop on libspandsp.

    python -m bench spandsp [--runs N] [--pairs N] [--paced-pairs N] [--paced-seconds S]

1. CPU time: the same 10-page document (A4 fine, dense text), audio V.17 and T.38 (paced
   terminals, packets in memory), no ECM, interleaved: C program (bench/c/faxpair.c, compiled
   here with gcc into bench/bin/), then faxd (FaxSession/T38Session + run_pair), N times.
   Medians, the ratio of medians (goal <= 1.05) and pages per CPU-second.
2. Memory per call pair: N pairs held at the end of page 1 (the receiver's page buffer at
   its peak), RSS growth / N in a fresh process (goal <= 1.2 MB), and the same for the C
   program (faxpair -m N).
3. Real-time paced audio calls per core: N pairs in the V.17 image phase, paced by one
   faxd Pacer (C threads: every 20 ms one block of every pair); CPU per call-second of line
   time -> calls one core carries (goal >= 500), with the lateness of a 20 ms ticker
   greenlet; the C program paces the same number of pairs the same way (faxpair -p N -P).
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

import gevent

from faxd.spandsp import Control, FaxSession, Pacer, T38Session, run_pair, step_pair
from faxd.spandsp.testdoc import make_text_tiff

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin", "faxpair")
SRC = os.path.join(HERE, "c", "faxpair.c")


def build_c() -> str:
    os.makedirs(os.path.dirname(BIN), exist_ok=True)
    if not os.path.exists(BIN) or os.path.getmtime(BIN) < os.path.getmtime(SRC):
        subprocess.run(["gcc", "-O2", "-Wall", "-o", BIN, SRC, "-lspandsp", "-ltiff", "-lm"], check=True)
    return BIN


def c_run(doc: str, t38: bool) -> dict:
    args = [BIN, "-r", "1"] + (["-t"] if t38 else []) + [doc]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert r["tx"] == 0 and r["rx"] == 0, r
    return r


def faxd_run(doc: str, rx_path: str, t38: bool) -> dict:
    cls = T38Session if t38 else FaxSession
    c0, w0 = time.process_time(), time.monotonic()
    a = cls(True, station_id="SENDER", ecm=False)
    b = cls(False, station_id="RECEIVER", ecm=False)
    a.set_tx_file(doc)
    b.set_rx_file(rx_path)
    r = run_pair(a, b)
    a.close()
    b.close()
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    assert r.tx.success and r.rx.success, (r.tx, r.rx)
    return {"cpu": cpu, "wall": wall, "sim": r.seconds, "pages": r.rx.pages_rx}


def compare(doc: str, tmp: str, runs: int) -> dict:
    out = {}
    for label, t38 in (("audio V.17", False), ("T.38", True)):
        c_cpu, f_cpu, pages = [], [], 0
        c_run(doc, t38)                       # warm the page cache and the library
        faxd_run(doc, os.path.join(tmp, "rx.tif"), t38)
        for i in range(runs):
            # Interleave, alternating which goes first.
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    c_cpu.append(c_run(doc, t38)["cpu"])
                else:
                    r = faxd_run(doc, os.path.join(tmp, "rx.tif"), t38)
                    f_cpu.append(r["cpu"])
                    pages = r["pages"]
        cm, fm = statistics.median(c_cpu), statistics.median(f_cpu)
        out[label] = {
            "runs": runs,
            "c_cpu_median": round(cm, 4), "c_cpu_min": round(min(c_cpu), 4),
            "faxd_cpu_median": round(fm, 4), "faxd_cpu_min": round(min(f_cpu), 4),
            "ratio_median": round(fm / cm, 3), "ratio_min": round(min(f_cpu) / min(c_cpu), 3),
            "pages_per_cpu_second_c": round(pages / cm, 1),
            "pages_per_cpu_second_faxd": round(pages / fm, 1),
            "goal_ratio_le_1_05": fm / cm <= 1.05,
        }
        print(f"  {label}: C {cm:.3f} s, faxd {fm:.3f} s CPU (median of {runs}); ratio {fm / cm:.3f}; "
              f"{pages / fm:.1f} pages/CPU-s", flush=True)
    return out


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def memory(doc: str, tmp: str, pairs: int, t38: bool = False) -> dict:
    cls = T38Session if t38 else FaxSession
    before = _rss_kb()
    held = []
    for i in range(pairs):
        a, b = cls(True, ecm=False), cls(False, ecm=False)
        a.set_tx_file(doc)
        b.set_rx_file(os.path.join(tmp, f"mem{i}.tif"))
        b.stop_at_page(1)
        while not b._ep.stop:
            if step_pair(a, b, 500) == 0 and not b._ep.stop:
                break
        held.append((a, b))
        gevent.sleep(0)
    grown = _rss_kb() - before
    for a, b in held:
        a.close()
        b.close()
    per = grown / pairs / 1024
    return {"pairs": pairs, "rss_growth_mb": round(grown / 1024, 1), "mb_per_pair": round(per, 3),
            "goal_le_1_2_mb": per <= 1.2}


def paced(doc: str, tmp: str, pairs: int, seconds: float) -> dict:
    held = []
    for i in range(pairs):
        a, b = FaxSession(True, ecm=False), FaxSession(False, ecm=False)
        a.set_tx_file(doc)
        b.set_rx_file(os.path.join(tmp, f"paced{i}.tif"))
        step_pair(a, b, 500)                 # 10 s of line time: past the handshake, into the image
        held.append((a, b))
    in_image = sum(1 for a, b in held if b._ep.phase_b_count >= 1 and not b.done)
    pacer = Pacer()
    controls = [Control() for _ in held]
    dones = [pacer.add(a, b, c) for (a, b), c in zip(held, controls)]
    lateness = []
    stop = []

    def ticker():
        nxt = time.monotonic() + 0.02
        while not stop:
            gevent.sleep(max(0.0, nxt - time.monotonic()))
            lateness.append(time.monotonic() - nxt)
            nxt += 0.02

    tick = gevent.spawn(ticker)
    gevent.sleep(1.0)                        # settle
    c0, w0, b0 = time.process_time(), time.monotonic(), pacer.blocks
    gevent.sleep(seconds)
    cpu, wall, done = time.process_time() - c0, time.monotonic() - w0, pacer.blocks - b0
    stop.append(True)
    for c in controls:
        c.cancel()
    for d in dones:
        d.wait(10)
    tick.join()
    for a, b in held:
        a.close()
        b.close()
    call_seconds = done / 50.0               # 50 blocks = one second of one call
    cpu_per_call_second = cpu / call_seconds
    lateness.sort()
    return {
        "pairs": pairs, "in_image_phase": in_image, "window_seconds": round(wall, 2),
        "cpu_fraction_of_one_core": round(cpu / wall, 3),
        "kept_up": round(call_seconds / (pairs * wall), 3),
        "calls_per_core": int(1 / cpu_per_call_second) if cpu_per_call_second else None,
        "late_ticks": pacer.late_ticks,
        "ticker_p50_ms": round(lateness[len(lateness) // 2] * 1000, 2),
        "ticker_p99_ms": round(lateness[int(len(lateness) * 0.99)] * 1000, 2),
        "goal_ge_500": (1 / cpu_per_call_second) >= 500 if cpu_per_call_second else False,
    }


def main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m bench spandsp")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--pairs", type=int, default=40, help="pairs held for the memory figure")
    p.add_argument("--paced-pairs", type=int, default=150)
    p.add_argument("--paced-seconds", type=float, default=10.0)
    p.add_argument("--memory-only", choices=("audio", "t38"), help=argparse.SUPPRESS)
    p.add_argument("--doc", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_only:
        with tempfile.TemporaryDirectory(prefix="faxd-bench-mem-") as tmp:
            print(json.dumps(memory(args.doc, tmp, args.pairs, t38=args.memory_only == "t38")))
        return 0
    build_c()
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="faxd-bench-") as tmp:
        doc = make_text_tiff(os.path.join(tmp, "doc10.tif"), 10)
        print(f"bench spandsp: 10-page A4 fine dense-text document, {os.path.getsize(doc)} bytes", flush=True)
        # Memory first, each kind in a fresh process: freed heap from other runs would hide growth.
        for kind in ("audio", "t38"):
            child = subprocess.run([sys.executable, "-m", "bench", "spandsp", "--memory-only", kind,
                                    "--pairs", str(args.pairs), "--doc", doc],
                                   check=True, capture_output=True, text=True, cwd=os.path.dirname(HERE))
            result[f"memory_{kind}"] = json.loads(child.stdout)
        c_mem = subprocess.run([BIN, "-m", str(args.pairs), doc], check=True, capture_output=True, text=True)
        result["memory_audio_c"] = json.loads(c_mem.stdout)
        print(f"  memory: {result['memory_audio']['mb_per_pair']} MB per audio pair "
              f"(C program: {result['memory_audio_c']['mb_per_pair']} MB), "
              f"{result['memory_t38']['mb_per_pair']} MB per T.38 pair", flush=True)
        result["cpu"] = compare(doc, tmp, args.runs)
        c_img = subprocess.run([BIN, "-p", str(args.paced_pairs), "-P", doc], check=True, capture_output=True,
                               text=True)
        result["image_phase_c"] = json.loads(c_img.stdout)
        result["paced"] = paced(doc, tmp, args.paced_pairs, args.paced_seconds)
        result["paced"]["c_paced_calls_per_core"] = result["image_phase_c"]["calls_per_core"]
        print(f"  paced: {result['paced']['calls_per_core']} real-time audio calls per core "
              f"({args.paced_pairs} pairs used {result['paced']['cpu_fraction_of_one_core'] * 100:.0f}% of a core; "
              f"the C program pacing the same pairs: {result['image_phase_c']['calls_per_core']})",
              flush=True)
    print(json.dumps(result, indent=2))
    return 0

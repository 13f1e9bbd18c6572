"""faxd's software fax line against a C program running the same loop on libspandsp.

    python -m bench spandsp [--runs N] [--pairs N] [--paced-pairs N] [--paced-seconds S]
                            [--paced-runs N] [--generations-only]

1. CPU time: the same 10-page document (A4 fine, dense text), audio V.17 and T.38 (paced
   terminals, packets in memory), no ECM, interleaved: C program (bench/c/faxpair.c, compiled
   here with gcc into bench/bin/), then faxd (FaxSession/T38Session + run_pair), N times.
   Medians, the ratio of medians (goal <= 1.05) and pages per CPU-second.
2. Memory per call pair: N pairs run side by side (1 s of line each in turn, as concurrent
   calls interleave their heap growth) to the end of page 1 and held there (the receiver's
   page bitmap at its peak), in a fresh process, after the heap release faxd's pacer does once
   a second while paced calls run; the C program (faxpair -m N) does the same. Unpaced calls
   release only when a burst ends, so PSS before that release is reported too, and the goal
   is checked on the larger of the two. Per pair: PSS growth
   (every resident page counted once: goal <= 1.2 MB), private (anonymous) growth, and RSS
   growth, which also counts the sending TIFF that libtiff maps whole once per pair (the same
   file, in the page cache once). Also what faxd still holds once every pair is closed.
3. Real-time paced audio calls per core: N pairs in the V.17 image phase, paced by one
   faxd Pacer (C threads: every 20 ms one block of every pair), CPU of the whole process
   (with a 20 ms ticker greenlet standing for the rest of the hub's work) per call-second of
   line time -> calls one core carries (goal >= 500). The C program paces the same number of
   pairs over the same stretch of the call (10-20 s: page 1's image data) the same way
   (faxpair -p N -P); the two alternate --paced-runs times and the medians are compared.
4. The two library generations: faxd's bindings on Debian's spandsp 0.0.6 (as installed) and
   on spandsp 3.0 (built from source into build/spandsp-3.0/ by faxd.testing.spandsp3, loaded
   with FAXD_SPANDSP_EXTENSION). CPU per 10-page fax, audio V.17 and T.38, each in a fresh
   process per run, the generations alternating --runs times (medians); memory per call pair
   as in 2, for each. Says which generation is faster and by how much.
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

from faxd.spandsp import Control, FaxSession, Pacer, T38Session, release_heap, run_pair, step_pair
from faxd.spandsp.testdoc import make_text_tiff

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, "bin", "faxpair")
SRC = os.path.join(HERE, "c", "faxpair.c")


def build_c() -> str:
    """faxpair.c is written for Debian's spandsp 0.0.6: built against it explicitly, as faxd's
    bindings are, so that spandsp 3's headers in /usr/local/include are not picked up."""
    from faxd.spandsp import _build
    os.makedirs(os.path.dirname(BIN), exist_ok=True)
    if not os.path.exists(BIN) or os.path.getmtime(BIN) < os.path.getmtime(SRC):
        found = _build.locate("/usr")
        inc = _build.include_dir(found, os.path.join(HERE, "bin", "spandsp-include"))
        subprocess.run(["gcc", "-O2", "-Wall", "-I", inc, "-o", BIN, SRC, "-L", found["lib_dir"],
                        "-lspandsp", "-ltiff", "-lm"], check=True)
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


def _rollup() -> dict:
    """Rss, Pss and Anonymous (private) kB of this process's data: /proc/self/smaps without
    the shared libraries, whose PSS moves whenever another process maps or unmaps them."""
    out = {"Rss": 0, "Pss": 0, "Anonymous": 0}
    lib = False
    with open("/proc/self/smaps") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if " " not in key and "-" in key:       # a mapping's header line
                path = line.split()[5] if len(line.split()) > 5 else ""
                lib = ".so" in os.path.basename(path) or path in ("[vdso]", "[vvar]", "[vsyscall]")
            elif not lib and key in out:
                out[key] += int(rest.split()[0])
    return out


def memory(doc: str, tmp: str, pairs: int, t38: bool = False) -> dict:
    cls = T38Session if t38 else FaxSession
    gevent.sleep(0)
    before = _rollup()
    held = []
    for i in range(pairs):
        a, b = cls(True, station_id="SENDER", ecm=False), cls(False, station_id="RECEIVER", ecm=False)
        a.set_tx_file(doc)
        b.set_rx_file(os.path.join(tmp, f"mem{i}.tif"))
        b.stop_at_page(1)
        held.append((a, b))
    running = list(held)
    while running:
        left = []
        for a, b in running:
            if step_pair(a, b, 50) == 0 and not b._ep.stop:
                continue                      # ended early: nothing more to hold
            if not b._ep.stop:
                left.append((a, b))
        running = left
        gevent.sleep(0)
    unreleased = _rollup()
    release_heap()                            # what faxd's pacer does once a second while calls run
    peak = _rollup()
    for a, b in held:
        a.close()
        b.close()
    held = running = None
    after = _rollup()
    per = {k: (peak[k] - before[k]) / pairs / 1024 for k in before}
    return {"pairs": pairs, "rss_growth_mb": round((peak["Rss"] - before["Rss"]) / 1024, 1),
            "mb_per_pair": round(per["Rss"], 3), "pss_mb_per_pair": round(per["Pss"], 3),
            "pss_mb_per_pair_unreleased": round((unreleased["Pss"] - before["Pss"]) / pairs / 1024, 3),
            "private_mb_per_pair": round(per["Anonymous"], 3),
            "file_mb_per_pair": round(per["Rss"] - per["Anonymous"], 3),
            "held_after_close_mb": round((after["Anonymous"] - before["Anonymous"]) / 1024, 1),
            "goal_le_1_2_mb": max(per["Pss"], (unreleased["Pss"] - before["Pss"]) / pairs / 1024) <= 1.2}


WARM_BLOCKS = 500                            # the window starts 10 s into the call: page 1's image data


def paced(doc: str, tmp: str, pairs: int, seconds: float) -> dict:
    held = []
    for i in range(pairs):
        # The C program's station ids: TSI/CSI frames are part of the handshake, so other ids
        # would put the measured window at another point of the call.
        a = FaxSession(True, station_id="SENDER", ecm=False)
        b = FaxSession(False, station_id="RECEIVER", ecm=False)
        a.set_tx_file(doc)
        b.set_rx_file(os.path.join(tmp, f"paced{i}.tif"))
        # Past the handshake; the pacer's first second (settle, below) brings every pair to
        # WARM_BLOCKS, where the C program's window starts too.
        step_pair(a, b, WARM_BLOCKS - 50)
        held.append((a, b))
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
    in_image = sum(1 for a, b in held if b._ep.phase_b_count >= 1 and not b.done)
    del lateness[:]
    c0, w0, b0 = time.process_time(), time.monotonic(), pacer.blocks
    gevent.sleep(seconds)
    cpu, wall, done = time.process_time() - c0, time.monotonic() - w0, pacer.blocks - b0
    stop.append(True)
    late = pacer.late_ticks
    threads = pacer.threads_used
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
        "pacer_threads": threads,
        "cpu_fraction_of_one_core": round(cpu / wall, 3),
        "kept_up": round(call_seconds / (pairs * wall), 3),
        "calls_per_core": int(1 / cpu_per_call_second) if cpu_per_call_second else None,
        "late_ticks": late,
        "ticker_p50_ms": round(lateness[len(lateness) // 2] * 1000, 2),
        "ticker_p99_ms": round(lateness[int(len(lateness) * 0.99)] * 1000, 2),
    }


def c_paced(doc: str, pairs: int) -> dict:
    out = subprocess.run([BIN, "-p", str(pairs), "-P", "-w", str(WARM_BLOCKS), doc], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def paced_compare(doc: str, tmp: str, pairs: int, seconds: float, runs: int) -> dict:
    """faxd's Pacer and the C program's paced loop, alternating, ``runs`` times each."""
    f_runs, c_runs = [], []
    for i in range(runs):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            if which == 0:
                c_runs.append(c_paced(doc, pairs))
            else:
                f_runs.append(paced(doc, tmp, pairs, seconds))
    f_calls = statistics.median(r["calls_per_core"] for r in f_runs)
    c_calls = statistics.median(r["calls_per_core"] for r in c_runs)
    return {
        "runs": runs, "pairs": pairs,
        "calls_per_core_median": int(f_calls), "c_calls_per_core_median": int(c_calls),
        "ratio_faxd_to_c": round(f_calls / c_calls, 3),
        "calls_per_core": [r["calls_per_core"] for r in f_runs],
        "c_calls_per_core": [r["calls_per_core"] for r in c_runs],
        "ticker_p99_ms_max": max(r["ticker_p99_ms"] for r in f_runs),
        "late_ticks": sum(r["late_ticks"] for r in f_runs),
        "goal_ge_500": f_calls >= 500,
        "faxd_runs": f_runs,
    }


def _child(args: list[str], extension: str | None) -> dict:
    """``python -m bench spandsp ARGS`` in a fresh process on one library generation."""
    env = dict(os.environ)
    env.pop("FAXD_SPANDSP_EXTENSION", None)
    if extension:
        env["FAXD_SPANDSP_EXTENSION"] = extension
    child = subprocess.run([sys.executable, "-m", "bench", "spandsp", *args], env=env, check=True,
                           capture_output=True, text=True, cwd=os.path.dirname(HERE))
    return json.loads(child.stdout.strip().splitlines()[-1])


def cpu_once(doc: str, tmp: str) -> dict:
    """One warm-up, then one 10-page fax of each kind: CPU seconds, and the library in use."""
    from faxd.spandsp import library_info
    rx = os.path.join(tmp, "rx.tif")
    faxd_run(doc, rx, False)
    return {"library": library_info(), "audio": faxd_run(doc, rx, False)["cpu"], "t38": faxd_run(doc, rx, True)["cpu"]}


def generations(doc: str, runs: int, pairs: int) -> dict:
    from faxd.testing import spandsp3
    built = spandsp3.extension()
    gens = {"0.0.6": None, "3.0": built["extension"]}
    cpu = {g: {"audio": [], "t38": []} for g in gens}
    libs = {}
    for i in range(runs):
        for g in (gens if i % 2 == 0 else reversed(list(gens))):
            r = _child(["--cpu-once", "--doc", doc], gens[g])
            libs[g] = r["library"]
            cpu[g]["audio"].append(r["audio"])
            cpu[g]["t38"].append(r["t38"])
    out: dict = {"spandsp3_build_seconds": built["library_seconds"], "bindings_build_seconds": built["extension_seconds"]}
    for g in gens:
        out[g] = {"library": libs[g]["library"], "version": libs[g]["version"], "runs": runs}
        for kind in ("audio", "t38"):
            out[g][f"{kind}_cpu_median"] = round(statistics.median(cpu[g][kind]), 4)
            out[g][f"{kind}_cpu_min"] = round(min(cpu[g][kind]), 4)
        for kind in ("audio", "t38"):
            m = _child(["--memory-only", kind, "--pairs", str(pairs), "--doc", doc], gens[g])
            out[g][f"memory_{kind}_pss_mb_per_pair"] = max(m["pss_mb_per_pair"], m["pss_mb_per_pair_unreleased"])
            out[g][f"memory_{kind}_private_mb_per_pair"] = m["private_mb_per_pair"]
    for kind in ("audio", "t38"):
        old, new = out["0.0.6"][f"{kind}_cpu_median"], out["3.0"][f"{kind}_cpu_median"]
        faster = "3.0" if new < old else "0.0.6"
        out[f"{kind}_faster"] = faster
        out[f"{kind}_ratio_3_0_to_0_0_6"] = round(new / old, 3)
        print(f"  {kind}: spandsp 0.0.6 {old:.3f} s, 3.0 {new:.3f} s CPU per 10-page fax (median of {runs}); "
              f"{faster} is faster by {abs(new - old) / max(new, old) * 100:.0f}% "
              f"(3.0 / 0.0.6 = {new / old:.2f}); memory per pair (PSS) 0.0.6 "
              f"{out['0.0.6'][f'memory_{kind}_pss_mb_per_pair']} MB, 3.0 {out['3.0'][f'memory_{kind}_pss_mb_per_pair']} MB",
              flush=True)
    return out


def main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m bench spandsp")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--pairs", type=int, default=40, help="pairs held for the memory figure")
    p.add_argument("--paced-pairs", type=int, default=150)
    p.add_argument("--paced-seconds", type=float, default=10.0)
    p.add_argument("--paced-runs", type=int, default=3, help="alternating faxd / C paced measurements")
    p.add_argument("--memory-only", choices=("audio", "t38"), help=argparse.SUPPRESS)
    p.add_argument("--doc", help=argparse.SUPPRESS)
    p.add_argument("--cpu-once", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--generations-only", action="store_true",
                   help="only compare spandsp 0.0.6 with 3.0 (section 4)")
    args = p.parse_args(argv)
    if args.cpu_once:
        with tempfile.TemporaryDirectory(prefix="faxd-bench-cpu-") as tmp:
            print(json.dumps(cpu_once(args.doc, tmp)))
        return 0
    if args.generations_only:
        with tempfile.TemporaryDirectory(prefix="faxd-bench-") as tmp:
            doc = make_text_tiff(os.path.join(tmp, "doc10.tif"), 10)
            print(json.dumps({"generations": generations(doc, args.runs, args.pairs)}, indent=2))
        return 0
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
        ma, mt, mc = result["memory_audio"], result["memory_t38"], result["memory_audio_c"]
        print(f"  memory per pair (PSS / private / RSS): audio {ma['pss_mb_per_pair']} / "
              f"{ma['private_mb_per_pair']} / {ma['mb_per_pair']} MB, T.38 {mt['pss_mb_per_pair']} / "
              f"{mt['private_mb_per_pair']} / {mt['mb_per_pair']} MB; C program audio {mc['pss_mb_per_pair']} / "
              f"{mc['private_mb_per_pair']} / {mc['mb_per_pair']} MB; faxd PSS before the heap release: "
              f"audio {ma['pss_mb_per_pair_unreleased']}, T.38 {mt['pss_mb_per_pair_unreleased']} MB; faxd holds "
              f"{ma['held_after_close_mb']} MB once all are closed", flush=True)
        result["cpu"] = compare(doc, tmp, args.runs)
        result["paced"] = pc = paced_compare(doc, tmp, args.paced_pairs, args.paced_seconds, args.paced_runs)
        print(f"  paced: {pc['calls_per_core_median']} real-time audio calls per core "
              f"(median of {pc['runs']}: {pc['calls_per_core']}; {args.paced_pairs} pairs; "
              f"ticker p99 <= {pc['ticker_p99_ms_max']} ms); the C program pacing the same pairs: "
              f"{pc['c_calls_per_core_median']} ({pc['c_calls_per_core']}); ratio {pc['ratio_faxd_to_c']}",
              flush=True)
        result["generations"] = generations(doc, args.runs, args.pairs)
    print(json.dumps(result, indent=2))
    return 0

"""Investigation tool for the HylaFAX -> faxd direction: one run, everything recorded.

    .venv/bin/python -m tests.integration.interop.probe OUTDIR [--no-ecm] [--pages N]
        [--modem 'Class1Xxx: value' ...] [--iaxmodem record --iaxmodem 'peername x' ...]
        [--spandsp-log] [--strace]

Runs sendfax -> faxq -> faxsend -> iaxmodem -> the test's IAX2 endpoint -> a receiving
FaxSession (needs root, like the tests), and writes into OUTDIR:

* result.txt: faxd's T30Stats and phase events, the endpoint's frame counts and call log, the
  carrier on/off segments of both audio directions (in seconds of the call) and the pacing of
  the blocks (arrival against the 20 ms grid, IAX timestamp steps);
* in.raw / out.raw: the audio both ways, 8 kHz s16le; blocks.tsv: every block's wall time,
  direction, IAX timestamp and sample count;
* hylafax.log (session logs), syslog.log (faxq, faxsend, faxgetty, hfaxd), xferfaxlog, iaxmodem.out (with ``--iaxmodem dspdebug``, its T.31
  log; with ``--iaxmodem record``, its own recordings go to /tmp/<peername>-{iax,dsp}.raw);
* with --spandsp-log, spandsp.log: faxd's T.30 and modem log at SPAN_LOG_FLOW (this process's
  stderr);
* with --strace, iaxmodem.strace, faxgetty.strace, faxq.strace (faxq's children included):
  who read and wrote the modem's pty, and when.
"""
from __future__ import annotations

import argparse
import array
import ctypes
import math
import os
import shutil
import subprocess
import sys
import time

from faxd.spandsp import FaxSession
from faxd.spandsp import library
from faxd.spandsp._spandsp import ffi
from faxd.spandsp.testdoc import make_text_tiff

from .hylafax import HylaFax
from .iax2 import TICK, Iax2FaxEndpoint

# spandsp's logging.h: show sample time, severity and protocol; level FLOW
LOG_LEVEL = 0x0200 | 0x0400 | 0x0800 | 5
CARRIER_RMS = 300                 # a block louder than this (RMS, 16-bit) carries a signal


def spandsp_logging(session: FaxSession) -> None:
    """Turn on spandsp's own log for the session's fax front end and T.30 (to stderr)."""
    lib = ctypes.CDLL(library.info()["library"] or "libspandsp.so.2")
    for getter, ptr in (("fax_get_logging_state", session._ep.fax), ("t30_get_logging_state", session._ep.t30)):
        fn = getattr(lib, getter)
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_void_p]
        state = fn(int(ffi.cast("uintptr_t", ptr)))
        lib.span_log_set_level(ctypes.c_void_p(state), LOG_LEVEL)


def carrier_segments(blocks: list[tuple[float, bytes]]) -> list[tuple[float, float]]:
    """(start, end) in seconds of each run of blocks with a signal."""
    out, start = [], None
    for t, pcm in blocks:
        a = array.array("h")
        a.frombytes(pcm)
        on = bool(a) and math.sqrt(sum(x * x for x in a) / len(a)) > CARRIER_RMS
        if on and start is None:
            start = t
        elif not on and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, blocks[-1][0]))
    return out


def pacing(blocks: list[tuple[float, int]]) -> str:
    """Arrival of the blocks against a 20 ms grid, gaps, and IAX timestamp steps."""
    if len(blocks) < 2:
        return "fewer than 2 blocks"
    t0 = blocks[0][0]
    lag = [(t - t0) - i * TICK for i, (t, _) in enumerate(blocks)]
    gaps = [b[0] - a[0] for a, b in zip(blocks, blocks[1:])]
    steps = [b[1] - a[1] for a, b in zip(blocks, blocks[1:])]
    return (f"{len(blocks)} blocks over {blocks[-1][0] - t0:.2f} s; lag behind the 20 ms grid "
            f"{min(lag):+.3f}..{max(lag):+.3f} s (last {lag[-1]:+.3f}); longest gap {max(gaps):.3f} s, "
            f"{sum(g > 0.06 for g in gaps)} over 60 ms; IAX timestamp steps other than 20 ms: "
            f"{sum(s != 20 for s in steps)}")


def write_results(out: str, ep: Iax2FaxEndpoint, session_info: list[str], t_call: float) -> None:
    rec = ep.recording or []
    t0 = rec[0][0] if rec else t_call
    with open(os.path.join(out, "blocks.tsv"), "w") as tsv, \
            open(os.path.join(out, "in.raw"), "wb") as fin, \
            open(os.path.join(out, "out.raw"), "wb") as fout:
        for t, kind, ts, pcm in rec:
            tsv.write(f"{t - t0:.4f}\t{kind}\t{ts}\t{len(pcm) // 2}\n")
            (fout if kind == "out" else fin).write(pcm)
    lines = list(session_info)
    lines.append(f"endpoint: {ep.log.voice_in} voice frames in, {ep.log.voice_out} out, "
                 f"{ep.log.fillin_samples} samples filled in")
    lines += [f"  {t - t_call:8.3f} {what}" for t, what in ep.log.events]
    for kind in ("in", "out"):
        blocks = [(t - t0, pcm) for t, k, _, pcm in rec if k == kind]
        lines.append(f"{kind}: {pacing([(t, ts) for t, k, ts, _ in rec if k == kind])}")
        lines += [f"  signal {a:7.2f} - {b:7.2f} s ({b - a:5.2f} s)" for a, b in carrier_segments(blocks)]
    with open(os.path.join(out, "result.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def trace(out: str, name: str, pid: int, calls: str) -> subprocess.Popen:
    return subprocess.Popen(["strace", "-f", "-tt", "-e", f"trace={calls}", "-s", "80", "-xx",
                             "-o", os.path.join(out, f"{name}.strace"), "-p", str(pid)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--no-ecm", action="store_true", help="faxd offers no ECM")
    ap.add_argument("--pages", type=int, default=2)
    ap.add_argument("--modem", action="append", default=[], help="a line for HylaFAX's config.<device>")
    ap.add_argument("--iaxmodem", action="append", default=[], help="a line for iaxmodem's configuration")
    ap.add_argument("--spandsp-log", action="store_true", help="faxd's spandsp log into spandsp.log")
    ap.add_argument("--strace", action="store_true", help="strace iaxmodem, faxgetty and faxq")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.spandsp_log:
        fd = os.open(os.path.join(args.out, "spandsp.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)

    ep = Iax2FaxEndpoint(record=True)
    hf = HylaFax(ep.address[1], modem_config="".join(line + "\n" for line in args.modem),
                 iaxmodem_config=tuple(args.iaxmodem))
    tracers: list[subprocess.Popen] = []
    t_start = time.monotonic()
    try:
        doc = make_text_tiff(f"{hf.root}/doc.tif", args.pages, resolution="normal")
        hf.start_modem()
        if args.strace:
            tracers.append(trace(args.out, "iaxmodem", hf.procs["iaxmodem"].pid, "read,write,sendto,recvfrom"))
        hf.start_faxq()
        hf.start_faxgetty()
        if args.strace:
            tracers += [trace(args.out, name, hf.procs[name].pid, "read,write,openat,close,kill")
                        for name in ("faxgetty", "faxq")]
        hf.wait_ready()
        job = hf.sendfax("2025550100", doc)
        session = FaxSession(calling=False, station_id="FAXD RECEIVER", ecm=not args.no_ecm)
        session.set_rx_file(os.path.join(args.out, "rx.tif"))
        if args.spandsp_log:
            spandsp_logging(session)
        t_call = time.monotonic()
        try:
            ep.wait_call(session, timeout=300, call_time=300)
            st = session.stats()
            events = [(e.kind, e.code, round(e.samples / 8000, 2)) for e in session.events]
        finally:
            session.close()
        t_end = time.monotonic()
        time.sleep(3)                      # HylaFAX writes its logs after the call
        write_results(args.out, ep, [f"job: {job.strip()}", f"stats: {st}",
                                     f"events (kind, code, seconds of line time): {events}",
                                     f"set-up {t_call - t_start:.1f} s, call {t_end - t_call:.1f} s"], t_call)
        with open(os.path.join(args.out, "hylafax.log"), "w") as f:
            f.write(hf.logs())
        for name in ("iaxmodem.out", "faxgetty.out", "faxq.out", "hfaxd.out", "syslog.log"):
            shutil.copy(os.path.join(hf.root, name), os.path.join(args.out, name))
        xfer = os.path.join(hf.spool, "log", "xferfaxlog")
        if os.path.exists(xfer):
            shutil.copy(xfer, os.path.join(args.out, "xferfaxlog"))
        print(f"{st}\n(details in {args.out}/result.txt)")
    finally:
        for t in tracers:
            t.terminate()
            t.wait(5)
        hf.stop()
        ep.close()
        shutil.rmtree(hf.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

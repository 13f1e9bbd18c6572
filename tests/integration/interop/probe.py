"""Investigation tool for the HylaFAX -> faxd direction: one run, everything recorded.

    .venv/bin/python -m tests.integration.interop.probe OUTDIR [--no-ecm] [--pages N]
        [--modem 'Class1Xxx: value' ...] [--iaxmodem 'record' ...] [--spandsp-log]

Runs sendfax -> faxq -> faxsend -> iaxmodem -> the test's IAX2 endpoint -> a receiving
FaxSession, and writes into OUTDIR: HylaFAX's session logs (hylafax.log), iaxmodem's output,
the endpoint's audio both ways with wall times (in.raw / out.raw: 8 kHz s16le; blocks.tsv:
time, direction, IAX timestamp, samples), faxd's T30Stats and phase events (result.txt) and,
with --spandsp-log, spandsp's own T.30 and modem log (stderr of this process: spandsp.log).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import time

from faxd.spandsp import FaxSession
from faxd.spandsp._spandsp import ffi
from faxd.spandsp.testdoc import make_text_tiff

from .hylafax import HylaFax
from .iax2 import Iax2FaxEndpoint

LOG_LEVEL = 0x0200 | 0x0400 | 0x0800 | 5        # sample time, severity, protocol; FLOW


def spandsp_logging(session: FaxSession) -> None:
    lib = ctypes.CDLL("libspandsp.so.2")
    for getter, ptr in (("fax_get_logging_state", session._ep.fax), ("t30_get_logging_state", session._ep.t30)):
        fn = getattr(lib, getter)
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_void_p]
        state = fn(int(ffi.cast("uintptr_t", ptr)))
        lib.span_log_set_level(ctypes.c_void_p(state), LOG_LEVEL)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--no-ecm", action="store_true")
    ap.add_argument("--pages", type=int, default=2)
    ap.add_argument("--modem", action="append", default=[])
    ap.add_argument("--iaxmodem", action="append", default=[])
    ap.add_argument("--spandsp-log", action="store_true")
    ap.add_argument("--strace", action="store_true", help="strace iaxmodem's pty and socket I/O")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.spandsp_log:
        fd = os.open(os.path.join(args.out, "spandsp.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)

    ep = Iax2FaxEndpoint(record=True)
    hf = HylaFax(ep.address[1], modem_config="".join(line + "\n" for line in args.modem),
                 iaxmodem_config=tuple(args.iaxmodem))
    t_start = time.monotonic()
    try:
        doc = make_text_tiff(f"{hf.root}/doc.tif", args.pages, resolution="normal")
        hf.start_modem()
        tracer = None
        if args.strace:
            tracer = subprocess.Popen(["strace", "-tt", "-e", "trace=read,write,sendto,recvfrom", "-s", "80", "-xx",
                                       "-o", os.path.join(args.out, "iaxmodem.strace"),
                                       "-p", str(hf.procs["iaxmodem"].pid)])
        hf.start_faxq()
        hf.start_faxgetty()
        if args.strace:
            tracers = [subprocess.Popen(["strace", "-f", "-tt", "-e", "trace=read,write,openat,close,kill", "-s", "80",
                                         "-o", os.path.join(args.out, f"{name}.strace"),
                                         "-p", str(hf.procs[name].pid)]) for name in ("faxgetty", "faxq")]
        hf.wait_ready()
        job = hf.sendfax("2025550100", doc)
        rx = os.path.join(args.out, "rx.tif")
        session = FaxSession(calling=False, station_id="FAXD RECEIVER", ecm=not args.no_ecm)
        session.set_rx_file(rx)
        if args.spandsp_log:
            spandsp_logging(session)
        t_call = time.monotonic()
        try:
            ep.wait_call(session, timeout=300)
            st = session.stats()
            events = [(e.kind, e.code, round(e.samples / 8000, 2)) for e in session.events]
        finally:
            session.close()
        t_end = time.monotonic()
        time.sleep(3)                      # let HylaFAX write its logs
        with open(os.path.join(args.out, "result.txt"), "w") as f:
            print(f"job: {job.strip()}", file=f)
            print(f"stats: {st}", file=f)
            print(f"events (kind, code, line seconds): {events}", file=f)
            print(f"endpoint: in {ep.log.voice_in} out {ep.log.voice_out} fill-in samples {ep.log.fillin_samples}", file=f)
            print(f"set-up {t_call - t_start:.1f} s, call {t_end - t_call:.1f} s", file=f)
            for t, what in ep.log.events:
                print(f"  {t - t_call:8.3f} {what}", file=f)
        rec = ep.recording or []
        t0 = rec[0][0] if rec else 0.0
        with open(os.path.join(args.out, "blocks.tsv"), "w") as tsv, \
                open(os.path.join(args.out, "in.raw"), "wb") as fin, \
                open(os.path.join(args.out, "out.raw"), "wb") as fout:
            for t, kind, ts, pcm in rec:
                tsv.write(f"{t - t0:.4f}\t{kind}\t{ts}\t{len(pcm) // 2}\n")
                (fout if kind == "out" else fin).write(pcm)
        with open(os.path.join(args.out, "hylafax.log"), "w") as f:
            f.write(hf.logs())
        for name in ("iaxmodem", "faxgetty", "faxq", "hfaxd"):
            shutil.copy(os.path.join(hf.root, f"{name}.out"), os.path.join(args.out, f"{name}.out"))
        xfer = os.path.join(hf.spool, "log", "xferfaxlog")
        if os.path.exists(xfer):
            shutil.copy(xfer, os.path.join(args.out, "xferfaxlog"))
        print(open(os.path.join(args.out, "result.txt")).read().splitlines()[1], file=sys.stdout)
    finally:
        if args.strace and tracer is not None:
            for t in [tracer, *tracers]:
                t.terminate()
                t.wait(5)
        hf.stop()
        ep.close()
        shutil.rmtree(hf.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

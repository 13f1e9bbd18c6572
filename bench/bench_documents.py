"""Document pipeline throughput.

1. PDF (50 dense pages of text) -> fax TIFF: DocumentPipeline.convert vs the bare Ghostscript
   command line it runs, on the same file, interleaved. Goal: CPU ratio <= 1.10.
2. Fax TIFF -> PDF: DocumentPipeline.tiff_to_pdf (img2pdf, in-process) vs libtiff's tiff2pdf.
3. The command line's start-up: CPU of ``faxd --help`` and of ``faxd convert --help`` against a
   bare ``python -c pass`` of the same interpreter. Goal: ``faxd --help`` <= 0.15 s CPU.

``python -m bench documents [--runs N]``
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PAGES = 50


def _text_pdf(path: str) -> None:
    """50 dense pages of text, written by Ghostscript's pdfwrite from PostScript."""
    ps = ["%!PS", "/Courier findfont 10 scalefont setfont"]
    for p in range(1, PAGES + 1):
        for line in range(60):
            ps.append(f"40 {800 - line * 12.5:.1f} moveto (Page {p} line {line + 1}: "
                      f"The quick brown fox jumps over the lazy dog. 0123456789 ABCDEFGHIJKLM) show")
        ps.append("showpage")
    src = path + ".ps"
    with open(src, "w") as f:
        f.write("\n".join(ps))
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-sPAPERSIZE=a4",
                    f"-sOutputFile={path}", src], check=True)
    os.unlink(src)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(fn, cpu: list | None = None) -> float:
    """Wall seconds of fn(); its CPU seconds (this process and its children) go to ``cpu``."""
    c, t = _cpu(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    if cpu is not None:
        cpu.append(_cpu() - c)
    return wall


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench documents")
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args(argv)

    from faxd.config import Config
    from faxd.documents import DocumentPipeline
    from faxd.documents.geometry import Geometry
    from faxd.documents import ghostscript

    work = tempfile.mkdtemp(prefix="faxd-bench-docs-")
    try:
        pdf_path = os.path.join(work, f"text{PAGES}.pdf")
        _text_pdf(pdf_path)
        with open(pdf_path, "rb") as f:
            pdf = f.read()
        pipeline = DocumentPipeline(Config.load(path=None, env={}, home=work), tmpdir=work)
        bare_out = os.path.join(work, "bare.tif")
        bare_argv = ghostscript.command(pdf_path, bare_out, Geometry.of("a4", "fine"))

        def faxd_convert():
            doc = pipeline.convert([(pdf, "application/pdf")])
            assert doc.pages == PAGES

        def bare_gs():
            subprocess.run(bare_argv, check=True, stdin=subprocess.DEVNULL)

        faxd_convert(), bare_gs()   # warm the page cache and the imports
        ours, bare, ours_cpu, bare_cpu = [], [], [], []
        for i in range(args.runs):
            pair = [(faxd_convert, ours, ours_cpu), (bare_gs, bare, bare_cpu)]
            for fn, acc, cpu in (pair if i % 2 == 0 else pair[::-1]):
                acc.append(_timed(fn, cpu))
        m_ours, m_bare = statistics.median(ours), statistics.median(bare)
        print(f"PDF {PAGES} pages -> fax TIFF (204x196 A4), {args.runs} interleaved runs, "
              f"pdf {len(pdf)} bytes")
        print(f"  faxd DocumentPipeline.convert  median {m_ours:.3f} s  min {min(ours):.3f} s  "
              f"{PAGES / m_ours:.1f} pages/s")
        print(f"  bare gs command line           median {m_bare:.3f} s  min {min(bare):.3f} s  "
              f"{PAGES / m_bare:.1f} pages/s")
        ratio = m_ours / m_bare
        cpu_ratio = statistics.median(ours_cpu) / statistics.median(bare_cpu)
        print(f"  ratio faxd/gs wall {ratio:.3f}; min/min {min(ours) / min(bare):.3f}")
        print(f"  CPU seconds (process + children) median faxd {statistics.median(ours_cpu):.3f} "
              f"gs {statistics.median(bare_cpu):.3f}  ratio {cpu_ratio:.3f} "
              f"(goal <= 1.10: {'met' if cpu_ratio <= 1.10 else 'NOT met'})")

        tiff = pipeline.convert([(pdf, "application/pdf")]).tiff
        tiff_path = os.path.join(work, "fax.tif")
        with open(tiff_path, "wb") as f:
            f.write(tiff)
        out_pdf = os.path.join(work, "t2p.pdf")

        def faxd_pdf():
            pipeline.tiff_to_pdf(tiff)

        def tiff2pdf():
            subprocess.run(["tiff2pdf", "-o", out_pdf, tiff_path], check=True, stdin=subprocess.DEVNULL)

        faxd_pdf(), tiff2pdf()
        ours, theirs = [], []
        for i in range(args.runs):
            pair = [(faxd_pdf, ours), (tiff2pdf, theirs)]
            for fn, acc in (pair if i % 2 == 0 else pair[::-1]):
                acc.append(_timed(fn))
        m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
        print(f"fax TIFF {PAGES} pages -> PDF, {args.runs} interleaved runs")
        print(f"  faxd tiff_to_pdf (img2pdf)     median {m_ours:.4f} s  {PAGES / m_ours:.0f} pages/s")
        print(f"  tiff2pdf                       median {m_theirs:.4f} s  {PAGES / m_theirs:.0f} pages/s")
        print(f"  ratio faxd/tiff2pdf {m_ours / m_theirs:.3f}")
        startup(args.runs)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def startup(runs: int) -> None:
    """CPU of the command line's start-up, each command in a fresh interpreter, interleaved."""
    faxd = [sys.executable, "-m", "faxd"]
    commands = {"python -c pass": [sys.executable, "-c", "pass"], "faxd --help": [*faxd, "--help"],
                "faxd convert --help": [*faxd, "convert", "--help"]}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(max(runs, 5)):
        for name, argv in commands.items():
            _timed(lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL), cpu[name])
    base = statistics.median(cpu["python -c pass"])
    print(f"command line start-up, CPU seconds, median of {max(runs, 5)} interleaved runs")
    for name, values in cpu.items():
        m = statistics.median(values)
        goal = f"  (goal <= 0.15: {'met' if m <= 0.15 else 'NOT met'})" if name == "faxd --help" else ""
        print(f"  {name:22} {m:.3f} s  (+{m - base:.3f} over the bare interpreter){goal}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))

"""PDF and PostScript to fax TIFF with Ghostscript (-dSAFER, fixed fax media, fit to page)."""
from __future__ import annotations

import io
import os

import pikepdf

from faxd.documents import process, tiff
from faxd.documents.errors import DocumentError, DocumentTooLarge
from faxd.documents.geometry import Geometry

GS = "gs"


def pdf_pages(data: bytes) -> int:
    """Page count of a PDF; refuse damaged and password-protected files with a clear reason."""
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            n = len(pdf.pages)
            repaired = any("damaged" in w or "reconstruct" in w for w in pdf.get_warnings())
    except pikepdf.PasswordError:
        raise DocumentError("the PDF is encrypted with a password; send it without password protection") from None
    except (pikepdf.PdfError, RuntimeError, ValueError) as e:
        raise DocumentError(f"the PDF is damaged and cannot be read ({_short(e)})") from None
    if repaired and b"%%EOF" not in data[-4096:]:
        # qpdf rebuilt the cross-reference table of a file that stops short: pages are missing.
        raise DocumentError("the PDF is damaged: it is truncated (no end-of-file marker), "
                            "probably cut off during the upload")
    if n == 0:
        raise DocumentError("the PDF has no pages")
    return n


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # pikepdf prefixes the (temporary) file name; keep only the reason.
    return text.split(": ", 1)[1] if text.startswith(("<", "/")) and ": " in text else text


def command(src: str, out: str, geometry: Geometry, *, postscript: bool = False, eps: bool = False,
            last_page: int | None = None) -> list[str]:
    """The Ghostscript command line: the benchmark runs exactly this one bare."""
    argv = [
        GS, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dNOPROMPT", "-dNOINTERPOLATE",
        "-sDEVICE=tiffg4", f"-r{geometry.xres}x{geometry.yres}",
        f"-g{geometry.width}x{geometry.height}", "-dFIXEDMEDIA",
        "-dPSFitPage" if postscript else "-dPDFFitPage",
    ]
    if eps:
        argv.append("-dEPSFitPage")
    if last_page:
        argv += ["-dFirstPage=1", f"-dLastPage={last_page}"]
    argv += [f"-sOutputFile={out}", "-f", src]
    return argv


def render(src: str, out: str, geometry: Geometry, *, kind: str, max_pages: int, timeout: float,
           cwd: str, eps: bool = False) -> list[tiff.Page]:
    """Render ``src`` into the multi-page G4 TIFF ``out``; return its pages."""
    postscript = kind == "PostScript"
    argv = command(src, out, geometry, postscript=postscript, eps=eps, last_page=max_pages + 1)
    status, output = process.run(argv, cwd=cwd, timeout=timeout, what=f"Ghostscript ({kind})")
    if status != 0:
        detail = process.tail(output)
        raise DocumentError(f"Ghostscript could not render the {kind}" + (f": {detail}" if detail else ""))
    if not os.path.exists(out) or os.path.getsize(out) == 0:
        raise DocumentError(f"the {kind} has no pages")
    with open(out, "rb") as f:
        pages = tiff.pages(f.read())
    if len(pages) > max_pages:
        raise DocumentTooLarge(f"the {kind} has more than {max_pages} pages (the limit is {max_pages})")
    return pages

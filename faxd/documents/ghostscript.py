"""PDF and PostScript to fax TIFF with Ghostscript (-dSAFER, fixed fax media, fit to page), in the sandbox."""
from __future__ import annotations

import io

import pikepdf

from faxd.documents import process, sandbox, tiff
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
        "-sDEVICE=tiffg4", "-dMaxStripSize=0", f"-r{geometry.xres}x{geometry.yres}",
        f"-g{geometry.width}x{geometry.height}", "-dFIXEDMEDIA",
        "-dPSFitPage" if postscript else "-dPDFFitPage",
    ]
    if eps:
        argv.append("-dEPSFitPage")
    if last_page:
        argv += ["-dFirstPage=1", f"-dLastPage={last_page}"]
    argv += [f"-sOutputFile={out}", "-f", src]
    return argv


def permits(private: str) -> list[str]:
    """-dSAFER's permit lists opened to the run's own directory only (on top of Ghostscript's
    resource and font directories, read-only): TMPDIR is that directory too, so the system temp
    directory is not among them."""
    d = private.rstrip("/") + "/"
    return [f"--permit-file-read={d}", f"--permit-file-write={d}", f"--permit-file-control={d}"]


def render(data: bytes, geometry: Geometry, *, kind: str, max_pages: int, timeout: float,
           conversion: str, eps: bool = False) -> tuple[bytes, list[tiff.Page]]:
    """Render a PDF or PostScript document in the sandbox into a multi-page G4 TIFF; return it and its pages."""
    postscript = kind == "PostScript"
    src, out = "input." + ("ps" if postscript else "pdf"), "fax.g4.tif"

    def argv(private: str) -> list[str]:
        cmd = command(f"{private}/{src}", f"{private}/{out}", geometry, postscript=postscript, eps=eps,
                      last_page=max_pages + 1)
        return cmd[:2] + permits(private) + cmd[2:]

    result = sandbox.run(argv, inputs={src: data}, outputs=(out,), conversion=conversion, timeout=timeout,
                         what=f"Ghostscript ({kind})")
    if result.status != 0:
        detail = process.tail(result.output)
        raise DocumentError(f"Ghostscript could not render the {kind}" + (f": {detail}" if detail else ""))
    fax = result.files[out]
    if not fax:
        raise DocumentError(f"the {kind} has no pages")
    pages = tiff.pages(fax)
    if len(pages) > max_pages:
        raise DocumentTooLarge(f"the {kind} has more than {max_pages} pages (the limit is {max_pages})")
    return fax, pages

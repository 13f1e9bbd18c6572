"""DocumentPipeline: documents in, one fax TIFF out; fax TIFFs back to PDF; document URLs.

Every conversion runs in its own temporary directory, removed whatever happens, under one
deadline (``convert_timeout``). Ghostscript, tiffcp and LibreOffice run as green subprocesses
with resource limits, each run in the sandbox of :mod:`faxd.documents.sandbox` (a private
directory, no root, no network); Pillow, pikepdf and img2pdf run in faxd's own threadpool, so
the gevent hub keeps serving other faxes while a document converts.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass

import gevent

from faxd import fetch as _fetch
from faxd.documents import cover as covers
from faxd.documents import detect, ghostscript, images, office, pdfshape, process, sandbox, text, tiff
from faxd.documents.errors import ConversionTimeout, DocumentError, DocumentTooLarge, FetchError
from faxd.documents.geometry import Geometry

logger = logging.getLogger(__name__)

TIFFCP = "tiffcp"
# Rows per strip for tiffcp: more than any page has, so each page is one strip. A one-strip G4
# page goes into the PDF rendition as it is (a CCITT stream); a page cut into strips must be
# decoded and re-encoded there, a hundred times slower.
ONE_STRIP = "1000000"


@dataclass(frozen=True)
class FaxDocument:
    tiff: bytes
    pages: int
    width: int
    resolution: str     # "204x196" | "204x98"
    paper: str          # "a4" | "letter"


_pool = None
POOL_SIZE = max(2, os.cpu_count() or 2)


def _in_thread(fn, *args):
    """Run CPU-bound work off the hub (Pillow, pikepdf and img2pdf release the GIL in C).

    A pool of our own: the hub's pool also resolves host names, and a burst of conversions
    must not starve it; its size also bounds how many big images are in memory at once.
    """
    global _pool
    if _pool is None:
        from gevent.threadpool import ThreadPool
        _pool = ThreadPool(POOL_SIZE)
    return _pool.apply(fn, args)


class DocumentPipeline:
    """Fetch, check and convert documents; render fax TIFFs as PDF."""

    def __init__(self, config, *, tmpdir: str | None = None, soffice: str | None | bool = True):
        self._config = config
        self._tmpdir = tmpdir
        self._soffice = office.find_soffice() if soffice is True else (soffice or None)

    # --- convert

    def convert(self, inputs: list[tuple[bytes, str | None]], resolution: str | None = None,
                paper: str | None = None, cover: covers.Cover | None = None) -> FaxDocument:
        """Convert ``[(data, declared content type)]``, in order, into one multi-page fax TIFF,
        after the ``cover`` page when there is one (its page count includes itself)."""
        geometry = Geometry.of(paper or self._config.paper, resolution or self._config.resolution)
        if not inputs:
            raise DocumentError("no document to convert")
        inputs = [(bytes(data), declared) for data, declared in inputs]   # memoryview from the database
        limit = self._config.max_upload_bytes
        for n, (data, _declared) in enumerate(inputs, 1):
            if len(data) > limit:
                raise DocumentTooLarge(f"document {n} is {len(data)} bytes; the limit is {limit} bytes")
        if len(inputs) == 1 and cover is None:
            ready = self._as_it_is(*inputs[0], geometry)
            if ready is not None:
                return ready
        timeout = self._config.convert_timeout or None
        conversion = sandbox.conversion_dir(self._tmpdir)
        try:
            expired = ConversionTimeout(f"the conversion took longer than {timeout:g} s and was stopped") \
                if timeout else None
            with gevent.Timeout(timeout, expired):
                return self._convert(inputs, geometry, conversion, timeout, cover)
        finally:
            shutil.rmtree(conversion, ignore_errors=True)

    def _as_it_is(self, data: bytes, declared: str | None, g: Geometry) -> FaxDocument | None:
        """A TIFF already in the form faxd stores (see :func:`tiff.is_final_fax_page`) is the fax
        TIFF as it is: no converter, no temporary directory; a few tens of microseconds."""
        if detect.detect_type(data, declared) != detect.TIFF:
            return None
        pages = _fax_ready(data, g, self._config.max_pages)
        if pages is None or not _final_fax_tiff(data, g):
            return None
        return FaxDocument(tiff=data, pages=pages, width=g.width, resolution=g.resolution, paper=g.paper)

    def _convert(self, inputs, g: Geometry, conversion: str, timeout: float | None,
                 cover: covers.Cover | None = None) -> FaxDocument:
        deadline = time.monotonic() + (timeout or 24 * 3600)
        own = sandbox.private_dir(conversion)
        max_pages = self._config.max_pages
        parts: list[bytes] = []
        total = 0
        g4 = False
        for n, (data, declared) in enumerate(inputs, 1):
            ctype = detect.detect_type(data, declared)
            left = max_pages - total
            part, count, g4 = self._one(data, ctype, declared, g, own, conversion, left, deadline, n)
            total += count
            if total > max_pages:
                raise DocumentTooLarge(f"the documents make more than {max_pages} pages (the limit is {max_pages})")
            parts.append(part)
        if cover is not None:
            total += 1
            if total > max_pages:
                raise DocumentTooLarge(f"the documents and the cover page make more than {max_pages} pages "
                                       f"(the limit is {max_pages})")
            page = _in_thread(covers.render, cover.with_pages(total), g)
            parts.insert(0, _in_thread(_pages_tiff, os.path.join(own, "cover.tif"), [page], g))
        if len(parts) == 1 and g4:
            data = parts[0]   # Ghostscript already wrote the fax TIFF
        else:
            names = [f"part-{n}.tif" for n in range(1, len(parts) + 1)]
            result = sandbox.run(lambda d: [TIFFCP, "-c", "g4", "-r", ONE_STRIP, *(f"{d}/{p}" for p in names), f"{d}/fax.tif"],
                                 inputs=dict(zip(names, parts)), outputs=("fax.tif",), conversion=conversion,
                                 timeout=deadline - time.monotonic(), what="tiffcp")
            data = result.files["fax.tif"]
            if result.status != 0 or not data:
                raise DocumentError(f"tiffcp could not assemble the fax TIFF: {process.tail(result.output)}")
        layout = tiff.pages(data)
        for p in layout:
            if p.width != g.width or p.resolution != g.resolution:
                raise DocumentError(f"internal error: a page came out {p.width} wide at {p.resolution}")
        return FaxDocument(tiff=data, pages=len(layout), width=g.width, resolution=g.resolution, paper=g.paper)

    def _one(self, data: bytes, ctype: str, declared: str | None, g: Geometry, own: str, conversion: str,
             max_pages: int, deadline: float, n: int) -> tuple[bytes, int, bool]:
        """Convert input ``n`` into a TIFF; return it, its pages and whether it is the G4 fax TIFF already."""
        if ctype in detect.OFFICE:
            data = office.to_pdf(self._soffice, data, ctype, conversion=conversion,
                                 timeout=deadline - time.monotonic(), hide=self._config.home)
            ctype = detect.PDF
        if ctype == detect.PDF:
            pages = _in_thread(ghostscript.pdf_pages, data)
            if pages > max_pages:
                before = self._config.max_pages - max_pages
                raise DocumentTooLarge(f"the PDF has {pages} pages" + (
                    f", after {before} pages of the documents before it" if before else "")
                    + f" (the limit is {self._config.max_pages})")
            data = _in_thread(pdfshape.upright_short_pages, data, g)
            return self._ghostscript(data, "PDF", g, conversion, max_pages, deadline)
        if ctype == detect.POSTSCRIPT:
            return self._ghostscript(data, "PostScript", g, conversion, max_pages, deadline)
        if ctype == detect.TIFF:
            ready = _fax_ready(data, g, max_pages)
            if ready is not None:
                return data, ready, _final_fax_tiff(data, g)
        if ctype in detect.IMAGES:
            pages = _in_thread(images.image_pages, data, ctype, g, max_pages)
        elif ctype == detect.TEXT:
            _type, params = detect.normalise(declared)
            body = text.decode(data, params.get("charset"))
            pages = _in_thread(text.text_pages, body, g, max_pages)
        else:  # pragma: no cover - detect_type returns only the types above
            raise DocumentError(f"no converter for {ctype}")
        return _in_thread(_pages_tiff, os.path.join(own, f"part-{n}.tif"), pages, g), len(pages), False

    def _ghostscript(self, data, kind, g, conversion, max_pages, deadline) -> tuple[bytes, int, bool]:
        eps = kind == "PostScript" and b"EPSF" in data[:64].split(b"\n")[0]
        fax, pages = ghostscript.render(data, g, kind=kind, max_pages=max_pages, timeout=deadline - time.monotonic(),
                                        conversion=conversion, eps=eps)
        return fax, len(pages), True

    # --- render

    def tiff_to_pdf(self, tiff_data: bytes) -> bytes:
        """Wrap the fax TIFF's G3/G4 pages in a PDF: lossless, page size from the resolution.

        One-strip G4 pages (what faxd stores) are wrapped here, on the hub: it is a copy of their
        bytes, cheaper than the hand-over to a thread; anything else is decoded in the threadpool."""
        if tiff_data:
            layout = tiff.pages(tiff_data)
            if all(_wrappable(p) for p in layout):
                tiff.check_claims(tiff_data, layout)
                return g4_pdf(tiff_data, layout)
        return _in_thread(tiff_to_pdf, tiff_data)

    # --- fetch

    def fetch(self, url: str, method: str = "get", content: str | None = None,
              content_type: str | None = None, host: str | None = None,
              referer: str | None = None) -> tuple[bytes, str | None]:
        """Fetch ``document.url`` as Kazoo does (method, content, host and referer headers)."""
        method = (method or "get").lower()
        if method not in ("get", "post"):
            raise FetchError(f"document.method must be get or post, not {method!r}")
        headers = {"User-Agent": "faxd", "Accept": "*/*"}
        if host:
            headers["Host"] = host
        if referer:
            headers["Referer"] = referer
        body = None
        if method == "post":
            body = (content or "").encode("utf-8")
            headers["Content-Type"] = content_type or "application/x-www-form-urlencoded"
        resp = _fetch.request(method.upper(), url, headers=headers, body=body,
                              timeout=self._config.fetch_timeout or 30.0,
                              max_bytes=self._config.max_upload_bytes, allow=self._config.fetch_allow)
        if not 200 <= resp.status < 300:
            raise FetchError(f"{method.upper()} {_fetch.redact(resp.url)} answered HTTP {resp.status}")
        if not resp.body:
            raise FetchError(f"{method.upper()} {_fetch.redact(resp.url)} returned an empty document")
        return resp.body, resp.headers.get("content-type")


def _fax_ready(data: bytes, g: Geometry, max_pages: int) -> int | None:
    """Pages of a TIFF whose every page is already a fax page (1728 wide, 1 bit, min-is-white,
    G3 or G4, the requested resolution), or None. Such a file is not decoded here: its pages are
    kept bit for bit (at most re-encoded by tiffcp, losslessly). Only its structure is checked
    (page directories, sizes, image data inside the file); damaged CCITT data inside it is found
    by the switch's TIFF reader, and the attempt then ends with T.30's TIFF error, a permanent
    failure (faxd/retry.py)."""
    layout = tiff.pages(data, max_pages=max_pages)
    if not all(tiff.is_fax_page(p, g.yres) and p.compression in (3, 4) for p in layout):
        return None
    tiff.check_claims(data, layout)
    if len(layout) > max_pages:
        raise DocumentTooLarge(f"the TIFF has more than {max_pages} pages (the limit is {max_pages})")
    return len(layout)


def _final_fax_tiff(data: bytes, g: Geometry) -> bool:
    return all(tiff.is_final_fax_page(p, g.yres) for p in tiff.pages(data))


def _pages_tiff(path: str, pages: list, g: Geometry) -> bytes:
    """Pages drawn by faxd as a TIFF, through a file in the conversion's private directory."""
    tiff.write_bilevel(path, [(images.packed(p), p.width, p.height) for p in pages], g.xres, g.yres)
    try:
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def tiff_to_pdf(data: bytes) -> bytes:
    import img2pdf

    if not data:
        raise DocumentError("the TIFF is empty (0 bytes)")
    layout = tiff.pages(data)
    tiff.check_claims(data, layout)
    if all(_wrappable(p) for p in layout):
        return g4_pdf(data, layout)
    dpis = [(p.xres, p.yres) if p.xres and p.yres else _guess_dpi(p) for p in layout]
    calls = iter(dpis)

    def layout_fun(width_px, height_px, _ndpi):
        # img2pdf lays out the pages in order; use the resolution each TIFF page declares.
        xdpi, ydpi = next(calls, dpis[-1])
        w, h = width_px / xdpi * 72, height_px / ydpi * 72
        return w, h, w, h

    try:
        return img2pdf.convert(data, layout_fun=layout_fun, rotation=img2pdf.Rotation.ifvalid)
    except Exception as e:  # img2pdf raises plain Exception subclasses of many kinds
        raise DocumentError(f"the TIFF cannot be rendered as PDF: {e}") from None


def _wrappable(p: tiff.Page) -> bool:
    """A page whose data is one CCITT G4 stream PDF can hold as it is (what faxd stores)."""
    return (p.compression == 4 and p.strips == 1 and p.fill_order == 1 and p.bits == 1 and p.samples == 1
            and p.photometric == 0 and bool(p.xres) and bool(p.yres))


def g4_pdf(data: bytes, layout: list[tiff.Page]) -> bytes:
    """The PDF img2pdf writes for one-strip G4 pages (each page's CCITT stream as an image the
    size of the page at its resolution), written directly: microseconds instead of img2pdf's
    milliseconds of parsing, for every fax prepared (tests/integration/documents checks that the
    two agree)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    add(b"<< /Type /Catalog /Pages 2 0 R >>")
    add(b"")   # the page tree, written once the pages are known
    kids = []
    for p in layout:
        stream = data[p.data_end - p.data_bytes:p.data_end]
        w, h = p.width / p.xres * 72, p.length / p.yres * 72
        image = add(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                    b"/BitsPerComponent 1 /Filter [/CCITTFaxDecode] /DecodeParms [<< /K -1 /Columns %d "
                    b"/Rows %d /BlackIs1 false >>] /Length %d >>\nstream\n%s\nendstream"
                    % (p.width, p.length, p.width, p.length, len(stream), stream))
        content = b"q\n%.4f 0 0 %.4f 0 0 cm\n/Im0 Do\nQ" % (w, h)
        contents = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
        kids.append(add(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.6f %.6f] /Resources << /XObject "
                        b"<< /Im0 %d 0 R >> >> /Contents %d 0 R >>" % (w, h, image, contents)))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _guess_dpi(p: tiff.Page) -> tuple[float, float]:
    """A fax page without resolution tags: 1728 wide means 204 dpi; short pages are normal."""
    if p.width in (1728, 2048, 2432):
        return 204.0, (98.0 if p.length < 1400 else 196.0)
    return 200.0, 200.0

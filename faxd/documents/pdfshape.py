"""Short pages stay upright: a PDF page as wide as the fax but not as tall gets paper below it.

Ghostscript's fit-to-page turns every page that is wider than tall a quarter turn, which is
right for a real landscape page (11 x 8.5 inches: turned, it fills the portrait fax page at
nearly full size) and wrong for a short page such as a half-letter statement or a receipt
(8.5 x 5.5 inches): turned, its text runs down the fax at two thirds of its size. A page that
fits across the fax paper at no less than :data:`MIN_SCALE` is therefore given blank paper
below its content until it has the fax paper's shape, so it is sent upright, at full size,
from the top of the page, as a printer would print it.
"""
from __future__ import annotations

import io

import pikepdf

from faxd.documents.geometry import Geometry

MIN_SCALE = 0.9


def upright_short_pages(data: bytes, g: Geometry) -> bytes:
    """``data`` with its short, fax-wide pages extended downwards; unchanged when there are none."""
    paper_w = g.width / g.xres * 72
    paper_h = g.height / g.yres * 72
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            changed = False
            for page in pdf.pages:
                if int(page.obj.get("/Rotate", 0)) % 180:
                    continue   # turned by its own /Rotate: its boxes are in the other direction
                x0, y0, x1, y1 = (float(v) for v in page.mediabox)
                if "/CropBox" in page.obj:
                    x0, y0, x1, y1 = (float(v) for v in page.obj.CropBox)
                w, h = x1 - x0, y1 - y0
                if w <= h or w <= 0 or paper_w / w < MIN_SCALE:
                    continue
                tall = w * paper_h / paper_w
                # Move the content to the top of a taller page whose origin is 0,0 (Ghostscript's
                # fit-to-page misplaces a box with a negative origin).
                page.contents_add(f"q 1 0 0 1 {-x0:.4f} {tall - y1:.4f} cm\n".encode(), prepend=True)
                page.contents_add(b"\nQ\n")
                box = pikepdf.Array([0, 0, w, tall])
                page.obj.MediaBox = box
                page.obj.CropBox = box
                changed = True
            if not changed:
                return data
            out = io.BytesIO()
            pdf.save(out)
            return out.getvalue()
    except (pikepdf.PdfError, ValueError, TypeError, KeyError):
        return data   # the page count check already refused what pikepdf cannot read

"""The document limits that can be known at upload, checked before the job is stored.

An image's pixel count is in its header and a PDF's or TIFF's page count in its structure, so
a document over ``MAX_PIXELS`` or ``max_pages`` is a 413 at once instead of a job that fails
later in the attacher. Nothing here decodes pixels or renders a page: Pillow reads only the
header, the TIFF pages come from the IFD chain, the PDF's page tree from qpdf (pikepdf).
A document this cannot read is left to the pipeline, which names the problem (422).
"""
from __future__ import annotations

import io
import warnings

from PIL import Image

from faxd.documents.detect import IMAGES, PDF, TIFF
from faxd.documents.errors import DocumentError, DocumentTooLarge
from faxd.documents.images import MAX_PIXELS
from faxd.documents import tiff


def check_all(documents, max_pages: int) -> None:
    """``documents``: (bytes, content type, name); the pages of one fax add up."""
    total = 0
    for data, content_type, _name in documents:
        total += check(data, content_type, max_pages)
        if total > max_pages:
            raise DocumentTooLarge(f"the documents have more than {max_pages} pages together "
                                   f"(the limit is {max_pages})")


def check(data: bytes, content_type: str, max_pages: int) -> int:
    """The pages known without converting (0 when not known); raise :class:`DocumentTooLarge`
    when a limit is certainly exceeded."""
    kind = content_type.split(";", 1)[0]
    if kind == TIFF:
        return _tiff(data, max_pages)
    if kind in IMAGES:
        _image(data)
        return 1
    if kind == PDF:
        return _pdf(data, max_pages)
    return 0


def _too_many_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_PIXELS:
        raise DocumentTooLarge(
            f"{what} is {width}x{height} pixels, more than the {MAX_PIXELS // 1_000_000} megapixel limit")


def _image(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:   # lazy: reads the header only
                width, height = im.size
    except Image.DecompressionBombError:
        raise DocumentTooLarge("the image has too many pixels (decompression bomb)") from None
    except Exception:  # noqa: BLE001 - a damaged header is the pipeline's to report
        return
    _too_many_pixels(width, height, "the image")


def _tiff(data: bytes, max_pages: int) -> int:
    try:
        layout = tiff.pages(data, max_pages=max_pages)
    except DocumentError:
        return 0
    if len(layout) > max_pages:
        raise DocumentTooLarge(f"the TIFF has more than {max_pages} pages (the limit is {max_pages})")
    for n, page in enumerate(layout, 1):
        _too_many_pixels(page.width, page.length, f"page {n} of the TIFF")
    return len(layout)


def _pdf(data: bytes, max_pages: int) -> int:
    import pikepdf
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            count = len(pdf.pages)
    except Exception:  # noqa: BLE001 - damaged or encrypted: the pipeline says which
        return 0
    if count > max_pages:
        raise DocumentTooLarge(f"the PDF has {count} pages (the limit is {max_pages})")
    return count

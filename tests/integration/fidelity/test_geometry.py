"""Page geometry as the recipient sees it: nothing cut off, nothing stretched.

The gallery's geometry pages (US Letter, Legal, A4, landscape, mixed orientation, a half-height
page) each carry a first line, a right-hand column at the right margin, a last line at the
bottom margin and a filled 1.5 inch square. On every fax page made from them, on A4 and Letter
fax paper, at fine and normal resolution, OCR must read all three texts, and the square must
still be square (within 2%) once the page is shown at its real size.
"""
from __future__ import annotations

import os

import pytest

from faxd.documents import DocumentPipeline
from tests import reading
from tests.data.gallery import make_gallery as gallery
from tests.integration.engine.harness import enqueue, fast, running, wait_final, wait_inbox

GEOMETRY = [e for e in gallery.load()["documents"] if e["check"] == "geometry"]
# Ghostscript turns a landscape page a quarter turn to fill the portrait fax page.
LANDSCAPE = {("landscape.pdf", 1), ("mixed-orientation.pdf", 2)}
SQUARE_TOLERANCE = 0.02


def _read(name: str) -> bytes:
    with open(os.path.join(gallery.HERE, name), "rb") as f:
        return f.read()


def check_page(page, doc: dict, n: int, what: str) -> None:
    sentences = doc.get("page_sentences") or [doc["sentence"]]
    first = sentences[n - 1] if n <= len(sentences) else sentences[0]
    label = first.split(" page first line")[0]
    upright = page.rotate(90, expand=True) if (doc["file"], n) in LANDSCAPE else page
    text = reading.ocr(upright)
    if (doc["file"], n) in LANDSCAPE and reading.reads(text, first) < 0.9:
        text = reading.ocr(page.rotate(270, expand=True))   # turned the other way
    reading.assert_reads(text, first, f"{what} page {n}: first line")
    reading.assert_reads(text, "Right column", f"{what} page {n}: right-hand column")
    reading.assert_reads(text, f"Last line of the {label} page", f"{what} page {n}: last line")
    ratio = reading.aspect(page)
    assert abs(ratio - 1) <= SQUARE_TOLERANCE, f"{what} page {n}: the square is {ratio:.3f} wide per high"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from faxd.config import Config
    home = tmp_path_factory.mktemp("geometry")
    return DocumentPipeline(Config.load(path=None, env={}, home=str(home), database_url="postgresql:///unused"))


@pytest.mark.parametrize("paper,resolution", [("a4", "fine"), ("letter", "fine"), ("a4", "normal")])
@pytest.mark.parametrize("doc", GEOMETRY, ids=[d["file"] for d in GEOMETRY])
def test_converted_pages_keep_every_edge_and_shape(pipeline, doc, paper, resolution):
    fax = pipeline.convert([(_read(doc["file"]), doc["content_type"])], paper=paper, resolution=resolution)
    assert fax.pages == doc.get("pages", 1)
    for n, page in enumerate(reading.tiff_pages(fax.tiff), 1):
        check_page(page, doc, n, f"{doc['file']} on {paper} at {resolution}")


def test_fax_pdf_has_the_page_size_of_the_fax(pipeline):
    """The PDF of a normal-resolution fax is an A4 page, not a half-height one."""
    doc = next(d for d in GEOMETRY if d["file"] == "paper-a4.pdf")
    fax = pipeline.convert([(_read(doc["file"]), doc["content_type"])], paper="a4", resolution="normal")
    (page,) = reading.pdf_pages(pipeline.tiff_to_pdf(fax.tiff))
    assert abs(page.width / 204 - 8.47) < 0.05 and abs(page.height / 204 - 11.69) < 0.05, page.size
    check_page(page, doc, 1, "PDF of a normal-resolution fax")


@pytest.mark.parametrize("t38", [False, True], ids=["audio", "t38"])
def test_received_normal_resolution_fax_renders_at_its_real_shape(config, store, t38):
    """A fax received at 204x98 is shown in the inbox's PDF at its real aspect ratio."""
    doc = next(d for d in GEOMETRY if d["file"] == "paper-legal.pdf")
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with running(fast(config)):
        job_id = enqueue(store, boot.account_id, "+12025550100", document=_read(doc["file"]),
                         content_type=doc["content_type"], resolution="normal", media={"fax_option": t38})
        job = wait_final(store, boot.account_id, [job_id])[job_id]
        assert job["status"] == "completed", job["tx_result"]
        assert job["tx_result"]["t38_used"] is t38
        rows = wait_inbox(store, boot.account_id, timeout=30)
    pdf = store.get_inbox_document(boot.account_id, rows[0]["id"], "pdf")
    (page,) = reading.pdf_pages(bytes(pdf["data"]))
    check_page(reading.without_header(page), doc, 1, "inbox PDF of a normal-resolution fax")

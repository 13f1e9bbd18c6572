"""Fax TIFF to PDF: lossless, page size from the resolution, no inversion."""
import io
import subprocess

import pikepdf
import pytest
from PIL import Image
from pikepdf import PdfImage

from faxd.documents import DocumentError
from tests.integration.documents.helpers import black_ratio, frames, make_pipeline
from tests.unit.documents import corpus


@pytest.fixture
def pipeline(tmp_path):
    return make_pipeline(tmp_path)[0]


def pdf_pages(pdf: bytes):
    """[(MediaBox, image filters, image as Pillow)] of every page."""
    out = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            (raw,) = [v for v in page.Resources.XObject.values()]
            image = PdfImage(raw)
            out.append((tuple(float(v) for v in page.mediabox), image.filters,
                        image.as_pil_image().convert("1")))
    return out


@pytest.mark.parametrize("resolution, paper, size_mm", [
    ("fine", "a4", (215.1, 297.0)), ("normal", "a4", (215.1, 297.0)), ("fine", "letter", (215.1, 279.4)),
])
def test_page_size_and_lossless_pixels(pipeline, resolution, paper, size_mm):
    fax = pipeline.convert([(corpus.pdf(2), None)], resolution=resolution, paper=paper)
    pdf = pipeline.tiff_to_pdf(fax.tiff)
    pages = pdf_pages(pdf)
    assert len(pages) == 2
    for (box, filters, image), original in zip(pages, frames(fax.tiff)):
        w_mm, h_mm = (box[2] - box[0]) / 72 * 25.4, (box[3] - box[1]) / 72 * 25.4
        assert (w_mm, h_mm) == pytest.approx(size_mm, abs=0.1)
        # G4 passed through, not re-encoded or re-sampled.
        assert filters == ["/CCITTFaxDecode"]
        assert image.tobytes() == original.tobytes()


def test_received_g3_tiff_renders_with_the_right_polarity(pipeline, tmp_path):
    """What spandsp writes on reception: G3 2-D, EOL padding, FillOrder lsb-to-msb."""
    fax = pipeline.convert([(corpus.pdf(1), None)])
    src, g3 = tmp_path / "fax.tif", tmp_path / "rx.tif"
    src.write_bytes(fax.tiff)
    subprocess.run(["tiffcp", "-c", "g3:2d:fill", "-f", "lsb2msb", str(src), str(g3)], check=True)
    pdf = pipeline.tiff_to_pdf(g3.read_bytes())
    (box, _filters, image), = pdf_pages(pdf)
    assert image.tobytes() == frames(fax.tiff)[0].tobytes()
    # Render the PDF as a viewer would and look at the pixels: the box is black, the margin white.
    out, pdf_path = tmp_path / "page.png", tmp_path / "rx.pdf"
    pdf_path.write_bytes(pdf)
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray", "-r204x196",
                    f"-sOutputFile={out}", str(pdf_path)], check=True)
    page = Image.open(out)
    assert page.size == (1728, 2292)
    assert black_ratio(page, (200, 65, 440, 100)) > 0.99
    assert black_ratio(page, (0, 2200, 1728, 2292)) == 0
    assert black_ratio(page) < 0.1


def test_tiff_without_resolution_tags_gets_fax_geometry(pipeline, tmp_path):
    page = Image.new("1", (1728, 1146), 1)
    buf = io.BytesIO()
    page.save(buf, "TIFF", compression="group4")   # no resolution tags at all
    (box, _filters, _image), = pdf_pages(pipeline.tiff_to_pdf(buf.getvalue()))
    assert round((box[2] - box[0]) / 72 * 204) == 1728
    assert round((box[3] - box[1]) / 72 * 98) == 1146


def test_broken_tiff_is_a_clear_error(pipeline):
    with pytest.raises(DocumentError, match="empty"):
        pipeline.tiff_to_pdf(b"")
    with pytest.raises(DocumentError, match="lies about its size"):
        pipeline.tiff_to_pdf(corpus.lying_tiff())
    with pytest.raises(DocumentError, match="not a TIFF"):
        pipeline.tiff_to_pdf(b"%PDF-1.4 nope")


def test_faxd_own_pdf_writer_agrees_with_img2pdf_and_renders_the_same_pixels(pipeline, tmp_path):
    """One-strip G4 pages (what faxd stores) are wrapped by faxd's writer, not img2pdf: same
    image dictionary, same CCITT bytes, same page size; Ghostscript draws the fax's pixels."""
    import img2pdf

    from faxd.documents import tiff
    from faxd.documents.pipeline import g4_pdf

    fax = pipeline.convert([(corpus.pdf(2), None)], resolution="normal")
    ours = pipeline.tiff_to_pdf(fax.tiff)
    assert ours == g4_pdf(fax.tiff, tiff.pages(fax.tiff))
    reference = img2pdf.convert(fax.tiff, layout_fun=img2pdf.get_fixed_dpi_layout_fun((204, 98)))

    def described(pdf):
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            out = []
            for page in doc.pages:
                (raw,) = page.Resources.XObject.values()
                keys = {k: str(raw[k]) for k in ("/Width", "/Height", "/ColorSpace", "/BitsPerComponent",
                                                 "/Filter", "/DecodeParms")}
                out.append(([round(float(v), 2) for v in page.mediabox], keys, raw.read_raw_bytes()))
            return out
    assert described(ours) == described(reference)
    path, png = tmp_path / "fax.pdf", tmp_path / "page-%d.png"
    path.write_bytes(ours)
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray", "-r204x98",
                    f"-sOutputFile={png}", str(path)], check=True)
    for n, original in enumerate(frames(fax.tiff), 1):
        drawn = Image.open(str(png) % n).convert("1")
        assert drawn.tobytes() == original.tobytes()

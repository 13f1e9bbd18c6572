"""Every input type becomes a fax TIFF spandsp accepts: 1-bit G4 min-is-white, 1728 wide."""
import io
import subprocess

import pytest
from PIL import Image, ImageChops

from faxd.documents import tiff
from tests.integration.documents.helpers import black_ratio, frames, make_pipeline
from tests.unit.documents import corpus


@pytest.fixture
def pipeline(tmp_path):
    p, work = make_pipeline(tmp_path)
    yield p
    assert list(work.iterdir()) == [], "temporary files left behind"


def check_fax(doc, pages, resolution="204x196", paper="a4"):
    height = {("a4", "204x196"): 2292, ("a4", "204x98"): 1146,
              ("letter", "204x196"): 2156, ("letter", "204x98"): 1078}[(paper, resolution)]
    assert (doc.pages, doc.width, doc.resolution, doc.paper) == (pages, 1728, resolution, paper)
    layout = tiff.pages(doc.tiff)
    assert len(layout) == pages
    for p in layout:
        # What spandsp's t4_tx accepts (spandsp-notes §6): 1 bit, min-is-white, 1728 wide, R8 fine/normal.
        assert (p.width, p.bits, p.samples, p.photometric, p.compression) == (1728, 1, 1, 0, 4)
        assert p.resolution == resolution
        assert p.length == height
        # One strip per page: the PDF rendition wraps it without decoding (docs/documents.md).
        assert p.strips == 1
    return frames(doc.tiff)


def test_pdf(pipeline):
    pages = check_fax(pipeline.convert([(corpus.pdf(3), "application/pdf")]), 3)
    # The black box at the top left is black (no inversion); the page is mostly white.
    assert black_ratio(pages[0], (200, 65, 440, 100)) > 0.99
    assert black_ratio(pages[0], (200, 130, 440, 150)) < 0.2
    assert black_ratio(pages[0]) < 0.1


@pytest.mark.parametrize("resolution, paper", [("normal", "a4"), ("fine", "letter"), ("normal", "letter")])
def test_pdf_geometry(pipeline, resolution, paper):
    res = {"fine": "204x196", "normal": "204x98"}[resolution]
    check_fax(pipeline.convert([(corpus.pdf(2), None)], resolution=resolution, paper=paper), 2, res, paper)


def test_letter_pdf_fits_on_a4_without_distortion(pipeline):
    # A landscape Letter page on A4 fax paper: scaled to fit, proportions kept.
    doc = pipeline.convert([(corpus.pdf(1, size=(792.0, 612.0), lines=5), None)])
    page = check_fax(doc, 1)[0]
    box = page.getbbox() if page.mode != "1" else ImageChops.invert(page.convert("L")).getbbox()
    assert box is not None and box[2] <= 1728


def test_postscript(pipeline):
    pages = check_fax(pipeline.convert([(corpus.postscript(2), "application/postscript")]), 2)
    assert black_ratio(pages[1]) > 0.001


@pytest.mark.parametrize("fmt, kw", [("PNG", {}), ("JPEG", {"quality": 90}), ("GIF", {}),
                                     ("TIFF", {"compression": "tiff_lzw"})])
def test_images(pipeline, fmt, kw):
    data = corpus.encode(corpus.text_image(), fmt, **kw)
    page = check_fax(pipeline.convert([(data, None)]), 1)[0]
    # The bars are black and the background white, not inverted.
    assert 0.05 < black_ratio(page) < 0.6
    assert black_ratio(page, (0, 2200, 1728, 2292)) < 0.01


def test_photo_is_dithered_not_flattened(pipeline):
    data = corpus.encode(corpus.photo(), "JPEG", quality=90)
    page = check_fax(pipeline.convert([(data, "image/jpeg")]), 1)[0]
    # A gradient thresholded would be half black in one solid block; dithered, the middle
    # band mixes black and white pixels.
    band = page.crop((700, 1000, 1000, 1300)).convert("L").histogram()
    assert band[0] > 1000 and band[255] > 1000


def test_tiff_any_compression_resolution_and_colour(pipeline):
    im = corpus.text_image((1240, 1754))   # A4 at 150 dpi
    variants = [
        corpus.encode(im, "TIFF", compression="tiff_lzw", dpi=(150, 150)),
        corpus.encode(im.convert("L"), "TIFF", compression="tiff_adobe_deflate", dpi=(150, 150)),
        corpus.encode(im.convert("1"), "TIFF", compression="group4", dpi=(150, 150)),
        corpus.encode(im.convert("CMYK"), "TIFF", compression="tiff_lzw", dpi=(150, 150)),
        corpus.encode(im.convert("P"), "TIFF", compression="packbits", dpi=(150, 150)),
    ]
    for data in variants:
        page = check_fax(pipeline.convert([(data, "image/tiff")]), 1)[0]
        assert 0.05 < black_ratio(page) < 0.6


def test_multipage_tiff_and_png_with_alpha(pipeline):
    buf = io.BytesIO()
    a = corpus.text_image((600, 800))
    a.save(buf, "TIFF", save_all=True, append_images=[a.rotate(180), a], compression="tiff_lzw")
    rgba = corpus.text_image((600, 800)).convert("RGBA")
    rgba.putalpha(0)  # fully transparent: must come out white, not black
    doc = pipeline.convert([(buf.getvalue(), "image/tiff"), (corpus.encode(rgba, "PNG"), "image/png")])
    pages = check_fax(doc, 4)
    assert black_ratio(pages[3]) == 0


def test_text(pipeline):
    body = "\n".join(f"Line {i}: Grüße – ωμέγα {'x' * (i % 130)}" for i in range(130))
    pages = check_fax(pipeline.convert([(body.encode(), "text/plain; charset=utf-8")]), 3)
    assert all(black_ratio(p) > 0.001 for p in pages)


def test_text_normal_resolution(pipeline):
    check_fax(pipeline.convert([(b"hello\fsecond page\n", "text/plain")], resolution="normal"), 2, "204x98")


def test_inputs_are_concatenated_in_order(pipeline):
    doc = pipeline.convert([
        (corpus.pdf(2), "application/pdf"),
        (b"a text page\n", "text/plain"),
        (corpus.encode(corpus.text_image(), "PNG"), "image/png"),
        (corpus.postscript(1), None),
    ], resolution="normal", paper="letter")
    check_fax(doc, 5, "204x98", "letter")


def test_fax_tiff_input_passes_pixel_identical(pipeline):
    first = pipeline.convert([(corpus.pdf(2), None)])
    again = pipeline.convert([(first.tiff, "image/tiff")])
    check_fax(again, 2)
    for a, b in zip(frames(first.tiff), frames(again.tiff)):
        assert a.tobytes() == b.tobytes()


def test_fax_ready_tiff_is_kept_byte_for_byte_without_a_converter(pipeline, tmp_path):
    first = pipeline.convert([(corpus.pdf(2), None)])
    again = pipeline.convert([(first.tiff, "image/tiff")])
    assert again.tiff == first.tiff and again.pages == 2
    # Cut into strips (tiffcp's default), it is re-encoded into one strip per page, same pixels.
    src, strips = tmp_path / "in.tif", tmp_path / "strips.tif"
    src.write_bytes(first.tiff)
    subprocess.run(["tiffcp", "-c", "g4", "-r", "37", str(src), str(strips)], check=True)
    assert tiff.pages(strips.read_bytes())[0].strips > 1
    restriped = pipeline.convert([(strips.read_bytes(), "image/tiff")])
    check_fax(restriped, 2)
    assert [f.tobytes() for f in frames(restriped.tiff)] == [f.tobytes() for f in frames(first.tiff)]
    # At another resolution than asked, it is converted (scaled), not kept.
    normal = pipeline.convert([(first.tiff, "image/tiff")], resolution="normal")
    check_fax(normal, 2, "204x98")


def test_received_style_g3_tiff_is_accepted(pipeline, tmp_path):
    # spandsp writes received faxes as G3 2-D with EOL padding, FillOrder lsb-to-msb.
    src, g3 = tmp_path / "in.tif", tmp_path / "g3.tif"
    first = pipeline.convert([(corpus.pdf(1), None)])
    src.write_bytes(first.tiff)
    subprocess.run(["tiffcp", "-c", "g3:2d:fill", "-f", "lsb2msb", str(src), str(g3)], check=True)
    again = pipeline.convert([(g3.read_bytes(), "image/tiff")])
    check_fax(again, 1)
    assert frames(first.tiff)[0].tobytes() == frames(again.tiff)[0].tobytes()


def test_tiffinfo_and_libtiff_read_every_page(pipeline, tmp_path):
    doc = pipeline.convert([(corpus.pdf(2), None), (b"text\n", "text/plain")])
    path = tmp_path / "fax.tif"
    path.write_bytes(doc.tiff)
    out = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert out.count("Image Width: 1728") == 3
    assert out.count("min-is-white") == 3
    assert out.count("CCITT Group 4") == 3
    with Image.open(path) as im:
        assert im.n_frames == 3


def test_utf16_text_and_memoryview_input(pipeline):
    # Notepad's "Unicode" text, and bytes as psycopg2 hands them out of a bytea column.
    doc = pipeline.convert([(memoryview("Grüße aus dem Fax\n".encode("utf-16")), "text/plain")])
    check_fax(doc, 1)


@pytest.mark.parametrize("mode, fmt", [("I;16", "PNG"), ("I;16", "TIFF"), ("F", "TIFF"), ("LA", "PNG"),
                                       ("P", "PNG"), ("1", "PNG"), ("RGBA", "PNG")])
def test_image_modes(pipeline, mode, fmt):
    base = corpus.text_image((600, 800)).convert("L")
    if mode == "I;16":
        im = base.convert("I").point(lambda v: v * 257).convert("I;16")   # 16-bit grey, full range
    else:
        im = base.convert(mode)
    page = check_fax(pipeline.convert([(corpus.encode(im, fmt), None)]), 1)[0]
    assert 0.15 < black_ratio(page) < 0.35


def test_parallel_conversions_do_not_interfere(pipeline):
    import gevent
    jobs = [gevent.spawn(pipeline.convert, [(corpus.pdf(n), None)]) for n in (1, 2, 3)]
    gevent.joinall(jobs, raise_error=True)
    assert [j.value.pages for j in jobs] == [1, 2, 3]

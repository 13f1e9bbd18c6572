"""Documents for the spandsp tests: dense-text fax TIFFs rendered once per session by Ghostscript."""
import os

import pytest
from PIL import Image, ImageSequence

from faxd.spandsp.testdoc import make_text_tiff


@pytest.fixture(scope="session")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("faxdocs")
    return {
        1: make_text_tiff(str(d / "p1.tif"), 1),
        3: make_text_tiff(str(d / "p3.tif"), 3),
        10: make_text_tiff(str(d / "p10.tif"), 10),
        "normal": make_text_tiff(str(d / "p2n.tif"), 2, resolution="normal"),
    }


def pages(path):
    with Image.open(path) as im:
        return [(f.size, f.info.get("dpi"), f.convert("1").tobytes()) for f in ImageSequence.Iterator(im)]


def assert_same_pages(sent, received):
    assert os.path.exists(received), "nothing was received"
    a, b = pages(sent), pages(received)
    assert len(a) == len(b), f"{len(b)} pages received, {len(a)} sent"
    for i, (pa, pb) in enumerate(zip(a, b), 1):
        assert pa[0] == pb[0], f"page {i}: size {pb[0]} received, {pa[0]} sent"
        assert pa[1] == pb[1], f"page {i}: resolution {pb[1]} received, {pa[1]} sent"
        assert pa[2] == pb[2], f"page {i}: pixels differ"

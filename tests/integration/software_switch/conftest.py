import pytest

from faxd.spandsp.testdoc import make_text_tiff


@pytest.fixture(scope="session")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("swdocs")
    return {1: make_text_tiff(str(d / "p1.tif"), 1),
            3: make_text_tiff(str(d / "p3.tif"), 3),
            10: make_text_tiff(str(d / "p10.tif"), 10, resolution="normal"),
            "small": make_text_tiff(str(d / "small.tif"), 1, resolution="normal")}

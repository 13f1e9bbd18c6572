import pytest

from faxd.spandsp.testdoc import make_text_tiff

from .lines import LINES


@pytest.fixture(scope="session")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("conformance-docs")
    return {1: make_text_tiff(str(d / "p1.tif"), 1), 3: make_text_tiff(str(d / "p3.tif"), 3),
            10: make_text_tiff(str(d / "p10.tif"), 10, resolution="normal")}


@pytest.fixture(params=sorted(LINES))
def line(request, tmp_path, docs):
    ln = LINES[request.param](tmp_path, docs)
    yield ln
    ln.close()


@pytest.fixture(params=sorted(n for n, cls in LINES.items() if cls.reconnects))
def connected_line(request, tmp_path, docs):
    """The backends that talk to a switch over a connection that can drop (not the software
    line, whose two ends are in this process)."""
    ln = LINES[request.param](tmp_path, docs)
    yield ln
    ln.close()

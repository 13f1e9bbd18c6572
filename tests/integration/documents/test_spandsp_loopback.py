"""The fax TIFF goes through a real T.30 session (our spandsp bindings) and comes back pixel-identical."""
import pytest

from faxd.spandsp import probe_tiff
from faxd.spandsp.cli import run_once
from tests.integration.documents.helpers import frames, make_pipeline
from tests.unit.documents import corpus


@pytest.mark.parametrize("resolution, paper, t38", [("fine", "a4", True), ("normal", "letter", True),
                                                    ("fine", "letter", False)])
def test_converted_document_survives_a_real_fax_session(tmp_path, resolution, paper, t38):
    pipeline, _ = make_pipeline(tmp_path)
    inputs = [(corpus.pdf(1), "application/pdf"), (b"plain text page\n", "text/plain")]
    if t38:
        inputs.append((corpus.encode(corpus.photo(), "JPEG"), "image/jpeg"))
    doc = pipeline.convert(inputs, resolution=resolution, paper=paper)
    sent, received = tmp_path / "tx.tif", tmp_path / "rx.tif"
    sent.write_bytes(doc.tiff)
    info = probe_tiff(str(sent))
    assert (info.pages, info.width) == (doc.pages, 1728)
    run = run_once(str(sent), str(received), t38=t38)
    assert run["success"], run
    assert run["pages_transferred"] == doc.pages
    assert run["bad_rows"] == 0
    rx_pages = frames(received.read_bytes())
    assert len(rx_pages) == doc.pages
    for n, (a, b) in enumerate(zip(frames(doc.tiff), rx_pages), 1):
        assert a.size == b.size, f"page {n}"
        assert a.tobytes() == b.tobytes(), f"page {n} differs after the fax session"
    # And what spandsp wrote renders back to PDF.
    assert pipeline.tiff_to_pdf(received.read_bytes()).startswith(b"%PDF")

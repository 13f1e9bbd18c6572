"""Broken and hostile documents: a clear, specific error, no temporary files, no processes left."""
import time

import pytest

from faxd.documents import ConversionTimeout, DocumentError, DocumentTooLarge, UnsupportedDocument
from tests.integration.documents.helpers import child_processes, make_pipeline
from tests.unit.documents import corpus


@pytest.fixture
def pipeline(tmp_path):
    before = set(child_processes())
    p, work = make_pipeline(tmp_path, convert_timeout="3", max_pages="100")
    yield p
    assert list(work.iterdir()) == [], "temporary files left behind"
    assert set(child_processes()) - before == set(), "a converter process was left running"


def refused(pipeline, data, declared, error, match):
    with pytest.raises(error, match=match) as e:
        pipeline.convert([(data, declared)])
    return e.value


def test_zero_bytes(pipeline):
    e = refused(pipeline, b"", "application/pdf", DocumentError, "empty")
    assert e.http_status == 422


def test_truncated_pdf(pipeline):
    data = corpus.pdf(5)
    refused(pipeline, data[: len(data) // 3], "application/pdf", DocumentError, "PDF is damaged")


def test_encrypted_pdf(pipeline):
    refused(pipeline, corpus.encrypted_pdf(), "application/pdf", DocumentError, "encrypted with a password")


def test_pdf_with_an_owner_password_only_converts(pipeline):
    # Permissions-only encryption (empty user password) is common and harmless.
    doc = pipeline.convert([(corpus.encrypted_pdf(user_password=""), "application/pdf")])
    assert doc.pages == 2


def test_pdf_with_10000_pages_is_refused_before_rendering(pipeline):
    started = time.monotonic()
    e = refused(pipeline, corpus.pdf(10000, lines=1), "application/pdf", DocumentTooLarge,
                "10000 pages \\(the limit is 100\\)")
    assert e.http_status == 413
    assert time.monotonic() - started < 3


def test_page_limit_counts_every_input(tmp_path):
    p, work = make_pipeline(tmp_path, max_pages="3")
    with pytest.raises(DocumentTooLarge, match="the PDF has 2 pages, after 2 pages of the documents before it "
                                               "\\(the limit is 3\\)"):
        p.convert([(corpus.pdf(2), None), (corpus.pdf(2), None)])
    with pytest.raises(DocumentTooLarge, match="limit is 3"):
        p.convert([(b"x\f" * 5, "text/plain")])
    with pytest.raises(DocumentTooLarge, match="limit is 3"):
        p.convert([(corpus.postscript(5), None)])
    assert list(work.iterdir()) == []


def test_decompression_bomb_png(pipeline):
    e = refused(pipeline, corpus.png_bomb(), "image/png", DocumentTooLarge, "too many pixels|megapixel")
    assert e.http_status == 413


def test_tiff_that_lies_about_its_size(pipeline):
    refused(pipeline, corpus.lying_tiff(), "image/tiff", DocumentError, "lies about its size")


def test_tiff_that_claims_30000x30000_pixels(pipeline):
    refused(pipeline, corpus.giant_claim_tiff(), "image/tiff", DocumentTooLarge, "30000x30000 pixels")


def test_postscript_infinite_loop_times_out(pipeline):
    started = time.monotonic()
    refused(pipeline, corpus.INFINITE_PS, "application/postscript", ConversionTimeout, "timed out|took longer")
    assert time.monotonic() - started < 6


def test_wrong_content_type_is_refused(pipeline):
    e = refused(pipeline, b"just some words\n", "image/png", UnsupportedDocument, "declared image/png")
    assert e.http_status == 415


def test_wrong_content_type_is_resolved_by_the_bytes(pipeline):
    png = corpus.encode(corpus.text_image(), "PNG")
    assert pipeline.convert([(png, "application/pdf")]).pages == 1


def test_non_utf8_text(pipeline):
    refused(pipeline, "Gr\xfc\xdfe\n".encode("latin-1"), "text/plain", DocumentError,
            "not valid UTF-8: byte 0xfc at offset 2")


def test_unknown_binary(pipeline):
    refused(pipeline, b"\x00\x01binary\x00" * 50, None, UnsupportedDocument, "not PDF, PostScript")


def test_garbage_behind_a_png_signature(pipeline):
    refused(pipeline, b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20, "image/png", DocumentError,
            "PNG image cannot be read")


def test_broken_postscript(pipeline):
    refused(pipeline, b"%!PS\n/foo bar baz undefinedop\n", None, DocumentError,
            "Ghostscript could not render the PostScript")


def test_upload_size_limit(tmp_path):
    p, _work = make_pipeline(tmp_path, max_upload_bytes="1000")
    with pytest.raises(DocumentTooLarge, match="limit is 1000 bytes"):
        p.convert([(corpus.pdf(3), None)])


def test_office_without_libreoffice_is_a_clear_415(tmp_path):
    import io
    import zipfile
    from faxd.config import Config
    from faxd.documents import DocumentPipeline
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    p = DocumentPipeline(Config.load(path=None, env={}), tmpdir=str(tmp_path), soffice=None)
    with pytest.raises(UnsupportedDocument, match="need LibreOffice, which is not installed") as e:
        p.convert([(buf.getvalue(), None)])
    assert e.value.http_status == 415
    assert list(tmp_path.iterdir()) == []


def test_a_failed_input_fails_the_whole_job_cleanly(pipeline):
    with pytest.raises(DocumentError, match="PDF is damaged"):
        pipeline.convert([(corpus.pdf(1), None), (b"%PDF-1.4\n1 0 obj\n", "application/pdf")])

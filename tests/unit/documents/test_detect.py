import pytest

from faxd.documents import DocumentError, UnsupportedDocument, detect_type
from tests.unit.documents import corpus


@pytest.mark.parametrize("data, expected", [
    (corpus.pdf(1), "application/pdf"),
    (b"\n\n%PDF-1.7 junk before the header is allowed", "application/pdf"),
    (corpus.postscript(1), "application/postscript"),
    (corpus.encode(corpus.text_image((10, 10)), "PNG"), "image/png"),
    (corpus.encode(corpus.text_image((10, 10)), "JPEG"), "image/jpeg"),
    (corpus.encode(corpus.text_image((10, 10)), "TIFF"), "image/tiff"),
    (corpus.encode(corpus.text_image((10, 10)), "GIF"), "image/gif"),
    ("Grüße, fax\n".encode(), "text/plain"),
    ("Grüße, fax\n".encode("utf-16"), "text/plain"),
    (b"{\\rtf1 hello}", "application/rtf"),
])
def test_the_bytes_decide(data, expected):
    assert detect_type(data) == expected
    assert detect_type(data, "application/octet-stream") == expected


def test_empty_is_an_error():
    with pytest.raises(DocumentError, match="empty"):
        detect_type(b"", "application/pdf")


def test_mismatch_between_known_types_trusts_the_bytes():
    png = corpus.encode(corpus.text_image((10, 10)), "PNG")
    assert detect_type(png, "application/pdf") == "image/png"
    assert detect_type(corpus.pdf(1), "image/tiff; name=x.tif") == "application/pdf"


def test_text_under_a_binary_type_is_refused():
    with pytest.raises(UnsupportedDocument, match="declared image/png, but the data is plain text") as e:
        detect_type(b"this is not an image\n", "image/png")
    assert e.value.http_status == 415


def test_unknown_binary_is_refused():
    with pytest.raises(UnsupportedDocument, match="not PDF, PostScript, TIFF") as e:
        detect_type(b"\x00\x01\x02\x03garbage\x00" * 10, "application/x-foo")
    assert "declared application/x-foo" in str(e.value)


def test_aliases_and_parameters():
    assert detect_type(corpus.pdf(1), "Application/X-PDF") == "application/pdf"
    assert detect_type(b"hello", "text/plain; charset=utf-8") == "text/plain"


def test_office_containers():
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    assert detect_type(buf.getvalue()) == \
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    assert detect_type(buf.getvalue()) == "application/vnd.oasis.opendocument.text"
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100
    assert detect_type(ole, filename="sheet.xls") == "application/vnd.ms-excel"
    assert detect_type(ole) == "application/msword"
    # A zip that is no Office document is not one.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "x")
    with pytest.raises(UnsupportedDocument):
        detect_type(buf.getvalue())


def test_other_text_types():
    assert detect_type(b"a,b\n1,2\n", "text/csv") == "text/plain"
    with pytest.raises(UnsupportedDocument, match="text/html documents are not supported"):
        detect_type(b"<html><body>hi</body></html>", "text/html")

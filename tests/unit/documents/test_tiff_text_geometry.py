import pytest
from PIL import Image

from faxd.documents import DocumentError, tiff
from faxd.documents.geometry import Geometry
from faxd.documents.text import decode, paginate
from tests.unit.documents import corpus


def test_geometry():
    assert (Geometry.of("a4", "fine").height, Geometry.of("a4", "normal").height) == (2292, 1146)
    assert (Geometry.of("letter", "fine").height, Geometry.of("letter", "204x98").height) == (2156, 1078)
    assert Geometry.of("A4", "204x196").resolution == "204x196"
    with pytest.raises(DocumentError, match="paper"):
        Geometry.of("a3", "fine")
    with pytest.raises(DocumentError, match="resolution"):
        Geometry.of("a4", "300x300")


def test_write_bilevel_round_trips_through_pillow(tmp_path):
    page = Image.new("1", (1728, 50), 1)
    for x in range(0, 1728, 7):
        page.putpixel((x, x % 50), 0)
    inverted = bytes(b ^ 0xFF for b in page.tobytes())   # 1 = black
    path = tmp_path / "p.tif"
    tiff.write_bilevel(str(path), [(inverted, 1728, 50), (inverted, 1728, 50)], 204, 98)
    data = path.read_bytes()
    pages = tiff.pages(data)
    assert [(p.width, p.length, p.photometric, p.resolution) for p in pages] == [(1728, 50, 0, "204x98")] * 2
    with Image.open(path) as im:
        assert im.n_frames == 2
        assert im.convert("1").tobytes() == page.tobytes()


def test_pages_refuses_broken_structures():
    with pytest.raises(DocumentError, match="truncated"):
        tiff.pages(b"II*\x00")
    good = corpus.encode(corpus.text_image((40, 30)), "TIFF")
    with pytest.raises(DocumentError, match="truncated"):
        tiff.pages(good[:12])
    lying = corpus.lying_tiff()
    with pytest.raises(DocumentError, match="lies about its size"):
        tiff.check_claims(lying, tiff.pages(lying))


def test_ifd_loop_is_refused():
    data = bytearray(corpus.encode(Image.new("1", (8, 8), 1), "TIFF"))
    import struct
    (ifd,) = struct.unpack_from("<I", data, 4)
    (n,) = struct.unpack_from("<H", data, ifd)
    struct.pack_into("<I", data, ifd + 2 + 12 * n, ifd)   # next IFD = itself
    with pytest.raises(DocumentError, match="loop"):
        tiff.pages(bytes(data))


def test_paginate_wraps_and_breaks():
    pages = paginate("a" * 25 + "\nshort\n\fnext page\n", columns=10, rows=3)
    assert pages == [["a" * 10, "a" * 10, "aaaaa"], ["short", ""], ["next page"]]
    assert paginate("x\ty\x07z", columns=20, rows=5) == [["x       yz"]]


def test_decode():
    assert decode("héllo".encode()) == "héllo"
    assert decode(b"\xef\xbb\xbfbom") == "bom"
    assert decode("Grüße".encode("utf-16")) == "Grüße"
    assert decode("h\xe9llo".encode("latin-1"), "ISO-8859-1") == "héllo"
    with pytest.raises(DocumentError, match=r"not valid UTF-8: byte 0xe9 at offset 1"):
        decode("h\xe9llo".encode("latin-1"))
    with pytest.raises(DocumentError, match="unknown charset"):
        decode(b"x", "no-such-charset")

"""TIFF structure without decoding: list pages, check the claims a file makes, write fax pages.

Pages are read from the IFD chain (classic and BigTIFF), so counting the pages of a fax TIFF
costs microseconds. :func:`write_bilevel` writes uncompressed min-is-white pages that
``tiffcp -c g4`` then compresses: Pillow can only write CCITT data as min-is-black, and
spandsp insists on min-is-white.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from faxd.documents.errors import DocumentError

_TYPES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
_FMT = {1: "B", 3: "H", 4: "I", 16: "Q", 6: "b", 8: "h", 9: "i", 17: "q"}

WIDTH, LENGTH, BITS, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
FILL_ORDER, STRIP_OFFSETS, SAMPLES, ROWS_PER_STRIP, STRIP_BYTES = 266, 273, 277, 278, 279
XRES, YRES, RES_UNIT, TILE_OFFSETS, TILE_BYTES = 282, 283, 296, 324, 325

MAX_IFDS = 100_000


@dataclass(frozen=True)
class Page:
    width: int
    length: int
    bits: int
    samples: int
    compression: int
    photometric: int | None
    xres: float | None      # dots per inch (converted from cm when ResolutionUnit says so)
    yres: float | None
    data_end: int           # highest byte offset the page's strips/tiles claim
    data_bytes: int         # sum of the strip/tile byte counts
    strips: int = 1         # strips (or tiles) the image data is cut into
    fill_order: int = 1     # 1: bits of a byte from the most significant (TIFF's default)

    @property
    def resolution(self) -> str | None:
        if not self.xres or not self.yres:
            return None
        return f"{round(self.xres)}x{round(self.yres)}"


def pages(data: bytes, max_pages: int | None = None) -> list[Page]:
    """Every page (IFD) of a TIFF; :class:`DocumentError` when the structure is broken."""
    if len(data) < 8:
        raise DocumentError("the TIFF file is truncated (no header)")
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None:
        raise DocumentError("not a TIFF file")
    magic = struct.unpack_from(order + "H", data, 2)[0]
    if magic == 42:
        big = False
        offset = struct.unpack_from(order + "I", data, 4)[0]
    elif magic == 43:
        big = True
        if len(data) < 16:
            raise DocumentError("the TIFF file is truncated (no header)")
        offset = struct.unpack_from(order + "Q", data, 8)[0]
    else:
        raise DocumentError("not a TIFF file (bad version number)")
    out: list[Page] = []
    seen: set[int] = set()
    while offset:
        if offset in seen:
            raise DocumentError("the TIFF file is broken: its page directories form a loop")
        seen.add(offset)
        if len(out) >= MAX_IFDS or (max_pages is not None and len(out) > max_pages):
            break
        tags, offset = _read_ifd(data, offset, order, big)
        out.append(_page(tags, len(data)))
    if not out:
        raise DocumentError("the TIFF file has no pages")
    return out


def _read_ifd(data: bytes, offset: int, order: str, big: bool) -> tuple[dict[int, tuple], int]:
    count_fmt, entry_size, ptr_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
    ptr_size = 8 if big else 4
    try:
        (n,) = struct.unpack_from(order + count_fmt, data, offset)
        pos = offset + (8 if big else 2)
        if pos + n * entry_size + ptr_size > len(data):
            raise DocumentError("the TIFF file is truncated: a page directory runs past the end of the file")
        tags: dict[int, tuple] = {}
        for i in range(n):
            e = pos + i * entry_size
            tag, typ = struct.unpack_from(order + "HH", data, e)
            (cnt,) = struct.unpack_from(order + ("Q" if big else "I"), data, e + 4)
            size = _TYPES.get(typ)
            if size is None or cnt > 1 << 24:
                continue
            nbytes = size * cnt
            if nbytes <= ptr_size:
                vpos = e + (12 if big else 8)
            else:
                (vpos,) = struct.unpack_from(order + ptr_fmt, data, e + (12 if big else 8))
                if vpos + nbytes > len(data):
                    if tag in (WIDTH, LENGTH, STRIP_OFFSETS, STRIP_BYTES, TILE_OFFSETS, TILE_BYTES):
                        raise DocumentError(
                            f"the TIFF file is truncated: tag {tag} points past the end of the file")
                    continue
            if typ in (5, 10):
                fmt = "i" if typ == 10 else "I"
                raw = struct.unpack_from(order + fmt * (2 * cnt), data, vpos)
                tags[tag] = tuple(raw[j] / raw[j + 1] if raw[j + 1] else 0.0 for j in range(0, len(raw), 2))
            elif typ in _FMT:
                tags[tag] = struct.unpack_from(order + _FMT[typ] * cnt, data, vpos)
        (nxt,) = struct.unpack_from(order + ptr_fmt, data, pos + n * entry_size)
    except struct.error:
        raise DocumentError("the TIFF file is truncated inside a page directory") from None
    return tags, nxt


def _page(tags: dict[int, tuple], file_size: int) -> Page:
    def one(tag, default=None):
        v = tags.get(tag)
        return v[0] if v else default

    width, length = one(WIDTH), one(LENGTH)
    if not width or not length:
        raise DocumentError("the TIFF file is broken: a page has no width or height")
    offsets = tags.get(STRIP_OFFSETS) or tags.get(TILE_OFFSETS) or ()
    counts = tags.get(STRIP_BYTES) or tags.get(TILE_BYTES) or ()
    if not offsets:
        raise DocumentError("the TIFF file is broken: a page has no image data")
    data_end = max((o + c for o, c in zip(offsets, counts)), default=max(offsets))
    unit = one(RES_UNIT, 2)
    scale = 2.54 if unit == 3 else 1.0
    xres, yres = one(XRES), one(YRES)
    if unit == 1:  # no absolute unit: an aspect ratio only
        xres = yres = None
    return Page(width=int(width), length=int(length), bits=int(one(BITS, 1)), samples=int(one(SAMPLES, 1)),
                compression=int(one(COMPRESSION, 1)), photometric=one(PHOTOMETRIC),
                xres=xres * scale if xres else None, yres=yres * scale if yres else None,
                data_end=int(data_end), data_bytes=int(sum(counts)), strips=len(offsets),
                fill_order=int(one(FILL_ORDER, 1)))


def check_claims(data: bytes, page_list: list[Page]) -> None:
    """Refuse a TIFF whose pages point at image data beyond the end of the file."""
    for n, p in enumerate(page_list, 1):
        if p.data_end > len(data):
            raise DocumentError(
                f"the TIFF file is truncated or lies about its size: page {n} claims image data up to "
                f"byte {p.data_end}, but the file has {len(data)} bytes")


def is_fax_page(p: Page, yres: int) -> bool:
    """Already what spandsp sends: 1-bit, min-is-white, 1728 wide, at the requested resolution."""
    return (p.bits == 1 and p.samples == 1 and p.width == 1728 and p.photometric == 0
            and p.compression in (2, 3, 4) and p.xres is not None and p.yres is not None
            and round(p.xres) == 204 and round(p.yres) == yres)


def is_final_fax_page(p: Page, yres: int) -> bool:
    """A fax page as faxd stores it: G4 in one strip, bits in the usual order. Such a page goes
    to the switch as it is, and into the PDF rendition without decoding (a CCITT stream)."""
    return is_fax_page(p, yres) and p.compression == 4 and p.strips == 1 and p.fill_order == 1


def write_bilevel(path: str, images: list[tuple[bytes, int, int]], xres: int, yres: int) -> None:
    """Write uncompressed pages; each is (rows packed MSB first with 1 = black, width, height)."""
    with open(path, "wb") as f:
        f.write(b"II*\x00")
        f.write(struct.pack("<I", 0))  # patched with the first IFD offset
        prev_link = 4
        for n, (bits, width, height) in enumerate(images):
            data_off = f.tell()
            f.write(bits)
            if f.tell() % 2:
                f.write(b"\x00")
            res_off = f.tell()
            f.write(struct.pack("<IIII", xres, 1, yres, 1))
            ifd_off = f.tell()
            entries = [
                (254, 4, 1, 2),                  # NewSubfileType: page of a multi-page document
                (WIDTH, 4, 1, width), (LENGTH, 4, 1, height), (BITS, 3, 1, 1),
                (COMPRESSION, 3, 1, 1), (PHOTOMETRIC, 3, 1, 0), (FILL_ORDER, 3, 1, 1),
                (STRIP_OFFSETS, 4, 1, data_off), (SAMPLES, 3, 1, 1), (ROWS_PER_STRIP, 4, 1, height),
                (STRIP_BYTES, 4, 1, len(bits)), (XRES, 5, 1, res_off), (YRES, 5, 1, res_off + 8),
                (RES_UNIT, 3, 1, 2), (297, 3, 2, n | (len(images) << 16)),   # PageNumber n of N
            ]
            f.write(struct.pack("<H", len(entries)))
            for tag, typ, cnt, value in entries:
                f.write(struct.pack("<HHI", tag, typ, cnt))
                f.write(struct.pack("<HH", value & 0xFFFF, value >> 16) if typ == 3 else struct.pack("<I", value))
            f.write(struct.pack("<I", 0))
            end = f.tell()
            f.seek(prev_link)
            f.write(struct.pack("<I", ifd_off))
            f.seek(end)
            prev_link = end - 4

"""Test documents built on the spot: PDFs, PostScript, images, TIFFs, hostile files."""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw

A4_PT = (595.28, 841.89)
LETTER_PT = (612.0, 792.0)


def pdf(pages: int = 1, size: tuple[float, float] = A4_PT, lines: int = 40, label: str = "Page") -> bytes:
    """A text PDF (Helvetica), one content stream per page, written by hand."""
    objs: list[bytes] = []
    w, h = size
    page_ids = []
    font_id = 3
    objs.append(b"")  # 1 catalog, filled below
    objs.append(b"")  # 2 pages
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for n in range(1, pages + 1):
        rows = [f"BT /F1 11 Tf 56 {h - 60:.0f} Td 14 TL ({label} {n}) Tj".encode()]
        for i in range(lines):
            rows.append(f"T* (Line {i + 1}: the quick brown fox jumps over the lazy dog 0123456789) Tj".encode())
        rows.append(b"ET")
        # A solid black box in the top-left corner: checks polarity after conversion.
        rows.append(f"0 g 56 {h - 40:.0f} 100 20 re f".encode())
        stream = b"\n".join(rows)
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objs)
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w} {h}] /Contents {content_id} 0 R "
                    f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode())
        page_ids.append(len(objs))
    objs[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[1] = (f"<< /Type /Pages /Count {pages} /Kids [" + " ".join(f"{i} 0 R" for i in page_ids)
               + "] >>").encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def encrypted_pdf(user_password: str = "secret") -> bytes:
    import pikepdf
    src = pikepdf.open(io.BytesIO(pdf(2)))
    out = io.BytesIO()
    src.save(out, encryption=pikepdf.Encryption(owner="owner", user=user_password, R=6))
    return out.getvalue()


def postscript(pages: int = 2) -> bytes:
    body = ["%!PS-Adobe-3.0", "/Helvetica findfont 12 scalefont setfont"]
    for n in range(1, pages + 1):
        body.append(f"72 720 moveto (PostScript page {n}) show")
        body.append("0 setgray 72 760 100 20 rectfill showpage")
    return ("\n".join(body) + "\n%%EOF\n").encode()


INFINITE_PS = b"%!PS\n{ 1 pop } loop\n"


def text_image(size=(1200, 1600), dpi=None) -> Image.Image:
    """Line art: black text-like bars on white."""
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    for y in range(60, size[1] - 60, 40):
        d.rectangle((60, y, size[0] - 60, y + 12), fill="black")
    d.rectangle((0, 0, size[0] // 4, size[1] // 8), fill=(200, 0, 0))
    if dpi:
        im.info["dpi"] = dpi
    return im


def photo(size=(800, 600)) -> Image.Image:
    """A smooth gradient with a disc: mid-tones everywhere."""
    w, h = size
    grad = Image.linear_gradient("L").resize(size)
    im = Image.merge("RGB", (grad, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grad))
    ImageDraw.Draw(im).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(120, 130, 140))
    return im


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_bomb(side: int = 30000) -> bytes:
    """A real 1-bit PNG of side x side white pixels: ~100 KB that inflates to 112 MB (900 megapixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    comp = zlib.compressobj(1)
    parts = [comp.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(comp.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def lying_tiff() -> bytes:
    """A TIFF whose strip claims far more bytes than the file holds."""
    data = bytearray(encode(text_image((400, 300)).convert("L"), "TIFF"))
    # Patch StripByteCounts (279) of the first IFD to claim 50 MB.
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (n,) = struct.unpack_from(order + "H", data, ifd)
    for i in range(n):
        e = ifd + 2 + 12 * i
        tag, typ, cnt = struct.unpack_from(order + "HHI", data, e)
        if tag == 279 and cnt == 1:
            if typ == 3:
                struct.pack_into(order + "HH", data, e + 2, 4, 1)
            struct.pack_into(order + "I", data, e + 8, 50_000_000)
    return bytes(data)


def giant_claim_tiff(side: int = 30000) -> bytes:
    """A small TIFF whose header says it is side x side pixels."""
    data = bytearray(encode(Image.new("1", (64, 64), 1), "TIFF"))
    order = "<"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (n,) = struct.unpack_from(order + "H", data, ifd)
    for i in range(n):
        e = ifd + 2 + 12 * i
        tag, typ, cnt = struct.unpack_from(order + "HHI", data, e)
        if tag in (256, 257):
            struct.pack_into(order + "HHI", data, e, tag, 4, 1)
            struct.pack_into(order + "I", data, e + 8, side)
    return bytes(data)

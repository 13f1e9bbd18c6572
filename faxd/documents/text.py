"""Plain text to fax pages: UTF-8, monospaced, wrapped at the margin, paginated.

Rendered straight to 1-bit pages with DejaVu Sans Mono (no anti-aliasing: crisp on a fax).
A form feed starts a new page; tabs stop every 8 columns.
"""
from __future__ import annotations

import codecs
import os
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from faxd.documents.errors import DocumentError, DocumentTooLarge
from faxd.documents.geometry import Geometry

FONT_PATHS = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",)
POINTS = 10.0
LINE_SPACING = 1.2
MARGIN_INCHES = 0.5


def decode(data: bytes, charset: str | None = None) -> str:
    """Text from bytes: UTF-8 (with or without BOM), UTF-16 with a BOM, or the declared charset."""
    encoding = "utf-8-sig"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"   # the byte order mark says so, whatever was declared
        charset = None
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            encoding = codecs.lookup(charset).name
        except LookupError:
            raise DocumentError(f"the text declares an unknown charset {charset!r}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise DocumentError(
            f"the text is not valid {'UTF-8' if encoding == 'utf-8-sig' else encoding}: byte "
            f"0x{data[e.start]:02x} at offset {e.start} cannot be decoded; send UTF-8 text "
            f"or declare its charset") from None


def _font() -> ImageFont.FreeTypeFont:
    for path in FONT_PATHS:
        if os.path.exists(path):
            return path
    raise DocumentError("no monospaced font for text documents (install fonts-dejavu-core)")


class Layout:
    def __init__(self, g: Geometry):
        # Lay out at 204x196 (square enough pixels); normal resolution halves the rows later.
        self.dpi_y = 196
        self.font = ImageFont.truetype(_font(), size=round(POINTS / 72 * self.dpi_y))
        self.char_w = self.font.getlength("M")
        self.line_h = round(POINTS * LINE_SPACING / 72 * self.dpi_y)
        self.margin_x = round(MARGIN_INCHES * g.xres)
        self.margin_y = round(MARGIN_INCHES * self.dpi_y)
        self.width = g.width
        self.height = round(g.height * self.dpi_y / g.yres)
        self.columns = int((self.width - 2 * self.margin_x) // self.char_w)
        self.rows = int((self.height - 2 * self.margin_y) // self.line_h)


def paginate(text: str, columns: int, rows: int) -> list[list[str]]:
    pages: list[list[str]] = [[]]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for chunk_no, chunk in enumerate(text.split("\f")):
        if chunk_no and pages[-1]:
            pages.append([])
        for line in chunk.split("\n"):
            line = "".join(c for c in line.expandtabs(8) if c == " " or unicodedata.category(c)[0] != "C")
            pieces = [line[i:i + columns] for i in range(0, len(line), columns)] or [""]
            for piece in pieces:
                if len(pages[-1]) >= rows:
                    pages.append([])
                pages[-1].append(piece.rstrip())
    while len(pages) > 1 and not any(pages[-1]):
        pages.pop()
    if text.endswith("\n") and pages[-1] and pages[-1][-1] == "":
        pages[-1].pop()
    return pages


def text_pages(text: str, g: Geometry, max_pages: int) -> list[Image.Image]:
    layout = Layout(g)
    pages = paginate(text, layout.columns, layout.rows)
    if len(pages) > max_pages:
        raise DocumentTooLarge(f"the text makes {len(pages)} pages (the limit is {max_pages})")
    out = []
    for lines in pages:
        # Drawn in mode "L" (white = 255) with bilevel glyphs, then thresholded: a mode "1" canvas
        # made with Image.new("1", size, 1) holds white as 1, which other operations read as black.
        page = Image.new("L", (layout.width, layout.height), 255)
        draw = ImageDraw.Draw(page)
        draw.fontmode = "1"   # no anti-aliasing: crisp on a fax
        for i, line in enumerate(lines):
            if line:
                draw.text((layout.margin_x, layout.margin_y + i * layout.line_h), line, font=layout.font, fill=0)
        if layout.height != g.height:
            page = page.resize((g.width, g.height), Image.Resampling.BOX)
            page = page.point(lambda v: 255 if v >= 160 else 0)
        out.append(page.convert("1", dither=Image.Dither.NONE))
    return out

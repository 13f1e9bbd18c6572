"""Cover pages: a fax page of who, to whom, how many pages and a message, put before the document.

The default design is drawn for a fax: large bold type, heavy rules, no greys (a fax has only
black and white), generous margins for the sender's header line. A faxbox may hold its own
templates: plain text with ``$field`` placeholders (Python's ``string.Template``, nothing
more: no expressions, attribute access, loops or includes, so a template can neither read a
file nor run code), a line starting with ``# `` drawn as a heading. The fields are those of
:data:`FIELDS`; a template naming anything else is refused when it is saved.
"""
from __future__ import annotations

import os
import string
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from faxd.documents.errors import DocumentError
from faxd.documents.geometry import Geometry

FIELDS = {
    "to_name": "the recipient's name (cover_page.to_name, else the job's to_name)",
    "to_number": "the number dialled, E.164",
    "from_name": "the sender's name (cover_page.from_name, else the job's from_name)",
    "from_number": "the sender's number, E.164",
    "subject": "cover_page.subject, else the job's subject",
    "message": "cover_page.message",
    "date": "the day the fax was prepared, e.g. 3 December 2026 (in the job's fax_timezone)",
    "pages": "the number of pages, this cover page included",
    "faxbox_name": "the name of the faxbox the fax is sent from",
}
MAX_TEMPLATE = 4000
MAX_FIELD = {"message": 2000}
DEFAULT_MAX_FIELD = 200
TEMPLATE_NAME_MAX = 64

SANS = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SANS_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
DPI = 196                # drawn at fine resolution; normal resolution halves the rows afterwards
MARGIN_INCHES = 0.75


class TemplateError(DocumentError):
    """A cover page template faxd will not run: the text says what to change."""


def check_template(text) -> None:
    """Refuse what is not a plain ``$field`` template of :data:`FIELDS`."""
    if not isinstance(text, str):
        raise TemplateError("a cover page template is a string of text with $field placeholders")
    if len(text) > MAX_TEMPLATE:
        raise TemplateError(f"a cover page template holds at most {MAX_TEMPLATE} characters")
    for marker in ("{{", "{%", "<%", "#{", "`"):
        if marker in text:
            raise TemplateError(f"{marker!r} is not part of faxd's template language: a template is plain text "
                                "with $field placeholders (e.g. $to_name), $$ for a dollar sign")
    template = string.Template(text)
    if not template.is_valid():
        raise TemplateError("a $ must start a field name ($to_name or ${to_name}); write $$ for a dollar sign")
    unknown = sorted(set(template.get_identifiers()) - set(FIELDS))
    if unknown:
        raise TemplateError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join('$' + u for u in unknown)}: "
                            f"a cover page may use {', '.join('$' + f for f in FIELDS)}")


def clean(value, limit: int) -> str:
    """A field's text as drawn: no control characters, at most ``limit`` characters."""
    text = "" if value is None else str(value)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return text[:limit]


@dataclass(frozen=True)
class Cover:
    fields: dict            # FIELDS -> text (pages filled in by the pipeline)
    template: str | None    # None: the default design

    def with_pages(self, pages: int) -> "Cover":
        return Cover({**self.fields, "pages": str(pages)}, self.template)


def _font(path: str, points: float) -> ImageFont.FreeTypeFont:
    if not os.path.exists(path):
        raise DocumentError("no font for cover pages (install fonts-dejavu-core)")
    return ImageFont.truetype(path, size=round(points / 72 * DPI))


class _Canvas:
    """A page drawn top to bottom; text wraps at the margins; what does not fit is cut with '…'."""

    def __init__(self, g: Geometry):
        self.g = g
        self.width = g.width
        self.height = round(g.height * DPI / g.yres)
        self.margin = round(MARGIN_INCHES * g.xres)
        self.page = Image.new("L", (self.width, self.height), 255)
        self.draw = ImageDraw.Draw(self.page)
        self.draw.fontmode = "1"
        self.y = round(MARGIN_INCHES * DPI)
        self.bottom = self.height - round(MARGIN_INCHES * DPI)

    def rule(self, thickness: int = 8, gap: int = 24) -> None:
        if self.y + thickness > self.bottom:
            return
        self.draw.rectangle([self.margin, self.y, self.width - self.margin, self.y + thickness], fill=0)
        self.y += thickness + gap

    def text(self, text: str, font, *, indent: int = 0, gap: int = 8) -> None:
        line_h = round(font.size * 1.25)
        for line in self._wrap(text, font, self.width - 2 * self.margin - indent):
            if self.y + line_h > self.bottom:
                self._ellipsis(font, indent)
                return
            self.draw.text((self.margin + indent, self.y), line, font=font, fill=0)
            self.y += line_h
        self.y += gap

    def row(self, label: str, value: str, label_font, value_font, label_width: int) -> None:
        if not value:
            return
        top = self.y
        self.draw.text((self.margin, top), label, font=label_font, fill=0)
        self.text(value, value_font, indent=label_width, gap=12)

    def _ellipsis(self, font, indent) -> None:
        if self.y > round(MARGIN_INCHES * DPI):
            self.draw.text((self.margin + indent, self.y - round(font.size * 1.25)), "…", font=font, fill=0)
        self.y = self.bottom

    def _wrap(self, text: str, font, width: int) -> list[str]:
        lines: list[str] = []
        for paragraph in text.replace("\r\n", "\n").split("\n"):
            words, line = paragraph.expandtabs(4).split(" "), ""
            for word in words:
                candidate = f"{line} {word}" if line else word
                if font.getlength(candidate) <= width:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                while font.getlength(word) > width:   # a word wider than the page is cut
                    cut = max(1, int(len(word) * width / font.getlength(word)))
                    lines.append(word[:cut])
                    word = word[cut:]
                line = word
            lines.append(line)
        return lines

    def result(self) -> Image.Image:
        page = self.page
        if self.height != self.g.height:
            page = page.resize((self.g.width, self.g.height), Image.Resampling.BOX)
            page = page.point(lambda v: 255 if v >= 160 else 0)
        return page.convert("1", dither=Image.Dither.NONE)


def render(cover: Cover, g: Geometry) -> Image.Image:
    """The cover page as a 1-bit fax page of geometry ``g``."""
    canvas = _Canvas(g)
    if cover.template is None:
        _default(canvas, cover.fields)
    else:
        check_template(cover.template)
        text = string.Template(cover.template).safe_substitute({k: cover.fields.get(k, "") for k in FIELDS})
        heading, body = _font(SANS_BOLD, 28), _font(SANS, 16)
        for line in text.split("\n"):
            if line.startswith("# "):
                canvas.text(line[2:], heading, gap=16)
            else:
                canvas.text(line, body, gap=0)
    return canvas.result()


def _default(canvas: _Canvas, f: dict) -> None:
    title, label, value, message = _font(SANS_BOLD, 54), _font(SANS_BOLD, 18), _font(SANS, 18), _font(SANS, 16)
    canvas.text("FAX", title, gap=12)
    canvas.rule(thickness=12, gap=36)
    label_width = round(max(label.getlength(t) for t in ("Subject:", "Pages:", "From:", "Date:", "To:")) + 0.3 * DPI)
    canvas.row("To:", _who(f.get("to_name"), f.get("to_number")), label, value, label_width)
    canvas.row("From:", _who(f.get("from_name"), f.get("from_number")), label, value, label_width)
    canvas.row("Date:", f.get("date", ""), label, value, label_width)
    canvas.row("Pages:", f"{f['pages']} (this page included)" if f.get("pages") else "", label, value, label_width)
    canvas.row("Subject:", f.get("subject", ""), label, value, label_width)
    canvas.y += 12
    canvas.rule(thickness=4, gap=36)
    if f.get("message"):
        canvas.text(f["message"], message)


def _who(name: str | None, number: str | None) -> str:
    if name and number:
        return f"{name}\n{number}"
    return name or number or ""

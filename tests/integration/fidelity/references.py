"""Reference renderings of the gallery's documents, made without faxd's converter.

PDF through poppler, PostScript through Ghostscript, Office files through LibreOffice and
then poppler, images and plain text through Pillow, all at the fax's 204 dots per inch.
"""
from __future__ import annotations

import functools
import os
import subprocess
import tempfile

from PIL import Image, ImageDraw, ImageFont, ImageOps

from tests import reading
from tests.data.gallery import make_gallery as gallery

DPI = 204
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
TEXT_ENCODINGS = {"text-utf8.txt": "utf-8", "text-utf16.txt": "utf-16", "text-latin1.txt": "iso-8859-1"}


def _read(name: str) -> bytes:
    with open(os.path.join(gallery.HERE, name), "rb") as f:
        return f.read()


def text_page(text: str) -> Image.Image:
    """Plain text as a typist's page: 10 point monospaced, 0.5 inch margins, 1.2 line spacing."""
    font = ImageFont.truetype(MONO, size=round(10 / 72 * DPI))
    page = Image.new("L", (round(8.27 * DPI), round(11.69 * DPI)), 255)
    d = ImageDraw.Draw(page)
    step = round(10 * 1.2 / 72 * DPI)
    for i, line in enumerate(text.splitlines()):
        d.text((DPI // 2, DPI // 2 + i * step), line, font=font, fill=0)
    return page


def office_pdf(name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, name)
        with open(src, "wb") as f:
            f.write(_read(name))
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--norestore",
                        "--convert-to", "pdf", "--outdir", tmp, src], check=True, capture_output=True, timeout=180,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp})
        with open(os.path.splitext(src)[0] + ".pdf", "rb") as f:
            return f.read()


def image_page(name: str) -> Image.Image:
    im = Image.open(os.path.join(gallery.HERE, name))
    im.seek(0)
    dpi = float(im.info.get("dpi", (DPI, DPI))[0]) or DPI
    # Stretched to full contrast, a photographed page's paper is white and its ink black, as a
    # person reading it sees them; a clean scan is unchanged.
    grey = ImageOps.autocontrast(im.convert("RGB").convert("L"), cutoff=1)
    return grey.resize((round(grey.width * DPI / dpi), round(grey.height * DPI / dpi)), Image.Resampling.LANCZOS)


def first_page(kind: str) -> Image.Image:
    if kind in TEXT_ENCODINGS:
        return text_page(_read(kind).decode(TEXT_ENCODINGS[kind]))
    if kind == "email-body":
        from tests.integration.fidelity.test_gallery import email_body_text
        return text_page(email_body_text())
    if kind == "email-two-attachments":
        return first_page("program.ps")
    if kind.endswith(".pdf"):
        return reading.pdf_pages(_read(kind), dpi=DPI)[0]
    if kind.endswith(".ps"):
        return reading.postscript_pages(_read(kind), dpi=DPI)[0]
    if kind.endswith((".docx", ".odt")):
        return reading.pdf_pages(office_pdf(kind), dpi=DPI)[0]
    return image_page(kind)


@functools.lru_cache(maxsize=None)
def ink_share(kind: str) -> float:
    return reading.ink_share(first_page(kind))

"""Build the document gallery: every kind of input faxd takes, each carrying sentences a test
reads back with OCR from the received fax.

    .venv/bin/python tests/data/gallery/make_gallery.py      # rewrites the files beside it

Every document is made here from nothing (Pillow with DejaVu fonts, hand-written PostScript
through Ghostscript's ps2pdf, Office files zipped from their XML); ``manifest.json`` lists each
file with its content type, the sentences on it and what its test checks. See README.md.
"""
from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tempfile
import zipfile

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SERIF = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
if not os.path.exists(SERIF):
    SERIF = FONT

PANGRAM = "The quick brown fox jumps over the lazy dog."
# One sentence per document, so a page that came from the wrong document cannot pass.
SENTENCES = {
    "text-utf8": "Hello from faxd in plain text",
    "text-utf16": "Sixteen bit text arrives intact",
    "text-latin1": "Latin one text keeps its accents",
    "dense-pdf": "Dense report page for the archive",
    "postscript": "PostScript program prints this line",
    "png": "Portable network graphic on paper",
    "photo-jpeg": "Photograph of a printed letter",
    "gif": "Graphics interchange format image",
    "tiff-multi": "Multiple page scanned document",
    "tiff-colour": "Colour scan of an order form",
    "docx": "Word processor document for faxing",
    "odt": "Open document text for faxing",
    "email-body": "Email body written by a person",
}
ACCENTED = "Café crème brûlée à Noël"


# --- raster helpers -----------------------------------------------------------------------

def _font(size_px: int, path: str = FONT) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size_px)


def page_image(sentence: str, *, dpi: int = 200, size_in=(8.5, 11.0), mode: str = "L", background=255,
               ink=0, lines: int = 12, extra: list[str] = ()) -> Image.Image:
    """A page of text at ``dpi``: the sentence in large type, the pangram, a few more lines."""
    w, h = round(size_in[0] * dpi), round(size_in[1] * dpi)
    im = Image.new(mode, (w, h), background)
    d = ImageDraw.Draw(im)
    big, body = _font(round(dpi * 0.25)), _font(round(dpi * 0.16))
    y = round(dpi * 0.8)
    d.text((round(dpi * 0.8), y), sentence, font=big, fill=ink)
    y += round(dpi * 0.6)
    for i, line in enumerate([PANGRAM, *extra] + [f"Line {n} of the page, set in a plain sans serif face."
                                                   for n in range(3, lines + 1)]):
        d.text((round(dpi * 0.8), y), line, font=body, fill=ink)
        y += round(dpi * 0.3)
    return im


def save(im: Image.Image, name: str, **kw) -> None:
    im.save(os.path.join(HERE, name), **kw)


# --- PostScript / PDF ---------------------------------------------------------------------

def _ps_string(s: str) -> str:
    return "(" + s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def ps_page(width_pt: float, height_pt: float, items: list[tuple], square: tuple | None = None) -> str:
    """One PostScript page; items are (x, y, font, size, text) in points from the bottom left."""
    out = [f"<< /PageSize [{width_pt:g} {height_pt:g}] >> setpagedevice"]
    for x, y, font, size, text in items:
        out.append(f"/{font} findfont {size:g} scalefont setfont {x:g} {y:g} moveto {_ps_string(text)} show")
    if square:
        x, y, side = square
        out.append(f"newpath {x:g} {y:g} moveto {side:g} 0 rlineto 0 {side:g} rlineto {-side:g} 0 rlineto "
                   f"closepath fill")
    out.append("showpage")
    return "\n".join(out)


def ps_document(pages: list[str]) -> str:
    return "%!PS-Adobe-3.0\n%%Pages: " + str(len(pages)) + "\n" + "\n".join(pages) + "\n%%EOF\n"


def ps_to_pdf(ps: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.ps")
        with open(src, "w") as f:
            f.write(ps)
        subprocess.run(["ps2pdf", "-dAutoRotatePages=/None", "-dCompatibilityLevel=1.4", src,
                        os.path.join(HERE, name)], check=True)


def text_block(x: float, top: float, bottom: float, sentence: str, *, size: float = 10, leading: float = 13,
               font: str = "Times-Roman") -> list[tuple]:
    """Lines of body text from ``top`` down to ``bottom`` (points), the sentence first."""
    items = [(x, top, "Helvetica-Bold", 16, sentence)]
    y, n = top - 28, 1
    while y > bottom:
        items.append((x, y, font, size, f"{n:03d} {PANGRAM} Pack my box with five dozen liquor jugs."))
        y -= leading
        n += 1
    return items


PAPER_PT = {"letter": (612, 792), "legal": (612, 1008), "a4": (595.3, 841.9)}


def geometry_page(paper: str, *, landscape: bool = False, label: str) -> str:
    """A page whose last line sits at the bottom margin and whose right column at the right
    margin, with a filled 1.5 inch square: cut-offs and distortion show on the fax."""
    w, h = PAPER_PT[paper]
    if landscape:
        w, h = h, w
    items = [(54, h - 60, "Helvetica-Bold", 18, f"{label} page first line"),
             (54, h - 90, "Times-Roman", 12, PANGRAM)]
    items.append((w - 54 - 130, h - 150, "Helvetica-Bold", 14, "Right column"))
    items.append((w - 54 - 130, h - 170, "Helvetica", 12, "edge text kept"))
    items.append((54, 40, "Helvetica-Bold", 14, f"Last line of the {label} page"))
    return ps_page(w, h, items, square=(72, h / 2 - 54, 108))


# --- Office -------------------------------------------------------------------------------

def docx(sentence: str) -> bytes:
    paras = "".join(f'<w:p><w:r><w:rPr><w:sz w:val="{sz}"/></w:rPr><w:t xml:space="preserve">{t}</w:t></w:r></w:p>'
                    for t, sz in [(sentence, 36), (PANGRAM, 24)] + [(f"Paragraph {n} of the letter body.", 24)
                                                                    for n in range(3, 12)])
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>' + paras + '<w:sectPr><w:pgSz w:w="12240" w:h="15840"/><w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440"/></w:sectPr></w:body></w:document>',
    }
    return _zip(files)


def odt(sentence: str) -> bytes:
    paras = "".join(f'<text:p text:style-name="{st}">{t}</text:p>'
                    for t, st in [(sentence, "Big"), (PANGRAM, "Standard")] + [(f"Paragraph {n} of the letter body.", "Standard")
                                                                               for n in range(3, 12)])
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
               'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2">'
               '<office:automatic-styles><style:style style:name="Big" style:family="paragraph">'
               '<style:text-properties fo:font-size="18pt"/></style:style></office:automatic-styles>'
               '<office:body><office:text>' + paras + '</office:text></office:body></office:document-content>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                '</manifest:manifest>')
    return _zip({"mimetype": "application/vnd.oasis.opendocument.text", "META-INF/manifest.xml": manifest,
                 "content.xml": content}, stored_first="mimetype")


def _zip(files: dict[str, str], stored_first: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if name == stored_first else zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return buf.getvalue()


# --- the gallery --------------------------------------------------------------------------

def build() -> list[dict]:
    entries = []

    def add(name, ctype, sentence, check="ocr+ink", **extra):
        entries.append({"file": name, "content_type": ctype, "sentence": sentence, "check": check, **extra})

    # Plain text in three encodings.
    body = "\n".join([SENTENCES["text-utf8"], PANGRAM, ACCENTED, "", "Regards,", "The faxd team"]) + "\n"
    with open(os.path.join(HERE, "text-utf8.txt"), "w", encoding="utf-8") as f:
        f.write(body)
    add("text-utf8.txt", "text/plain", SENTENCES["text-utf8"], accented=ACCENTED)
    body16 = "\n".join([SENTENCES["text-utf16"], PANGRAM, ACCENTED]) + "\n"
    with open(os.path.join(HERE, "text-utf16.txt"), "wb") as f:
        f.write(body16.encode("utf-16"))   # with a byte order mark
    add("text-utf16.txt", "text/plain", SENTENCES["text-utf16"], accented=ACCENTED)
    body1 = "\n".join([SENTENCES["text-latin1"], PANGRAM, ACCENTED]) + "\n"
    with open(os.path.join(HERE, "text-latin1.txt"), "wb") as f:
        f.write(body1.encode("iso-8859-1"))
    add("text-latin1.txt", "text/plain; charset=iso-8859-1", SENTENCES["text-latin1"], accented=ACCENTED)

    # A dense two-page PDF of body text (the benchmark's kind of page), and PostScript.
    pages = [ps_page(612, 792, text_block(54, 740, 50, SENTENCES["dense-pdf"])),
             ps_page(612, 792, text_block(54, 740, 50, "Second page of the dense report"))]
    ps_to_pdf(ps_document(pages), "dense.pdf")
    add("dense.pdf", "application/pdf", SENTENCES["dense-pdf"], pages=2)
    ps = ps_document([ps_page(595.3, 841.9, text_block(60, 780, 500, SENTENCES["postscript"], size=12, leading=16))])
    with open(os.path.join(HERE, "program.ps"), "w") as f:
        f.write(ps)
    add("program.ps", "application/postscript", SENTENCES["postscript"])

    # Raster images.
    save(page_image(SENTENCES["png"], dpi=150).convert("1", dither=Image.Dither.NONE), "image.png",
         dpi=(150, 150))
    add("image.png", "image/png", SENTENCES["png"])
    photo = page_image(SENTENCES["photo-jpeg"], dpi=150, background=178, ink=40, mode="L")
    rng = random.Random(7)
    noise = Image.effect_noise(photo.size, 18)
    photo = Image.blend(photo, noise, 0.12).filter(ImageFilter.GaussianBlur(0.7))
    gradient = Image.linear_gradient("L").resize(photo.size).point(lambda v: v // 6)
    photo = Image.merge("RGB", [Image.eval(photo, lambda v: min(255, v + 6)), photo,
                                Image.eval(photo, lambda v: max(0, v - 10))])
    photo = Image.composite(photo, photo.point(lambda v: max(0, v - 20)), gradient.point(lambda v: 255 - v * 4))
    rng.random()
    save(photo, "photo.jpg", quality=85, dpi=(150, 150))
    add("photo.jpg", "image/jpeg", SENTENCES["photo-jpeg"], background="grey")
    save(page_image(SENTENCES["gif"], dpi=100).convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "image.gif")
    add("image.gif", "image/gif", SENTENCES["gif"])
    frames = [page_image(f"{SENTENCES['tiff-multi']} {n} of 3" if n > 1 else SENTENCES["tiff-multi"], dpi=200)
              .convert("1", dither=Image.Dither.NONE) for n in (1, 2, 3)]
    frames[0].save(os.path.join(HERE, "scan-3-pages.tif"), save_all=True, append_images=frames[1:],
                   compression="group4", dpi=(200, 200))
    add("scan-3-pages.tif", "image/tiff", SENTENCES["tiff-multi"], pages=3,
        page_sentences=[SENTENCES["tiff-multi"], f"{SENTENCES['tiff-multi']} 2 of 3",
                        f"{SENTENCES['tiff-multi']} 3 of 3"])
    colour = page_image(SENTENCES["tiff-colour"], dpi=150, mode="RGB", background=(255, 255, 255),
                        ink=(20, 40, 160))
    d = ImageDraw.Draw(colour)
    d.rectangle((120, 1000, 1100, 1300), outline=(200, 30, 30), width=6)
    d.text((150, 1100), "Total due: 1,250.00 EUR", font=_font(40), fill=(200, 30, 30))
    save(colour, "scan-colour.tif", compression="tiff_deflate", dpi=(150, 150))
    add("scan-colour.tif", "image/tiff", SENTENCES["tiff-colour"])

    # Office documents (LibreOffice converts them).
    with open(os.path.join(HERE, "letter.docx"), "wb") as f:
        f.write(docx(SENTENCES["docx"]))
    add("letter.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", SENTENCES["docx"])
    with open(os.path.join(HERE, "letter.odt"), "wb") as f:
        f.write(odt(SENTENCES["odt"]))
    add("letter.odt", "application/vnd.oasis.opendocument.text", SENTENCES["odt"])

    # Page geometry: paper sizes, orientation, a half-height page.
    for paper in ("letter", "legal", "a4"):
        ps_to_pdf(ps_document([geometry_page(paper, label=paper.capitalize() if paper != "a4" else "A4")]),
                  f"paper-{paper}.pdf")
        add(f"paper-{paper}.pdf", "application/pdf", f"{paper.capitalize() if paper != 'a4' else 'A4'} page first line",
            check="geometry", last_line=f"Last line of the {paper.capitalize() if paper != 'a4' else 'A4'} page")
    ps_to_pdf(ps_document([geometry_page("letter", landscape=True, label="Landscape")]), "landscape.pdf")
    add("landscape.pdf", "application/pdf", "Landscape page first line", check="geometry",
        last_line="Last line of the Landscape page")
    ps_to_pdf(ps_document([geometry_page("a4", label="Portrait"), geometry_page("a4", landscape=True, label="Wide"),
                           geometry_page("letter", label="Upright")]), "mixed-orientation.pdf")
    add("mixed-orientation.pdf", "application/pdf", "Portrait page first line", check="geometry", pages=3,
        last_line="Last line of the Portrait page",
        page_sentences=["Portrait page first line", "Wide page first line", "Upright page first line"])
    half = ps_page(612, 396, [(54, 340, "Helvetica-Bold", 18, "Half page first line"),
                              (54, 310, "Times-Roman", 12, PANGRAM),
                              (612 - 54 - 130, 250, "Helvetica-Bold", 14, "Right column"),
                              (54, 30, "Helvetica-Bold", 14, "Last line of the Half page")],
                   square=(300, 120, 108))
    ps_to_pdf(ps_document([half]), "half-page.pdf")
    add("half-page.pdf", "application/pdf", "Half page first line", check="geometry",
        last_line="Last line of the Half page")

    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump({"pangram": PANGRAM, "documents": entries}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return entries


def load() -> dict:
    with open(os.path.join(HERE, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


if __name__ == "__main__":
    for e in build():
        print(e["file"], os.path.getsize(os.path.join(HERE, e["file"])), file=sys.stderr)

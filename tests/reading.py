"""Read a fax as a person would: Tesseract OCR and the share of ink, against a reference rendering.

A loopback proves that what was sent is what was received; these helpers prove that what was
received is what the sender wrote. Pages are brought to square pixels first (a fax page is 204
dots per inch across and 196 or 98 down), because that is how a printed fax looks.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
import unicodedata
from difflib import SequenceMatcher

from PIL import Image

TESSERACT = "tesseract"
# One thread: OpenMP's spinning threads cost more CPU than they save on a page, and tests
# read several pages at once.
_TESSERACT_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}
SPANDSP_HEADER_INCHES = 0.35    # the transmitting header line spandsp draws over the top margin


# --- pages ----------------------------------------------------------------------------------

def square(page: Image.Image, xres: float, yres: float) -> Image.Image:
    """A grey page with square pixels at the horizontal resolution."""
    page = page.convert("L")
    if abs(xres - yres) > 1:
        page = page.resize((page.width, round(page.height * xres / yres)), Image.Resampling.NEAREST)
    return page


def tiff_pages(data: bytes) -> list[Image.Image]:
    """Every page of a fax TIFF, as grey images with square pixels."""
    im = Image.open(io.BytesIO(data))
    out = []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        xres, yres = (float(v) for v in im.info.get("dpi", (204, 196)))
        out.append(square(im, xres, yres))
    return out


def pdf_pages(data: bytes, dpi: int = 204) -> list[Image.Image]:
    """Every page of a PDF rendered by poppler (pdftoppm) as grey images."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.pdf")
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", src, os.path.join(tmp, "p")],
                       check=True, capture_output=True, timeout=120)
        names = sorted((n for n in os.listdir(tmp) if n.startswith("p")), key=lambda n: int(re.findall(r"\d+", n)[-1]))
        return [Image.open(os.path.join(tmp, n)).convert("L") for n in names]


def postscript_pages(data: bytes, dpi: int = 204) -> list[Image.Image]:
    """Every page of a PostScript program rendered by Ghostscript as grey images."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.ps")
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray", f"-r{dpi}",
                        f"-sOutputFile={tmp}/p%03d.png", src], check=True, capture_output=True, timeout=120)
        return [Image.open(os.path.join(tmp, n)).convert("L") for n in sorted(os.listdir(tmp)) if n.startswith("p")]


def without_header(page: Image.Image, dpi: float = 204) -> Image.Image:
    """The page below spandsp's header line (the sender's name, date and page number)."""
    return page.crop((0, round(SPANDSP_HEADER_INCHES * dpi), page.width, page.height))


# --- ink ------------------------------------------------------------------------------------

def ink_mask(page: Image.Image, threshold: int = 128) -> Image.Image:
    return page.convert("L").point(lambda v: 255 if v < threshold else 0)


def ink_share(page: Image.Image) -> float:
    """Share of dark pixels inside the box around all the ink (0 for an empty page).

    Measured inside the ink's own box, the figure does not depend on the paper size, the margins
    or a fit-to-page scale, so a fax page and a reference rendering of the source compare; a
    black page gives 1.0, a blank one 0, a page of text a few percent.
    """
    mask = ink_mask(page)
    box = mask.getbbox()
    if box is None:
        return 0.0
    region = mask.crop(box)
    return region.histogram()[255] / (region.width * region.height)


def black_share(page: Image.Image) -> float:
    """Share of dark pixels on the whole page."""
    return ink_mask(page).histogram()[255] / (page.width * page.height)


# --- OCR ------------------------------------------------------------------------------------

def ocr(page: Image.Image, *, rotations: bool = False) -> str:
    """The text Tesseract reads on the page (with ``rotations``: on all four quarter turns)."""
    turns = (0, 90, 270, 180) if rotations else (0,)
    texts = []
    for turn in turns:
        im = page.rotate(turn, expand=True) if turn else page
        buf = io.BytesIO()
        im.save(buf, format="PNG", dpi=(204, 204))
        out = subprocess.run([TESSERACT, "stdin", "stdout", "--dpi", "204", "-l", "eng"], input=buf.getvalue(),
                             capture_output=True, timeout=120, env=_TESSERACT_ENV)
        texts.append(out.stdout.decode("utf-8", "replace"))
    return "\n".join(texts)


def normal(text: str, keep_accents: bool = False) -> str:
    if not keep_accents:
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[^\w]+", " ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def reads(text: str, sentence: str, *, min_ratio: float = 0.9, keep_accents: bool = False) -> float:
    """How well ``sentence`` is found in OCR ``text``: 1.0 verbatim, else the best similarity of a
    window of the same length (a misread letter or two still counts as read)."""
    hay, needle = normal(text, keep_accents), normal(sentence, keep_accents)
    if needle in hay:
        return 1.0
    best = 0.0
    n = len(needle)
    for start in range(0, max(1, len(hay) - n + 1)):
        window = hay[start:start + n + 3]
        r = SequenceMatcher(None, needle, window).ratio()
        if r > best:
            best = r
    return best


def assert_reads(text: str, sentence: str, what: str, min_ratio: float = 0.9, keep_accents: bool = False) -> None:
    r = reads(text, sentence, keep_accents=keep_accents)
    assert r >= min_ratio, f"{what}: OCR did not read {sentence!r} (best match {r:.2f}); OCR text:\n{text}"


# --- geometry -------------------------------------------------------------------------------

def square_box(page: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the largest solid block of ink (the drawn square), in page pixels.

    On a copy scaled down eight times text averages to grey and only a solid block stays black;
    the block is then measured exactly on the full page.
    """
    small = page.convert("L").reduce(8)
    w, h = small.size
    px = small.load()
    seen: set[tuple[int, int]] = set()
    best: list[tuple[int, int]] = []
    for y in range(h):
        for x in range(w):
            if px[x, y] >= 8 or (x, y) in seen:      # blocks with no white at all
                continue
            comp, stack = [], [(x, y)]
            seen.add((x, y))
            while stack:
                cx, cy = stack.pop()
                comp.append((cx, cy))
                for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                    if 0 <= nx < w and 0 <= ny < h and (nx, ny) not in seen and px[nx, ny] < 8:
                        seen.add((nx, ny))
                        stack.append((nx, ny))
            if len(comp) > len(best):
                best = comp
    if len(best) < 4:
        return None
    xs, ys = [p[0] for p in best], [p[1] for p in best]
    box = (min(xs), min(ys), max(xs) + 1, max(ys) + 1)
    x0, y0, x1, y1 = (v * 8 for v in box)
    pad = 24
    area = (max(0, x0 - pad), max(0, y0 - pad), min(page.width, x1 + pad), min(page.height, y1 + pad))
    inner = ink_mask(page.crop(area)).getbbox()
    if inner is None:
        return None
    return (area[0] + inner[0], area[1] + inner[1], area[0] + inner[2], area[1] + inner[3])


def aspect(page: Image.Image) -> float:
    """Width over height of the drawn square, in square pixels (1.0 when undistorted)."""
    box = square_box(page)
    assert box is not None, "no solid square found on the page"
    return (box[2] - box[0]) / (box[3] - box[1])

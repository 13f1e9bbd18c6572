"""Raster images (TIFF, PNG, JPEG, GIF) to 1-bit fax pages with Pillow.

Each image (each TIFF page) becomes one fax page. An image with a known resolution that
fits on the page is placed at its real size; anything else is scaled to fit, keeping its
aspect ratio (a landscape image is turned to use the portrait page). Line art and text are
thresholded; photographs are Floyd-Steinberg dithered. A page that is already a fax page
(1-bit, 1728 wide, the requested resolution) passes unchanged.
"""
from __future__ import annotations

import io
import warnings
from struct import error as struct_error

from PIL import Image, ImageFilter, ImageMath, ImageOps, UnidentifiedImageError

from faxd.documents import tiff
from faxd.documents.errors import DocumentError, DocumentTooLarge
from faxd.documents.geometry import Geometry

MAX_PIXELS = 80_000_000          # a 600 dpi A3 scan is 70 MP; a 30000x30000 bomb is 900 MP
PHOTO_MIDTONES = 0.20            # share of pixels in mid-grey above which an image is a photo
PAPER_LIGHTEST = 96              # the paper of a photographed page is at least this light
PAPER_BAND = 24                  # grey levels either side of the paper's commonest level
PAPER_SHARE = 0.55               # share of pixels in that band for an image to be a page on paper
INK_OF_PAPER = 67                # ink is darker than this percentage of the paper around it


def image_pages(data: bytes, content_type: str, geometry: Geometry, max_pages: int) -> list[Image.Image]:
    """Fax pages (mode "1", 1728 wide) for an image file."""
    if content_type == "image/tiff":
        layout = tiff.pages(data, max_pages=max_pages)
        tiff.check_claims(data, layout)
        if len(layout) > max_pages:
            raise DocumentTooLarge(f"the TIFF has more than {max_pages} pages (the limit is {max_pages})")
        for n, p in enumerate(layout, 1):
            _check_size(p.width, p.length, f"page {n} of the TIFF")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            _check_size(im.width, im.height, "the image")
            frames = getattr(im, "n_frames", 1) if im.format == "TIFF" else 1
            if frames > max_pages:
                raise DocumentTooLarge(f"the image has {frames} pages (the limit is {max_pages})")
            out = []
            for i in range(frames):
                im.seek(i)
                _check_size(im.width, im.height, f"page {i + 1} of the image")
                out.append(_page(im, geometry))
            return out
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DocumentTooLarge("the image has too many pixels (decompression bomb)") from None
    except UnidentifiedImageError:
        raise DocumentError(f"the {_name(content_type)} cannot be read: the file is damaged") from None
    except MemoryError:
        raise DocumentTooLarge("the image needs more memory than this server allows") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct_error, KeyError, IndexError, TypeError,
            ZeroDivisionError) as e:
        # Pillow's decoders answer malformed files with any of these.
        raise DocumentError(f"the {_name(content_type)} cannot be read: {e}") from None


def _name(content_type: str) -> str:
    return {"image/tiff": "TIFF image", "image/png": "PNG image", "image/jpeg": "JPEG image",
            "image/gif": "GIF image"}.get(content_type, "image")


def _check_size(width: int, height: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise DocumentError(f"{what} has no pixels")
    if width * height > MAX_PIXELS:
        raise DocumentTooLarge(
            f"{what} is {width}x{height} pixels, more than the {MAX_PIXELS // 1_000_000} megapixel limit")


def _dpi(im: Image.Image) -> tuple[float, float] | None:
    dpi = im.info.get("dpi")
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return None
    if x < 50 or y < 50:  # 1 or 72 "dpi" placeholders say nothing about the real size
        return None
    return x, y


def _page(im: Image.Image, g: Geometry) -> Image.Image:
    dpi = _dpi(im)
    if (im.mode == "1" and im.width == g.width and dpi and round(dpi[0]) == g.xres
            and round(dpi[1]) == g.yres):
        im.load()
        return im.copy()          # already a fax page: keep every pixel
    src = _to_gray(im)
    w, h = src.size
    dpi_x, dpi_y = dpi or (None, None)
    page_w_in, page_h_in = g.width / g.xres, g.height / g.yres
    if w > h and page_h_in > page_w_in:
        src = src.transpose(Image.Transpose.ROTATE_90)
        w, h = h, w
        dpi_x, dpi_y = dpi_y, dpi_x
    if dpi_x and w / dpi_x <= page_w_in and h / dpi_y <= page_h_in:
        img_w_in, img_h_in = w / dpi_x, h / dpi_y            # real size: it fits
    else:
        aspect_w, aspect_h = (w / dpi_x, h / dpi_y) if dpi_x else (w, h)
        s = min(page_w_in / aspect_w, page_h_in / aspect_h)   # fit, keep proportions
        img_w_in, img_h_in = aspect_w * s, aspect_h * s
    out_w = max(1, min(g.width, round(img_w_in * g.xres)))
    out_h = max(1, min(g.height, round(img_h_in * g.yres)))
    if (out_w, out_h) != src.size:
        src = src.resize((out_w, out_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    page = Image.new("1", (g.width, g.height), 255)
    page.paste(_binarise(src), ((g.width - out_w) // 2, (g.height - out_h) // 2))
    return page


def _to_gray(im: Image.Image) -> Image.Image:
    im = ImageOps.exif_transpose(im) if im.format in ("JPEG", "PNG", "TIFF") else im
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        return im.point(lambda v: v / 256).convert("L")
    if im.mode == "F":
        return im.convert("L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return white.convert("L")
    if im.mode == "CMYK":
        return im.convert("RGB").convert("L")
    return im.convert("L")


def _binarise(page: Image.Image) -> Image.Image:
    """A grey image as black and white, the way a person would want it on a fax.

    Line art and text are thresholded. A photograph or scan of a page (text on paper that is
    grey, tinted or unevenly lit) is thresholded against its own paper: dithering it would turn
    the paper into a screen of dots that hides the text. Anything else with mid-tones (a real
    photograph) is Floyd-Steinberg dithered.
    """
    hist = page.histogram()
    total = page.width * page.height
    ink = total - hist[255]
    mid = sum(hist[48:208])
    if not (ink and mid / ink > PHOTO_MIDTONES and mid / total > 0.02):
        return page.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)
    if _is_paper(hist, total):
        return _against_paper(page)
    return page.convert("1", dither=Image.Dither.FLOYDSTEINBERG)


def _is_paper(hist: list[int], total: int) -> bool:
    """Most pixels sit in one light band (the paper) and the rest is darker (the ink)."""
    smooth = [sum(hist[max(0, i - 4):i + 5]) for i in range(256)]
    paper = max(range(PAPER_LIGHTEST, 256), key=smooth.__getitem__)
    near = sum(hist[max(0, paper - PAPER_BAND):paper + PAPER_BAND + 1])
    return near / total >= PAPER_SHARE


def _against_paper(page: Image.Image) -> Image.Image:
    """Ink is what is clearly darker than the paper around it (its lightest level nearby)."""
    step = max(1, min(page.width, page.height) // 64)
    paper = page.reduce(step) if step > 1 else page
    paper = paper.filter(ImageFilter.MaxFilter(5)).resize(page.size, Image.Resampling.BILINEAR)
    ink = ImageMath.lambda_eval(lambda a: (a["page"] * 100) < (a["paper"] * INK_OF_PAPER), page=page, paper=paper)
    return ink.convert("L").point(lambda v: 0 if v else 255).convert("1", dither=Image.Dither.NONE)


def packed(page: Image.Image) -> bytes:
    """Rows of a page packed MSB first with 1 = black (min-is-white), as a fax TIFF stores them.

    Pillow's raw packer "1;I" writes a 1 bit for every zero (black) pixel. It does not go through
    ``ImageChops.invert``: a mode "1" image may hold white as 1 or as 255 internally (``Image.new
    ("1", size, 1)`` keeps the 1 in Pillow 13), and invert of 1 is 254, which packs as black.
    """
    if page.mode != "1":
        page = page.convert("1", dither=Image.Dither.NONE)
    return page.tobytes("raw", "1;I")

"""probe_tiff: whether spandsp's T.4 transmitter can send a TIFF, and what it sees in it."""
from __future__ import annotations

import os
from dataclasses import dataclass

from faxd.spandsp._spandsp import ffi, lib
from faxd.spandsp.errors import DocumentError
from faxd.spandsp.library import generation
from faxd.spandsp.stats import FILEERROR, completion_text, dpi, refusal_codes

FAX_WIDTHS = (1728, 2048, 2432)


@dataclass(frozen=True)
class TiffInfo:
    """What spandsp's T.4 transmitter sees in a TIFF."""
    path: str
    pages: int
    width: int
    x_dpi: int
    y_dpi: int

    @property
    def resolution(self) -> str:
        return f"{self.x_dpi}x{self.y_dpi}"


def probe_tiff(path: str) -> TiffInfo:
    """Open ``path`` the way the sender will (t4_tx_init) and check it can be faxed.

    Raises :class:`DocumentError` with the code the library in use gives the sender at phase E
    (:func:`faxd.spandsp.stats.refusal_codes`): FILEERROR (41) when spandsp cannot open it
    (missing, not a TIFF); 41 (0.0.6) or BADTIFFHDR (46, 3.x) when it is not a 1-bit image;
    NOSIZESUPPORT (12, 0.0.6) or NORESSUPPORT (11, 3.x) for a width no fax machine takes.
    """
    if not os.path.exists(path):
        raise DocumentError(path, FILEERROR, completion_text(FILEERROR), "no such file")
    not_bilevel, bad_width = refusal_codes(generation())
    out = ffi.new("int[5]")
    if lib.faxd_probe_tiff(os.fsencode(path), out) < 0:
        raise DocumentError(path, FILEERROR, completion_text(FILEERROR), _why_unreadable(path))
    if not out[4]:
        # spandsp 3 opens gray and colour TIFFs (out[4] == 0), then refuses them at the first
        # page unless colour was enabled; faxd sends only the 1-bit pages its pipeline makes.
        raise DocumentError(path, not_bilevel, completion_text(not_bilevel), _why_unreadable(path))
    info = TiffInfo(path, out[0], out[1], dpi(out[2]), dpi(out[3]))
    if info.width not in FAX_WIDTHS:
        raise DocumentError(path, bad_width, completion_text(bad_width),
                            f"page width {info.width} px; fax pages are 1728, 2048 or 2432 px wide")
    return info


def _why_unreadable(path: str) -> str:
    try:
        from PIL import Image
        with Image.open(path) as im:
            bits = im.tag_v2.get(258, "?") if hasattr(im, "tag_v2") else "?"
            if isinstance(bits, tuple):
                bits = "+".join(str(b) for b in bits)
            if im.format != "TIFF":
                return f"a {im.format} image, not a TIFF"
            return (f"{im.mode} image ({bits} bits per sample); spandsp sends only 1-bit "
                    "black-and-white TIFF (G3/G4 fax TIFF)")
    except Exception as e:  # any parse failure is the answer itself
        return f"not a readable TIFF ({type(e).__name__}: {e})"

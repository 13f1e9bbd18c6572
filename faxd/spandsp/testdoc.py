"""Test and benchmark documents: dense-text fax TIFFs rendered by Ghostscript.

``make_text_tiff(path, pages)`` writes A4 pages of 9 pt text (45 lines each, different on
every page) with Ghostscript's tiffg4/tiffg3 devices, which pad to the fax width of 1728 px.
"""
from __future__ import annotations

import os
import subprocess
import tempfile

_WORDS = ("fax facsimile modem carrier training page document station header protocol "
          "signal phase ident encode decode bitmap scanline resolution compression").split()


def _postscript(pages: int, lines: int = 45) -> str:
    out = ["%!PS", "/Courier findfont 9 scalefont setfont"]
    for p in range(pages):
        out.append("<< /PageSize [595 842] >> setpagedevice")
        y = 800
        for i in range(lines):
            words = [_WORDS[(p * 7 + i * 3 + k * 5) % len(_WORDS)] for k in range(16)]
            text = f"{p + 1:02d}.{i + 1:02d} " + " ".join(words)
            text = text.replace("(", "").replace(")", "")[:98]
            out.append(f"30 {y} moveto ({text}) show")
            y -= 17
        out.append("showpage")
    return "\n".join(out) + "\n"


def make_text_tiff(path: str, pages: int, resolution: str = "fine", device: str = "tiffg4", lines: int = 45) -> str:
    """Render ``pages`` A4 pages of ``lines`` lines of text (45: dense, the page full) to a 1-bit
    fax TIFF at 204x196 (fine) or 204x98."""
    res = "204x196" if resolution == "fine" else "204x98"
    with tempfile.NamedTemporaryFile("w", suffix=".ps", delete=False) as f:
        f.write(_postscript(pages, lines))
        ps = f.name
    try:
        subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", f"-sDEVICE={device}",
                        f"-r{res}", "-sPAPERSIZE=a4", "-dFIXEDMEDIA", f"-sOutputFile={path}", ps],
                       check=True, capture_output=True, timeout=120)
    finally:
        os.unlink(ps)
    return path

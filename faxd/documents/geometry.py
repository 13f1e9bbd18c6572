"""Fax page geometry: 1728 pixels wide, fine or normal resolution, A4 or Letter height."""
from __future__ import annotations

from dataclasses import dataclass

from faxd.documents.errors import DocumentError

FAX_WIDTH = 1728                         # T.4 §2.2: 1728 pels on 215 mm
X_DPI = 204
RESOLUTIONS = {"fine": (204, 196), "normal": (204, 98), "204x196": (204, 196), "204x98": (204, 98)}
PAPER_HEIGHT_INCHES = {"a4": 297 / 25.4, "letter": 11.0}


@dataclass(frozen=True)
class Geometry:
    paper: str          # "a4" | "letter"
    yres: int           # 196 (fine) | 98 (normal)

    @classmethod
    def of(cls, paper: str, resolution: str) -> "Geometry":
        p = (paper or "").strip().lower()
        if p not in PAPER_HEIGHT_INCHES:
            raise DocumentError(f"unknown paper size {paper!r}: use a4 or letter")
        r = RESOLUTIONS.get((resolution or "").strip().lower())
        if r is None:
            raise DocumentError(f"unknown resolution {resolution!r}: use fine (204x196) or normal (204x98)")
        return cls(p, r[1])

    @property
    def xres(self) -> int:
        return X_DPI

    @property
    def width(self) -> int:
        return FAX_WIDTH

    @property
    def height(self) -> int:
        return round(PAPER_HEIGHT_INCHES[self.paper] * self.yres)

    @property
    def resolution(self) -> str:
        return f"{X_DPI}x{self.yres}"

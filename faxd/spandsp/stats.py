"""T30Stats: spandsp's ``t30_stats_t`` as our own model, plus completion codes and their text.

The C helper copies ``t30_stats_t`` into ``faxd_stats_t``, one form for both library
generations (0.0.6's ``encoding`` and 3.x's ``compression`` become ``coding``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from faxd.spandsp._spandsp import ffi, lib

# Phase E completion codes (t30.h's T30_ERR_*, values from the headers compiled against:
# cdefs/t30.h) that faxd refers to by name.
OK = lib.T30_ERR_OK
T0_EXPIRED = lib.T30_ERR_T0_EXPIRED
T1_EXPIRED = lib.T30_ERR_T1_EXPIRED
CANNOT_TRAIN = lib.T30_ERR_CANNOT_TRAIN
INCOMPATIBLE = lib.T30_ERR_INCOMPATIBLE
NORESSUPPORT = lib.T30_ERR_NORESSUPPORT
NOSIZESUPPORT = lib.T30_ERR_NOSIZESUPPORT
TX_PHBDEAD = lib.T30_ERR_TX_PHBDEAD
RX_DCNWHY = lib.T30_ERR_RX_DCNWHY
FILEERROR = lib.T30_ERR_FILEERROR
NOPAGE = lib.T30_ERR_NOPAGE
BADTIFF = lib.T30_ERR_BADTIFF
BADTIFFHDR = lib.T30_ERR_BADTIFFHDR
CALLDROPPED = lib.T30_ERR_CALLDROPPED

# faxd_stats_t.coding (helper.c: faxd_coding).
ENCODINGS = {lib.FAXD_CODING_NONE: "", lib.FAXD_CODING_T4_1D: "T.4 1D", lib.FAXD_CODING_T4_2D: "T.4 2D",
             lib.FAXD_CODING_T6: "T.6", lib.FAXD_CODING_T85: "T.85", lib.FAXD_CODING_T85_L0: "T.85 L0",
             lib.FAXD_CODING_OTHER: "other"}
# faxd_set_rx_coding's codes.
RX_ENCODINGS = {"t4_1d": lib.FAXD_CODING_T4_1D, "t4_2d": lib.FAXD_CODING_T4_2D, "t6": lib.FAXD_CODING_T6}


def refusal_codes(generation: int) -> tuple[int, int]:
    """The phase E codes the sender gets for a TIFF that is not a 1-bit image and for a page
    width no fax machine takes: 41 and 12 from spandsp 0.0.6; 46 and 11 from 3.x, which opens
    such files and fails later, when it fits the page to what the receiver accepts."""
    return (BADTIFFHDR, NORESSUPPORT) if generation >= 3 else (FILEERROR, NOSIZESUPPORT)


def completion_text(code: int) -> str:
    """spandsp's own text for a phase E completion code (t30_completion_code_to_str)."""
    p = lib.t30_completion_code_to_str(int(code))
    return ffi.string(p).decode("ascii", "replace") if p != ffi.NULL else f"code {code}"


def dpi(pixels_per_metre: int) -> int:
    return int(round(pixels_per_metre * 0.0254)) if pixels_per_metre else 0


@dataclass(frozen=True)
class T30Stats:
    """Transfer statistics of one endpoint (t30_get_transfer_statistics) at one moment."""
    bit_rate: int = 0
    ecm: bool = False
    pages_tx: int = 0
    pages_rx: int = 0
    pages_in_file: int = 0
    x_resolution: int = 0          # pixels per metre, as spandsp reports
    y_resolution: int = 0
    width: int = 0                 # most recent page
    length: int = 0
    image_size: int = 0            # bytes, most recent page
    encoding: str = ""             # "T.4 1D" | "T.4 2D" | "T.6"
    bad_rows: int = 0
    longest_bad_row_run: int = 0
    ecm_retries: int = 0
    current_status: int = 0
    remote_station_id: str = ""
    local_station_id: str = ""
    t38: bool = False
    completion_code: int | None = None   # None until phase E
    completion_text: str = ""

    @property
    def resolution(self) -> str:
        """"204x196", "204x98", ... ("" before a page was negotiated)."""
        if not self.x_resolution or not self.y_resolution:
            return ""
        return f"{dpi(self.x_resolution)}x{dpi(self.y_resolution)}"

    @property
    def pages(self) -> int:
        """Pages transferred in whichever direction this endpoint worked."""
        return max(self.pages_tx, self.pages_rx)

    @property
    def success(self) -> bool:
        return self.completion_code == OK

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["resolution"] = self.resolution
        d["pages"] = self.pages
        return d

    @classmethod
    def from_t30(cls, t30, *, t38: bool = False, completion_code: int | None = None) -> "T30Stats":
        st = ffi.new("faxd_stats_t *")
        lib.faxd_get_stats(t30, st)
        rx = lib.t30_get_rx_ident(t30)
        tx = lib.t30_get_tx_ident(t30)
        return cls(
            bit_rate=st.bit_rate, ecm=bool(st.error_correcting_mode),
            pages_tx=st.pages_tx, pages_rx=st.pages_rx, pages_in_file=st.pages_in_file,
            x_resolution=st.x_resolution, y_resolution=st.y_resolution,
            width=st.width, length=st.length, image_size=st.image_size,
            encoding=ENCODINGS.get(st.coding, str(st.coding)),
            bad_rows=st.bad_rows, longest_bad_row_run=st.longest_bad_row_run,
            ecm_retries=st.error_correcting_mode_retries, current_status=st.current_status,
            remote_station_id=ffi.string(rx).decode("latin-1").strip() if rx != ffi.NULL else "",
            local_station_id=ffi.string(tx).decode("latin-1").strip() if tx != ffi.NULL else "",
            t38=t38, completion_code=completion_code,
            completion_text=completion_text(completion_code) if completion_code is not None else "",
        )

"""Neutral call events: what every backend translates its switch's vocabulary into.

Nothing above ``faxd/switch/`` sees an ESL header or an AMI key. Hangup causes use the
Q.850 names FreeSWITCH prints (NORMAL_CLEARING, USER_BUSY, NO_ANSWER, ...); result codes
are spandsp's T.30 completion codes (0 = OK, 49 = call dropped prematurely, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field


def resolution_dpi(ppm: str) -> str:
    """A resolution as both switches report it, ``8040x7700`` pixels per metre -> ``204x196``
    dpi; ``0x0`` (no page negotiated), ``""`` or junk -> ``""``, as the software switch says."""
    x, sep, y = (ppm or "").partition("x")
    try:
        dx, dy = round(int(x) * 0.0254), round(int(y) * 0.0254)
    except ValueError:
        return ""
    return f"{dx}x{dy}" if sep and dx > 0 and dy > 0 else ""


@dataclass(frozen=True)
class Ringing:
    call_id: str


@dataclass(frozen=True)
class Answered:
    call_id: str


@dataclass(frozen=True)
class Negotiated:
    """T.30 phase B done: the parameters the two machines agreed."""
    call_id: str
    bit_rate: int = 0
    ecm: bool = False
    t38: bool = False
    remote_station_id: str = ""
    resolution: str = ""         # "204x196", "204x98", ...
    encoding: str = ""           # "T.4 1D", "T.4 2D", "T.6"

    @property
    def text(self) -> str:
        """The progress text both flows show: ``Negotiated 14400 bps ECM T.38``."""
        return f"Negotiated {self.bit_rate} bps{' ECM' if self.ecm else ''}{' T.38' if self.t38 else ''}"


@dataclass(frozen=True)
class PageDone:
    """A page went through (phase D)."""
    call_id: str
    pages: int                   # pages transferred so far
    pages_total: int = 0         # 0 when unknown (receiving side)
    bit_rate: int = 0
    bad_rows: int = 0


@dataclass(frozen=True)
class FaxResult:
    """T.30 ended (phase E), successfully or not."""
    call_id: str
    success: bool
    result_code: int             # spandsp T.30 completion code
    result_text: str
    pages: int = 0               # pages transferred
    pages_total: int = 0
    bit_rate: int = 0
    ecm: bool = False
    t38: bool = False
    remote_station_id: str = ""
    bad_rows: int = 0
    resolution: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Hangup:
    """The call is gone. Always the last event of a call."""
    call_id: str
    cause: str = "NORMAL_CLEARING"   # Q.850 name
    q850: int = 16
    detail: str = ""


@dataclass(frozen=True)
class SwitchLost:
    """The connection to the switch carrying this call dropped; the call may still exist.

    The backend sends either a later event (re-attached after reconnecting) or a Hangup
    with cause ``SWITCH_LOST`` when it could not find the call again.
    """
    call_id: str


Event = Ringing | Answered | Negotiated | PageDone | FaxResult | Hangup | SwitchLost

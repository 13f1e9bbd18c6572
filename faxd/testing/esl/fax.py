"""Real T.30 sessions between the two legs of an emulated call, reported as mod_spandsp would.

``run_fax`` runs a sender and a receiver (audio ``FaxSession`` or ``T38Session``) unpaced with
faxd's spandsp bindings and returns, per side, the header values of the negotiate, page and
result events mod_spandsp would fire (names as on the wire: ``fax-transfer-rate``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from faxd.switch.freeswitch.esl import url_decode

# spandsp 3 compression numbers as mod_spandsp prints them (telephony reference 3.3).
_ENCODING = {"T.4 1D": ("2", "T.4 1-D"), "T.4 2D": ("4", "T.4 2-D"), "T.6": ("8", "T.6")}


@dataclass
class Timeline:
    """What one side's T.30 produced: negotiate values, one dict per page, the result."""
    negotiated: dict | None = None
    pages: list[dict] = field(default_factory=list)
    result: dict | None = None


@dataclass
class FaxSide:
    path: str
    station_id: str = ""
    header: str = ""
    ecm: bool = True
    v17: bool = True

    @classmethod
    def from_variables(cls, path: str, variables: dict[str, str]) -> "FaxSide":
        def flag(name: str, default: bool) -> bool:
            v = variables.get(name)
            return default if v is None else v.lower() in ("true", "1", "yes", "on")
        ident = url_decode(variables.get("fax_ident", ""))[:20]
        header = url_decode(variables.get("fax_header", ""))[:50]
        return cls(path, ident if ident.isprintable() else "", header if header.isprintable() else "",
                   flag("fax_use_ecm", True), not flag("fax_disable_v17", False))


def _common(stats, sending: bool) -> dict:
    d = {"fax-transfer-rate": str(stats.bit_rate), "fax-ecm-used": "on" if stats.ecm else "off",
         "fax-t38-status": "negotiated" if stats.t38 else "off",
         "fax-local-station-id": stats.local_station_id, "fax-remote-station-id": stats.remote_station_id}
    return d


def _page(stats, sending: bool) -> dict:
    number, name = _ENCODING.get(stats.encoding, ("0", stats.encoding))
    d = {"fax-document-transferred-pages": str(stats.pages_tx if sending else stats.pages_rx),
         "fax-image-resolution": f"{stats.x_resolution}x{stats.y_resolution}",
         "fax-image-size": str(stats.image_size),
         "fax-image-pixel-size": f"{stats.width}x{stats.length}",
         "fax-file-image-pixel-size": f"{stats.width}x{stats.length}",
         "fax-bad-rows": str(stats.bad_rows), "fax-longest-bad-row-run": str(stats.longest_bad_row_run),
         "fax-encoding": number, "fax-encoding-name": name}
    if sending:
        d["fax-document-total-pages"] = str(stats.pages_in_file)
    return d


def _result(stats, sending: bool, code: int) -> dict:
    from faxd.spandsp import completion_text
    d = _common(stats, sending)
    d.update({"fax-success": "1" if code == 0 else "0", "fax-result-code": str(code),
              "fax-result-text": completion_text(code),
              "fax-document-transferred-pages": str(stats.pages_tx if sending else stats.pages_rx),
              "fax-document-total-pages": str(stats.pages_in_file),
              "fax-image-resolution": f"{stats.x_resolution}x{stats.y_resolution}",
              "fax-image-size": str(stats.image_size), "fax-bad-rows": str(stats.bad_rows)})
    return d


def timeline(session, sending: bool) -> Timeline:
    t = Timeline()
    for ev in session.events:
        if ev.kind == "phase_b" and t.negotiated is None:
            t.negotiated = _common(ev.stats, sending)
            if sending:
                t.negotiated["fax-document-total-pages"] = str(ev.stats.pages_in_file)
        elif ev.kind == "phase_d":
            t.pages.append(_page(ev.stats, sending))
        elif ev.kind == "phase_e":
            t.result = _result(ev.stats, sending, ev.code)
    return t


def run_fax(tx: FaxSide, rx: FaxSide | None, *, t38: bool, hangup_after_pages: int = 0,
            max_seconds: float = 300.0, control=None) -> tuple[Timeline, Timeline | None]:
    """Send ``tx.path`` to ``rx`` (None: a far end that answers but never speaks T.30)."""
    from faxd.spandsp import FaxSession, T38Session, run_pair
    if t38:
        a = T38Session(True, paced=False, station_id=tx.station_id, header=tx.header, ecm=tx.ecm, v17=tx.v17)
        b = (T38Session(False, paced=False, station_id=rx.station_id, ecm=rx.ecm, v17=rx.v17)
             if rx is not None else None)
    else:
        a = FaxSession(True, station_id=tx.station_id, header=tx.header, ecm=tx.ecm, v17=tx.v17)
        b = (FaxSession(False, station_id=rx.station_id, ecm=rx.ecm, v17=rx.v17)
             if rx is not None else None)
    try:
        a.set_tx_file(tx.path)
        if b is not None:
            b.set_rx_file(rx.path)
        run_pair(a, b, max_seconds=max_seconds, hangup_after_pages=hangup_after_pages, control=control)
        return timeline(a, True), (timeline(b, False) if b is not None else None)
    finally:
        a.close()
        if b is not None:
            b.close()

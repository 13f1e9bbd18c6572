"""faxd's cffi (API mode) bindings to libspandsp (0.0.6 or 3.x) and the in-process software fax line.

Layers: ``cdefs/`` + ``helper.c`` (declarations of what we call and of the constants we use, the
C helper loop), ``endpoint`` (FaxSession, T38Session), ``pair`` (run_pair, step_pair,
run_pair_paced, Control), ``pacer`` (Pacer), ``tiff`` (probe_tiff), ``stats`` (T30Stats,
completion codes). See docs/spandsp.md.
"""
from faxd import lazy
from faxd.spandsp.library import info as library_info
from faxd.spandsp.library import load_override as _load_override

_load_override()    # FAXD_SPANDSP_EXTENSION: before anything imports the compiled module
from faxd.spandsp.errors import CallbackError, DocumentError, SpandspError, T30Error  # noqa: E402

# The compiled library and the session layer load on first use, not when a command that only
# parses its arguments imports this package.
_LAZY = {name: "faxd.spandsp.endpoint" for name in (
    "BLOCK", "SAMPLE_RATE", "FaxSession", "PhaseEvent", "T38Session", "frame_name", "to_hub")}
_LAZY.update({name: "faxd.spandsp.pair" for name in (
    "Control", "PairResult", "dsp_pool", "release_heap", "run_pair", "run_pair_paced", "step_pair")})
_LAZY.update(Pacer="faxd.spandsp.pacer", TiffInfo="faxd.spandsp.tiff", probe_tiff="faxd.spandsp.tiff",
             T30Stats="faxd.spandsp.stats", completion_text="faxd.spandsp.stats")

__getattr__ = lazy.attributes(__name__, _LAZY)

__all__ = [
    "BLOCK", "SAMPLE_RATE", "CallbackError", "Control", "Pacer", "DocumentError", "FaxSession", "PairResult",
    "PhaseEvent", "SpandspError", "T30Error", "T30Stats", "T38Session", "TiffInfo", "completion_text",
    "dsp_pool", "frame_name", "library_info", "probe_tiff", "release_heap", "run_pair", "run_pair_paced", "step_pair", "to_hub",
]

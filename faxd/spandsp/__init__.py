"""faxd's cffi (API mode) bindings to libspandsp (0.0.6 or 3.x) and the in-process software fax line.

Layers: ``cdefs/`` + ``helper.c`` (declarations of what we call, the C helper loop),
``session`` (FaxSession, T38Session, run_pair, run_pair_paced, probe_tiff), ``stats``
(T30Stats, completion codes). See docs/spandsp.md.
"""
from faxd.spandsp.library import info as library_info
from faxd.spandsp.library import load_override as _load_override

_load_override()    # FAXD_SPANDSP_EXTENSION: before anything imports the compiled module
from faxd.spandsp.errors import CallbackError, DocumentError, SpandspError, T30Error  # noqa: E402
from faxd.spandsp.session import (BLOCK, SAMPLE_RATE, Control, FaxSession, Pacer, PairResult,  # noqa: E402
                                  PhaseEvent, T38Session, TiffInfo, dsp_pool, frame_name, probe_tiff,
                                  release_heap, run_pair, run_pair_paced, step_pair, to_hub)
from faxd.spandsp.stats import T30Stats, completion_text  # noqa: E402

__all__ = [
    "BLOCK", "SAMPLE_RATE", "CallbackError", "Control", "Pacer", "DocumentError", "FaxSession", "PairResult",
    "PhaseEvent", "SpandspError", "T30Error", "T30Stats", "T38Session", "TiffInfo", "completion_text",
    "dsp_pool", "frame_name", "library_info", "probe_tiff", "release_heap", "run_pair", "run_pair_paced", "step_pair", "to_hub",
]

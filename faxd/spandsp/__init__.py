"""faxd's cffi (API mode) bindings to libspandsp 0.0.6 and the in-process software fax line.

Layers: ``cdefs/`` + ``helper.c`` (declarations of what we call, the C helper loop),
``session`` (FaxSession, T38Session, run_pair, run_pair_paced, probe_tiff), ``stats``
(T30Stats, completion codes). See docs/spandsp.md.
"""
from faxd.spandsp.errors import CallbackError, DocumentError, SpandspError, T30Error
from faxd.spandsp.session import (BLOCK, SAMPLE_RATE, Control, FaxSession, Pacer, PairResult, PhaseEvent,
                                  T38Session, TiffInfo, dsp_pool, frame_name, probe_tiff, release_heap,
                                  run_pair, run_pair_paced, step_pair, to_hub)
from faxd.spandsp.stats import T30Stats, completion_text

__all__ = [
    "BLOCK", "SAMPLE_RATE", "CallbackError", "Control", "Pacer", "DocumentError", "FaxSession", "PairResult",
    "PhaseEvent", "SpandspError", "T30Error", "T30Stats", "T38Session", "TiffInfo", "completion_text",
    "dsp_pool", "frame_name", "probe_tiff", "release_heap", "run_pair", "run_pair_paced", "step_pair", "to_hub",
]

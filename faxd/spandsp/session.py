"""The session layer's names under one module, for code that imports them from here.

They live in :mod:`faxd.spandsp.endpoint` (FaxSession, T38Session, PhaseEvent), :mod:`.pair`
(run_pair, step_pair, run_pair_paced, Control), :mod:`.pacer` (Pacer) and :mod:`.tiff`
(probe_tiff); ``faxd.spandsp`` gives them all.
"""
from faxd.spandsp.endpoint import BLOCK, SAMPLE_RATE, FaxSession, PhaseEvent, T38Session, frame_name, to_hub
from faxd.spandsp.pacer import Pacer
from faxd.spandsp.pair import (Control, PairResult, dsp_pool, release_heap, run_pair, run_pair_paced,
                               step_pair)
from faxd.spandsp.tiff import TiffInfo, probe_tiff

__all__ = ["BLOCK", "SAMPLE_RATE", "Control", "FaxSession", "Pacer", "PairResult", "PhaseEvent", "T38Session",
           "TiffInfo", "dsp_pool", "frame_name", "probe_tiff", "release_heap", "run_pair", "run_pair_paced",
           "step_pair", "to_hub"]

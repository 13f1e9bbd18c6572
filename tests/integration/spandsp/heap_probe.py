"""Concurrent calls' heap in a fresh process: private memory before, at the end of page 1
and after every endpoint was closed.

Run by test_memory.py as ``python -m tests.integration.spandsp.heap_probe DOC TMPDIR PAIRS``;
prints JSON (kB). A process of its own: endpoints or heap left by other tests in the pytest
process would otherwise be measured too.
"""
import json
import os
import sys

from faxd.spandsp import FaxSession, step_pair
from faxd.spandsp._spandsp import lib


def private_kb() -> int:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1])
    return 0


def main(doc: str, tmp: str, n: int) -> dict:
    before = private_kb()
    pairs = []
    for i in range(n):
        a, b = FaxSession(True, ecm=False), FaxSession(False, ecm=False)
        a.set_tx_file(doc)
        b.set_rx_file(os.path.join(tmp, f"heap{i}.tif"))
        b.stop_at_page(1)
        pairs.append((a, b))
    running = list(pairs)
    while running:                      # 1 s of line each in turn, as concurrent calls go
        running = [(a, b) for a, b in running if step_pair(a, b, 50) and not b._ep.stop]
    live = lib.faxd_live_endpoints()
    peak = private_kb()
    pages = [b.pages_done for a, b in pairs]
    for a, b in pairs:
        a.close()
        b.close()
    return {"before": before, "peak": peak, "after": private_kb(), "live_at_peak": live,
            "live_after": lib.faxd_live_endpoints(), "pages": pages}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))

"""What concurrent calls leave behind in the heap once they have ended."""
import json
import os
import subprocess
import sys


def test_memory_of_ended_calls_goes_back_to_the_kernel(docs, tmp_path):
    # 20 calls side by side to the end of page 1 (each receiver holds a whole page bitmap,
    # about 0.5 MB, grown by realloc while the others grow theirs), then all closed. glibc
    # alone keeps about 8 MB of that resident (free chunks below live ones); faxd hands it
    # back when the last endpoint is freed.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    p = subprocess.run([sys.executable, "-m", "tests.integration.spandsp.heap_probe", docs[3], str(tmp_path), "20"],
                       cwd=root, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["pages"] == [1] * 20
    assert r["live_at_peak"] == 40 and r["live_after"] == 0
    grown_at_peak = r["peak"] - r["before"]
    assert grown_at_peak > 20 * 500, f"20 pairs mid-call only grew private memory by {grown_at_peak} kB"
    left = r["after"] - r["before"]
    assert left < 2000, f"{left} kB of private memory still held after every call ended"

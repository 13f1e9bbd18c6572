"""50 concurrent software-switch calls with a 10 ms ticker greenlet, in a fresh process.

Run by test_software_switch.py as ``python -m tests.integration.software_switch.hub_latency DOC HOME``;
prints JSON. A process of its own, like the daemon: threads and greenlets left behind by other
tests in the pytest process would otherwise be measured too.
"""
from faxd.green import patch

patch()

import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

from faxd.config import Config  # noqa: E402
from faxd.switch.base import FaxOptions, OriginateRequest  # noqa: E402
from faxd.switch.events import FaxResult, Hangup  # noqa: E402
from faxd.switch.software import SoftwareSwitch  # noqa: E402


def runqueue_wait() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (kernel schedstat)."""
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def ticker(lateness, running, period=0.01):
    """Each tick's lateness, and the same less the time the kernel kept the hub's thread
    waiting for a CPU in that interval: what is left is caused inside this process."""
    nxt = time.monotonic() + period
    waited = runqueue_wait()
    while running():
        gevent.sleep(max(0.0, nxt - time.monotonic()))
        late = time.monotonic() - nxt
        now_waited = runqueue_wait()
        lateness.append((late, max(0.0, late - (now_waited - waited))))
        waited = now_waited
        nxt += period


def p99(values):
    values = sorted(values)
    return values[int(len(values) * 0.99)]


def main(doc: str, home: str, calls: int = 50) -> dict:
    sw = SoftwareSwitch(Config.load(path=None, env={}, home=home))
    sw.start()
    lateness, done = [], []
    tick = gevent.spawn(ticker, lateness, lambda: not done)
    placed = [sw.originate(OriginateRequest(f"lat-{i}", "job", "+15145550000" if i % 2 else "+12025550199",
                                            "+12025550199", "faxd", doc,
                                            FaxOptions(t38="request" if i % 3 == 0 else "off")))
              for i in range(calls)]
    ok = 0
    with gevent.Timeout(120):
        for c in placed:
            while True:
                ev = c.events.get()
                if isinstance(ev, FaxResult) and ev.success and ev.pages == 1:
                    ok += 1
                if isinstance(ev, Hangup):
                    break
    done.append(True)
    tick.join()
    sw.stop()
    return {"calls": calls, "succeeded": ok, "ticks": len(lateness),
            "raw_p99": p99([r for r, _ in lateness]), "own_p99": p99([o for _, o in lateness])}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))

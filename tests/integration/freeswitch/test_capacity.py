"""Many concurrent calls through the emulator, each a real T.30 session (T.38, one page)."""
import time
import uuid

import gevent
import gevent.pool

from faxd.switch import events as ev
from faxd.switch.base import FaxOptions, OriginateRequest

from .conftest import collect

CALLS = 500


def test_500_concurrent_calls_complete(emulator, backend, docs):
    emu = emulator(routes={"*": "receive"})
    be = backend(emu)
    assert be.wait_connected(5)
    t0 = time.monotonic()
    calls = [be.originate(OriginateRequest(call_id=str(uuid.uuid4()), job_id=f"job{i}", to_number=f"+1202555{i:04d}",
                                           from_number="+4930123456", from_name="ACME", tiff_path=docs["1p"],
                                           options=FaxOptions(station_id="ACME", t38="request")))
             for i in range(CALLS)]
    peak = [0]

    def watch():
        while True:
            peak[0] = max(peak[0], len(be.nodes[0].calls))
            gevent.sleep(0.01)
    watcher = gevent.spawn(watch)
    pool = gevent.pool.Pool(CALLS)
    results = pool.map(lambda c: collect(c, timeout=240), calls)
    watcher.kill()
    assert peak[0] > CALLS * 0.9                       # they really were in flight together
    ok = 0
    for call, events in zip(calls, results):
        r = [e for e in events if isinstance(e, ev.FaxResult)]
        assert len(r) == 1 and r[0].call_id == call.call_id, events
        assert events[-1] == ev.Hangup(call.call_id, "NORMAL_CLEARING", 16)
        ok += r[0].success and r[0].t38 and r[0].pages == 1
    assert ok == CALLS
    assert be.nodes[0].calls == {} and be.nodes[0].jobs == {}
    assert len(emu.calls) == CALLS and time.monotonic() - t0 < 240

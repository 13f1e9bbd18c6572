"""Real-time mode: 8000 samples/s per call, driven from greenlets."""
import time

import gevent

from faxd.spandsp import Control, FaxSession, Pacer, T38Session, run_pair_paced


def _pair(cls, doc, tmp_path, i=0):
    tx, rx = cls(True), cls(False)
    tx.set_tx_file(doc)
    rx.set_rx_file(str(tmp_path / f"rx{i}.tif"))
    return tx, rx


def test_pacer_feeds_every_call_in_real_time(docs, tmp_path):
    pacer = Pacer()
    pairs = [_pair(FaxSession, docs[1], tmp_path, i) for i in range(20)]
    controls = [Control() for _ in pairs]
    t0 = time.monotonic()
    done = [pacer.add(a, b, c) for (a, b), c in zip(pairs, controls)]
    gevent.sleep(0.6)
    elapsed = time.monotonic() - t0
    for a, b in pairs:
        line = a.samples / 8000
        # Never ahead of real time; close behind it (a busy machine may delay a tick or two,
        # which the pacer makes up); unpaced, the whole fax would have been done by now.
        assert 0.5 * elapsed < line <= elapsed + 0.03, f"{line:.2f} s of line in {elapsed:.2f} s"
        assert a.samples == b.samples
        assert not a.done
    for c in controls:
        c.cancel()
    for d in done:
        assert d.wait(5)
    for a, b in pairs:
        assert a.completion_code == 49
        a.close(), b.close()
    assert len(pacer) == 0
    assert pacer.ticks >= 25


def test_run_pair_paced_t38_in_real_time(docs, tmp_path):
    tx, rx = _pair(T38Session, docs[1], tmp_path)
    ctl = Control()
    t0 = time.monotonic()

    def cancel_after_half_a_second():
        while time.monotonic() - t0 < 0.5:
            gevent.sleep(0.02)
        ctl.cancel()
    gevent.spawn(cancel_after_half_a_second)
    r = run_pair_paced(tx, rx, control=ctl)
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.5
    assert 0.5 * elapsed < r.seconds <= elapsed + 0.03
    assert r.tx.completion_code == 49 and r.rx.completion_code == 49
    tx.close(), rx.close()


def test_pacer_packs_a_light_load_on_one_thread_and_hands_pairs_back_at_once(docs, tmp_path):
    pacer = Pacer(threads=2)
    pairs = [_pair(FaxSession, docs[1], tmp_path, i) for i in range(10)]
    controls = [Control() for _ in pairs]
    early = Control()
    early.cancel()                      # hung up before the pacer even got the call
    pairs.append(_pair(FaxSession, docs[1], tmp_path, 10))
    controls.append(early)
    done = [pacer.add(a, b, c) for (a, b), c in zip(pairs, controls)]
    # Ten calls are far less than half a frame of work: the second thread never wakes.
    assert pacer.threads_used == 1
    assert done[-1].wait(1), "a pair cancelled before add() was not ended"
    assert pairs[-1][0].completion_code == 49
    gevent.sleep(0.3)
    assert not any(d.is_set() for d in done[:-1])
    t0 = time.monotonic()
    for c in controls[:-1]:
        c.cancel()
    for d in done:
        assert d.wait(5)
    # Handed back when the C thread ends them (an eventfd wakes the watcher), not at a poll.
    assert time.monotonic() - t0 < 0.5
    assert len(pacer) == 0 and pacer.threads_used == 0
    for a, b in pairs:
        assert a.completion_code == 49 and b.completion_code == 49
        a.close(), b.close()

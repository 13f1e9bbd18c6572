"""Failures reproduce what a real spandsp produces; the process survives them."""
import pytest
from PIL import Image

from faxd.spandsp import (CallbackError, Control, DocumentError, FaxSession, T38Session, library_info, probe_tiff,
                          run_pair)

from .conftest import assert_same_pages


def _pair(cls, doc, out, **kw):
    tx, rx = cls(True, **kw), cls(False, **kw)
    tx.set_tx_file(doc)
    rx.set_rx_file(out)
    return tx, rx


@pytest.mark.parametrize("cls", [FaxSession, T38Session])
def test_far_end_hangs_up_during_page_2(docs, tmp_path, cls):
    tx, rx = _pair(cls, docs[3], str(tmp_path / "rx.tif"))
    r = run_pair(tx, rx, hangup_after_pages=1)
    tx.close(), rx.close()
    assert (r.tx.completion_code, r.tx.completion_text) == (49, "The call dropped prematurely")
    assert r.tx.pages_tx == 1 and r.rx.pages_rx == 1


@pytest.mark.parametrize("cls", [FaxSession, T38Session])
def test_nobody_on_the_line_times_out_like_t30_does(docs, cls):
    tx = cls(True)
    tx.set_tx_file(docs[1])
    r = run_pair(tx, None)
    tx.close()
    assert (r.tx.completion_code, r.tx.completion_text) == (2, "Timed out waiting for initial communication")
    assert 55 < r.seconds < 65          # T0: 60 s of line time
    assert r.rx is None


def _gray(path):
    Image.new("L", (1728, 400), 255).save(path, dpi=(204, 196))
    return str(path)


def _narrow(path):
    Image.new("1", (1000, 400), 1).save(path, dpi=(204, 196), compression="group4")
    return str(path)


# The sender's phase E for a file it cannot send, by library generation: 0.0.6 refuses to open
# a gray TIFF; 3.x opens it and fails when it fits the page to the receiver (docs/spandsp.md).
REFUSED = {
    0: {"gray": (41, "TIFF/F file cannot be opened"),
        "narrow": (12, "Far end cannot receive at the size of image")},
    3: {"gray": (46, "Bad TIFF/F header - incorrect values in fields"),
        "narrow": (11, "Far end cannot receive at the resolution of the image")},
}


@pytest.mark.parametrize("make,case", [
    (_gray, "gray"),
    (_narrow, "narrow"),
    (lambda p: str(p) + ".missing", "missing"),
])
def test_bad_documents_fail_with_spandsp_codes(docs, tmp_path, make, case):
    doc = make(tmp_path / "bad.tif")
    code, text = REFUSED[library_info()["generation"]].get(case, (41, "TIFF/F file cannot be opened"))
    tx, rx = _pair(FaxSession, doc, str(tmp_path / "rx.tif"))
    r = run_pair(tx, rx)
    tx.close(), rx.close()
    assert (r.tx.completion_code, r.tx.completion_text) == (code, text)
    # faxd's own check of the file says in advance what this library's sender will say
    with pytest.raises(DocumentError) as e:
        probe_tiff(doc)
    assert (e.value.result_code, e.value.result_text) == (code, text)
    assert not r.rx.success and r.rx.pages_rx == 0
    # the process carries on: a good document still goes through
    tx, rx = _pair(FaxSession, docs[1], str(tmp_path / "ok.tif"))
    assert run_pair(tx, rx).rx.success
    tx.close(), rx.close()


def test_cancel_terminates_both_ends(docs, tmp_path):
    ctl = Control()
    seen = []

    def cancel_after_first_page(session, ev):
        if ev.kind == "phase_d":
            seen.append(ev)
            ctl.cancel()
    tx = FaxSession(True, listener=cancel_after_first_page)
    rx = FaxSession(False)
    tx.set_tx_file(docs[10])
    rx.set_rx_file(str(tmp_path / "rx.tif"))
    r = run_pair(tx, rx, control=ctl)
    tx.close(), rx.close()
    assert r.tx.completion_code == 49 and r.tx.pages_tx == 1 and len(seen) == 1


def test_a_raising_listener_is_reported_not_swallowed(docs, tmp_path):
    def boom(session, ev):
        raise RuntimeError("listener bug")
    tx = FaxSession(True, listener=boom)
    rx = FaxSession(False)
    tx.set_tx_file(docs[1])
    rx.set_rx_file(str(tmp_path / "rx.tif"))
    with pytest.raises(CallbackError, match="listener bug"):
        run_pair(tx, rx)
    assert rx.done and tx.done            # the fax itself still completed
    tx.close(), rx.close()


def test_inline_chunks_without_threads(docs, tmp_path):
    out = str(tmp_path / "rx.tif")
    tx, rx = _pair(FaxSession, docs[1], out)
    r = run_pair(tx, rx, in_thread=False)
    tx.close(), rx.close()
    assert r.rx.success
    assert_same_pages(docs[1], out)


def test_real_time_api_frame_by_frame(docs, tmp_path):
    """The emulator's shape: audio frames as bytes, one 160-sample frame at a time."""
    out = str(tmp_path / "rx.tif")
    tx, rx = _pair(FaxSession, docs[1], out)
    for _ in range(int(120 * 50)):
        a, b = tx.tx(), rx.tx()
        assert len(a) == 320
        rx.rx(a)
        tx.rx(b)
        if tx.done and rx.done:
            break
    assert tx.result().success and rx.result().pages_rx == 1
    tx.close(), rx.close()
    assert_same_pages(docs[1], out)


def test_t38_packets_over_the_python_api(docs, tmp_path):
    out = str(tmp_path / "rx.tif")
    tx, rx = _pair(T38Session, docs[1], out)
    seq = {id(tx): 0, id(rx): 0}
    for _ in range(120 * 50):
        tx.advance(160)
        rx.advance(160)
        for src, dst in ((tx, rx), (rx, tx)):
            for pkt, count in src.take_packets():
                assert count >= 1
                dst.rx_packet(pkt, seq[id(dst)])
                seq[id(dst)] += 1
        if tx.done and rx.done:
            break
    assert tx.result().success and rx.result().pages_rx == 1
    tx.close(), rx.close()
    assert_same_pages(docs[1], out)


def test_killing_the_waiting_greenlet_stops_the_thread_before_the_endpoints_are_freed(docs, tmp_path):
    """A greenlet killed while the DSP thread drives its endpoints (an emulated switch that
    dies, a shutdown) must not free them under the running thread: run_pair cancels the
    thread and waits for it. Before, closing the endpoints right after the kill crashed the
    process (segmentation fault)."""
    import gevent
    import threading
    held = threading.Event()
    go = threading.Event()
    resumed = threading.Event()

    def hold_after_first_page(session, ev):
        if ev.kind == "phase_d" and not held.is_set():
            held.set()
            go.wait(10)                       # the DSP thread is busy here when the kill comes
            resumed.set()
    tx = FaxSession(True, listener=hold_after_first_page)
    rx = FaxSession(False)
    tx.set_tx_file(docs[10])
    rx.set_rx_file(str(tmp_path / "rx.tif"))
    g = gevent.spawn(run_pair, tx, rx)
    with gevent.Timeout(30):
        while not held.is_set():
            gevent.sleep(0.01)
    gevent.spawn_later(0.2, go.set)           # the thread goes on only after the kill began
    g.kill(block=True, timeout=30)
    assert g.dead
    assert resumed.is_set()                   # the kill waited for the thread
    tx.close(), rx.close()                    # freed now: the thread has finished
    assert tx.closed and rx.closed

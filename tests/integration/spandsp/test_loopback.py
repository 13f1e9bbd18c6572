"""Real T.30 sessions between two spandsp endpoints: every page must arrive pixel-identical."""
import pytest

from faxd.spandsp import FaxSession, T38Session, frame_name, run_pair

from .conftest import assert_same_pages

CASES = [
    # (pages, kind, options, expected bit rate, ecm, encoding)
    (1, "audio", {}, 14400, True, "T.4 2D"),
    (3, "audio", {"ecm": False}, 14400, False, "T.4 2D"),
    (3, "t38", {}, 14400, True, "T.4 2D"),
    (10, "audio", {}, 14400, True, "T.4 2D"),
    (10, "t38", {"ecm": False}, 14400, False, "T.4 2D"),
    (3, "audio", {"v17": False}, 9600, True, "T.4 2D"),
    (3, "audio", {"t6": True}, 14400, True, "T.6"),
    (3, "t38", {"t6": True}, 14400, True, "T.6"),
    (1, "t38", {"ecm": False, "v17": False}, 9600, False, "T.4 2D"),
]


@pytest.mark.parametrize("n,kind,opts,rate,ecm,encoding", CASES,
                         ids=[f"{c[0]}p-{c[1]}-" + ("-".join(f"{k}={v}" for k, v in c[2].items()) or "default")
                              for c in CASES])
def test_pages_arrive_identical(docs, tmp_path, n, kind, opts, rate, ecm, encoding):
    cls = FaxSession if kind == "audio" else T38Session
    tx = cls(True, station_id="+1 202 555 0111", **opts)
    rx = cls(False, station_id="REMOTE 42", **opts)
    out = str(tmp_path / "rx.tif")
    tx.set_tx_file(docs[n])
    rx.set_rx_file(out)
    try:
        r = run_pair(tx, rx)
    finally:
        tx.close()
        rx.close()
    assert (r.tx.completion_code, r.rx.completion_code) == (0, 0), (r.tx.completion_text, r.rx.completion_text)
    assert r.tx.completion_text == "OK"
    assert r.tx.pages_tx == n and r.rx.pages_rx == n
    assert r.tx.bit_rate == rate and r.rx.bit_rate == rate
    assert r.tx.ecm is ecm and r.rx.ecm is ecm
    assert r.tx.encoding == encoding and r.rx.encoding == encoding
    assert r.tx.t38 is (kind == "t38")
    assert r.tx.remote_station_id == "REMOTE 42"
    assert r.rx.remote_station_id == "+1 202 555 0111"
    assert r.rx.resolution == "204x196"
    assert r.rx.bad_rows == 0
    assert_same_pages(docs[n], out)


def test_normal_resolution_is_kept(docs, tmp_path):
    tx, rx = FaxSession(True), FaxSession(False)
    out = str(tmp_path / "rx.tif")
    tx.set_tx_file(docs["normal"])
    rx.set_rx_file(out)
    r = run_pair(tx, rx)
    tx.close(), rx.close()
    assert r.rx.success and r.rx.pages_rx == 2
    assert r.rx.resolution == "204x98"
    assert_same_pages(docs["normal"], out)


def test_callbacks_see_phases_in_order(docs, tmp_path):
    seen = []
    tx = FaxSession(True, listener=lambda s, ev: seen.append(("tx", ev.kind, ev.stats.pages_tx)))
    rx = FaxSession(False, listener=lambda s, ev: seen.append(("rx", ev.kind, ev.stats.pages_rx)))
    tx.set_tx_file(docs[3])
    rx.set_rx_file(str(tmp_path / "rx.tif"))
    run_pair(tx, rx)
    tx.close(), rx.close()
    tx_kinds = [k for who, k, _ in seen if who == "tx"]
    assert tx_kinds[0] == "phase_b" and tx_kinds[-1] == "phase_e"
    assert [p for who, k, p in seen if who == "tx" and k == "phase_d"] == [1, 2, 3]
    assert [p for who, k, p in seen if who == "rx" and k == "phase_d"] == [1, 2, 3]
    # the frames the callbacks report, named from t30_fcf.h: the sender's DIS and MCFs, the
    # receiver's DCS (with the X bit of the party that did not call) and post-page messages
    names = {who: [(e.kind, frame_name(e.code)) for e in s.events if e.kind in ("phase_b", "phase_d")]
             for who, s in (("tx", tx), ("rx", rx))}
    assert names["tx"] == [("phase_b", "DIS")] + [("phase_d", "MCF")] * 3
    assert names["rx"] == [("phase_b", "DCS"), ("phase_d", "MPS"), ("phase_d", "MPS"), ("phase_d", "EOP")]


def test_page_header_is_printed_above_the_page(docs, tmp_path):
    from PIL import Image
    tx = FaxSession(True, station_id="HDR", header="ACME Corp  page header")
    rx = FaxSession(False)
    out = str(tmp_path / "rx.tif")
    tx.set_tx_file(docs[1])
    rx.set_rx_file(out)
    r = run_pair(tx, rx)
    tx.close(), rx.close()
    assert r.rx.success
    with Image.open(docs[1]) as a, Image.open(out) as b:
        assert a.size[0] == b.size[0]
        assert a.convert("L").crop((0, 0, a.size[0], 40)).getextrema()[0] == 255
        head = b.convert("L").crop((0, 0, b.size[0], 40))
        assert head.getextrema()[0] == 0, "no header ink at the top of the received page"

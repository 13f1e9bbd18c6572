"""Interoperability with a T.30 implementation that is not spandsp: HylaFAX.

HylaFAX runs its own T.30 engine (faxgetty receives, faxq/faxsend send) over a Class 1 modem;
the modem is iaxmodem, a software Class 1 modem that speaks IAX2 for its audio. iaxmodem does
its modulation (V.21, V.27ter, V.29, V.17) with a copy of spandsp 0.0.5 of 2008 built into it,
but the fax protocol, DIS/DCS, training check, ECM blocks, post-page messages, is HylaFAX's.
The far end of the line is faxd's spandsp FaxSession, carried over IAX2 by the test's own
endpoint (iax2.py), in real time. See docs/interop.md.

Each test runs one real-time fax of two pages at 14,400 bit/s (about 40 s), one in
each direction; HylaFAX (iaxmodem, faxgetty, faxq, hfaxd) is set up once for both (about 8 s,
faxgetty's modem probe). HylaFAX's private directory has no ``_`` in its path (see
hylafax.private_root: with one, faxsend was sent to a modem that does not exist and the job
never dialled, about one run in five).
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from faxd.spandsp import FaxSession
from faxd.spandsp.testdoc import make_text_tiff

from .hylafax import BUSY_OUT, HylaFax
from .iax2 import Iax2FaxEndpoint

PAGES = 2
T30_OK = 0
CALL_TIME = 180          # seconds: a 2-page call takes 60-65 s of line time
DIAL_WAIT = 60           # seconds from sendfax to HylaFAX's call: faxq and faxsend take about 7


@pytest.fixture(scope="module")
def line(request):
    """faxd's end of the line (an IAX2 endpoint) and HylaFAX with iaxmodem at the other: the
    modem, faxgetty (receives), faxq and hfaxd (send) are started once for the module.

    With FAXD_INTEROP_KEEP=<dir>, a module with a failed test leaves a copy of HylaFAX's
    directory (spool and its logs, syslog.log, the daemons' output) in <dir>."""
    failed_before = request.session.testsfailed
    ep = Iax2FaxEndpoint()
    hf = HylaFax(ep.address[1])
    try:
        hf.start_modem()
        hf.start_faxq()
        hf.start_faxgetty()
        yield ep, hf
    finally:
        hf.stop()
        ep.close()
        keep = os.environ.get("FAXD_INTEROP_KEEP")
        if keep and request.session.testsfailed > failed_before:
            dest = os.path.join(keep, os.path.basename(hf.root))
            shutil.copytree(hf.root, dest, symlinks=True, ignore_dangling_symlinks=True,
                            ignore=shutil.ignore_patterns("log.sock", "ttyIAX", "FIFO*"))
            print(f"HylaFAX's directory kept in {dest}")
        shutil.rmtree(hf.root, ignore_errors=True)


def document(hf: HylaFax) -> str:
    # Two A4 pages of 20 lines of text (a letter's) at 204x98. Pages full of text (45 lines,
    # about 37 kB of T.4 2D each) took 21 s apiece at 14,400 bit/s for nothing more tested.
    return make_text_tiff(f"{hf.root}/doc.tif", PAGES, resolution="normal", lines=20)


def tiff_pages(path: str) -> int:
    out = subprocess.run(["tiffinfo", path], capture_output=True, text=True, check=True).stdout
    return out.count("TIFF Directory at offset")


def xferfaxlog(hf: HylaFax, kind: str, timeout: float = 20.0) -> list[str]:
    """HylaFAX's transfer log record for a RECV or SEND, as its tab-separated fields."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(f"{hf.spool}/log/xferfaxlog") as f:
                for line in f:
                    fields = line.rstrip("\n").split("\t")
                    if len(fields) > 2 and fields[1] == kind:
                        return fields
        except FileNotFoundError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"no {kind} in HylaFAX's xferfaxlog\n{hf.logs()[-6000:]}")


def call_hylafax(ep: Iax2FaxEndpoint, hf: HylaFax, session: FaxSession) -> None:
    """Call HylaFAX's modem and run ``session`` on the call. While iaxmodem's busy-out (after
    faxgetty's modem reset) refuses the call with REJECT "Busy", call again: polled, not slept."""
    end = time.monotonic() + BUSY_OUT + 10
    refused = 0
    while True:
        ep.call(("127.0.0.1", hf.iax_port), "2025550199", session, timeout=CALL_TIME)
        if ep.answered or ep.cause != "Busy" or time.monotonic() > end:
            print(f"calls refused as busy before this one: {refused}")
            return
        refused += 1
        ep.callno += 1                          # the next attempt is a new call
        time.sleep(0.5)


def test_hylafax_receives_every_page_faxd_sends(line):
    ep, hf = line
    doc = document(hf)
    hf.wait_ready()

    session = FaxSession(calling=True, station_id="FAXD SENDER")
    session.set_tx_file(doc)
    try:
        call_hylafax(ep, hf, session)
        st = session.stats()
    finally:
        session.close()
    context = f"{ep.log.names()}\n{hf.logs()[-6000:]}"

    # faxd's side: phase E with success, every page confirmed by HylaFAX's MCF.
    assert st.completion_code == T30_OK, f"{st}\n{context}"
    assert st.pages_tx == PAGES, context
    assert st.remote_station_id == "HYLAFAX INTEROP"
    assert st.bit_rate == 14400 and st.ecm

    # HylaFAX's side: its transfer log and the TIFF it wrote agree.
    rec = xferfaxlog(hf, "RECV")
    # date, RECV, commid, modem, file, "", fax, local number, TSI, params, npages, time, time, reason
    assert rec[8] == '"FAXD SENDER"', rec
    assert rec[10] == str(PAGES), rec
    assert rec[13] == '""', f"HylaFAX reported a problem: {rec[13]}\n{context}"
    received = hf.received()
    assert len(received) == 1, context
    assert tiff_pages(received[0]) == PAGES


def test_faxd_receives_every_page_hylafax_sends(line, tmp_path):
    """HylaFAX -> faxd: sendfax queues the job with hfaxd, faxq starts faxsend, which dials
    through iaxmodem; the IAX2 call reaches faxd's endpoint and a receiving FaxSession takes it."""
    ep, hf = line
    doc = document(hf)
    hf.wait_ready()
    job = hf.sendfax("2025550100", doc)
    assert re.search(r"request id is (\d+)", job), job

    rx_path = str(tmp_path / "rx.tif")
    session = FaxSession(calling=False, station_id="FAXD RECEIVER")
    session.set_rx_file(rx_path)
    try:
        # faxq starts faxsend at once, which resets the modem and dials within seconds; the
        # call's own time (two pages, about 65 s) is counted from its arrival.
        ies = ep.wait_call(session, timeout=DIAL_WAIT, call_time=CALL_TIME)
        st = session.stats()
        pages_done = session.pages_done
    except TimeoutError as e:
        pytest.fail(f"{e}\n{hf.report()}")
    finally:
        session.close()
    context = f"{st}\n{ep.log.names()}\n{hf.report()}"

    # faxd's side: phase E with success, one phase D per page, every page in the TIFF.
    assert ies[0x01] == b"2025550100", context   # the number sendfax dialled reached us
    assert st.completion_code == T30_OK, context
    assert st.pages_rx == PAGES and pages_done == PAGES, context
    assert st.remote_station_id == "HYLAFAX INTEROP", context
    assert st.bit_rate == 14400 and st.ecm, context
    assert tiff_pages(rx_path) == PAGES

    # HylaFAX's side: the job's SEND record says every page went, to us, with no error.
    rec = xferfaxlog(hf, "SEND")
    # date, SEND, commid, modem, jobid, jobtag, sender, number, CSI, params, npages, time, time, reason
    assert rec[7] == '"2025550100"', rec
    assert rec[8] == '"FAXD RECEIVER"', rec
    assert rec[10] == str(PAGES), f"{rec}\n{context}"
    assert rec[13] == '""', f"HylaFAX reported a problem: {rec[13]}\n{context}"

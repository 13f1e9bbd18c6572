"""The emulator's traffic for each recorded scenario equals the recording of the real Asterisk.

The recorded client's actions are replayed against the emulator (with our own 3-page
document); both server streams are normalised (Uniqueids, channel numbers and paths become
their order of first appearance; times, addresses and session ids are dropped) and must be
equal message for message, header for header, value for value. The fax figures in them
(pages, rates, resolutions, station ids) come from real T.30 sessions run by the emulator.
"""
from __future__ import annotations

import difflib

import pytest

from tests.integration.asterisk.traffic import (RECORDED_RX, RECORDED_TX, Normalizer, client_actions, recorded,
                                                run_client, split_originate_response)

SCENARIOS = ["sendfax-local-success", "sendfax-pjsip-t38-success", "sendfax-hangup-early",
             "sendfax-pjsip-hangup-early", "sendfax-no-fax-answer", "originate-no-extension",
             "originate-pjsip-no-extension", "login-failure", "sendfax-local-getvar"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_emulator_speaks_like_the_recording(scenario, emulator, fax_docs):
    banner, got = run_client(emulator.port, client_actions(scenario), fax_docs + "/")
    rec_banner, rec = recorded(scenario)
    assert banner == rec_banner
    want_n = Normalizer(RECORDED_TX, RECORDED_RX)
    got_n = Normalizer(fax_docs + "/", emulator.rx_dir + "/")
    want, want_orig = split_originate_response(rec)
    have, have_orig = split_originate_response(got)
    a = [repr(want_n.message(m)) for m in want] + [repr(want_n.message(m)) for m in want_orig]
    b = [repr(got_n.message(m)) for m in have] + [repr(got_n.message(m)) for m in have_orig]
    diff = "\n".join(difflib.unified_diff(a, b, "recording", "emulator", lineterm="", n=1))
    assert a == b, diff
    # OriginateResponse: after our channel is up (or failed), before res_fax's first FAXStatus.
    for msgs in (rec, got):
        names = [m.event for m in msgs]
        if "OriginateResponse" in names and "FAXStatus" in names:
            assert names.index("OriginateResponse") < names.index("FAXStatus")


def test_emulator_received_file_is_a_real_fax(emulator, fax_docs):
    """The success scenario really moved the pages: the far end's TIFF has them."""
    from faxd.spandsp import probe_tiff
    run_client(emulator.port, client_actions("sendfax-local-success"), fax_docs + "/")
    import glob
    (path,) = glob.glob(emulator.rx_dir + "/rx-*.tif")
    assert probe_tiff(path).pages == 3


def test_security_events_for_failed_logins(emulator):
    """A watching session sees InvalidPassword / InvalidAccountID, as recorded."""
    import socket

    import gevent

    from faxd.switch.asterisk.ami import AMIConnection, AuthFailed
    events = []
    watcher = AMIConnection.connect("127.0.0.1", emulator.port, "faxd", "faxd", on_event=events.append)
    try:
        for user, secret in (("faxd", "wrong-secret"), ("nosuchuser", "faxd")):
            with pytest.raises(AuthFailed):
                AMIConnection.connect("127.0.0.1", emulator.port, user, secret)
        with gevent.Timeout(5):
            while len([e for e in events if e.event.startswith("Invalid")]) < 2:
                gevent.sleep(0.01)
    finally:
        watcher.close()
    _, rec = recorded("login-failure-security-events")
    want = [(m.event, [k for k, _ in m.headers]) for m in rec if m.event.startswith("Invalid")]
    have = [(m.event, [k for k, _ in m.headers]) for m in events if m.event.startswith("Invalid")]
    assert have == want
    assert [m.get("AccountID") for m in events if m.event.startswith("Invalid")] == ["faxd", "nosuchuser"]
    # A refused login closes the socket, as Asterisk does.
    s = socket.create_connection(("127.0.0.1", emulator.port))
    s.sendall(b"Action: Login\r\nUsername: faxd\r\nSecret: nope\r\n\r\n")
    data = b""
    with gevent.Timeout(5):
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.endswith(b"Message: Authentication failed\r\n\r\n")

"""Derive the AMI traffic of an on-net fax through a Local loop (no real Asterisk runs here).

faxd's AsteriskBackend sends a 3-page fax to one of its own numbers with
``FAXD_ASTERISK_DIAL=Local/{number}@from-internal``, where ``from-internal`` does
``Goto(faxd-inbound,${EXTEN},1)``: the ``;2`` half of the Local pair enters faxd-inbound with
the outbound call's Linkedid, faxd answers it and receives on it while ``;1`` runs SendFAX.
The emulator plays Asterisk as its source and documentation describe (see
tests/data/asterisk/README.md); the result is stored as ``derived-onnet-local-loop.*``.

``python -m tests.integration.asterisk.derive_onnet`` writes the files again.
"""
from __future__ import annotations

import os
import tempfile

import gevent

DERIVED = "derived-onnet-local-loop"
TX_DIR = "/var/lib/astfax/tx/"
SPOOL = "/var/lib/faxd/spool/"
CALL_ID = "5e0c4d2a-7f1b-4c3e-9a55-0d1e2f3a4b5c"
OWN = "+12025550100"


def derive(work: str) -> tuple[bytes, bytes]:
    """Run the on-net fax in ``work``; return (server stream, client stream), paths made generic."""
    from faxd.config import Config
    from faxd.spandsp.testdoc import make_text_tiff
    from faxd.switch.asterisk import AsteriskBackend
    from faxd.switch.base import FaxOptions, OriginateRequest
    from faxd.testing.ami_emulator import AMIEmulator

    tx_dir, spool = os.path.join(work, "tx") + "/", os.path.join(work, "spool") + "/"
    os.makedirs(tx_dir, exist_ok=True)
    os.makedirs(spool, exist_ok=True)
    make_text_tiff(tx_dir + "fax3p.tif", 3)
    emu = AMIEmulator(rx_dir=os.path.join(work, "rx")).start()
    emu.goto_contexts.add("from-internal")
    config = Config.load(env={}, home=os.path.join(work, "home"), ami_url=(emu.url(),),
                         asterisk_dial="Local/{number}@from-internal", spool_dir=spool)
    backend = AsteriskBackend(config, connect_timeout=2, backoff=(0.05, 0.2), progress_interval=0)
    done = []

    def drain(call):
        with gevent.Timeout(60):
            while not done.append(call.events.get()) and type(done[-1]).__name__ != "Hangup":
                pass

    def receive(call):
        call.answer()
        call.receive_fax(spool + f"rx-{call.call_id}.tif", FaxOptions(station_id="+1 202 555 0100"))
        drain(call)
    backend.on_incoming_call(receive)
    backend.start()
    try:
        assert backend.wait_connected(5)
        session = next(s for s in emu.sessions if s.logged_in)
        call = backend.originate(OriginateRequest(
            call_id=CALL_ID, job_id="job-1", to_number=OWN, from_number=OWN, from_name="Sales",
            tiff_path=tx_dir + "fax3p.tif", options=FaxOptions(station_id="+1 202 555 0100", header="Sales"),
            ring_timeout=30))
        drain(call)
        with gevent.Timeout(30):
            while sum(type(e).__name__ == "Hangup" for e in done) < 2:
                gevent.sleep(0.05)
        gevent.sleep(0.2)
        sent, received = bytes(session.sent), bytes(session.received)
    finally:
        backend.stop()
        emu.stop()

    def generic(data: bytes) -> bytes:
        # The emulator's port is a free one; Asterisk's is 5038 (it names faxd's inbound call id).
        data = data.replace(f"-127.0.0.1-{emu.port}-".encode(), b"-127.0.0.1-5038-")
        data = data.replace(f"/127.0.0.1/{emu.port}\r".encode(), b"/127.0.0.1/5038\r")
        return data.replace(tx_dir.encode(), TX_DIR.encode()).replace(spool.encode(), SPOOL.encode())
    return generic(sent), generic(received)


def main() -> None:
    from faxd.green import patch
    patch()
    here = os.path.join(os.path.dirname(__file__), "..", "..", "data", "asterisk")
    with tempfile.TemporaryDirectory() as work:
        sent, received = derive(work)
    for suffix, data in ((".ami.txt", sent), (".client-sent.txt", received)):
        with open(os.path.join(here, DERIVED + suffix), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

"""Two FreeSWITCH hosts that share nothing with faxd but HTTP, inbound and outbound at once,
one of them crashing mid-run: no received fax is lost.

Each emulated FreeSWITCH fetches the outbound TIFF from faxd's spool server (``http_get``),
sends the fax to a DID that loops back to faxd's outbound-socket listener as an inbound call,
receives it with ``rxfax`` into its own directory and ``http_put``s it back to faxd. faxd's
spool directory is never the FreeSWITCH one. Host B crashes while a fax is on its line and
comes back empty; the jobs it lost are dialled again (through either host).
"""
from __future__ import annotations

import os
import socket
import time

import gevent

from faxd.testing.esl.emulator import ESLEmulator
from tests.integration.engine.harness import converted_fax, enqueue_ready, fast, running, wait_final

DIDS = [f"+1202555{3000 + i}" for i in range(12)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _in_t30(emu: ESLEmulator) -> bool:
    """A fax is on this host's line: an inbound leg answered by faxd, its rxfax not over."""
    return any(c.flow == "socket" and c.answered and c.fax.get("b") is None and not c.done.is_set()
               for c in list(emu.calls))


def _received_calls(emu: ESLEmulator) -> set[str]:
    """The calls this FreeSWITCH received completely (its rxfax result was a success)."""
    return {c.b_uuid for c in emu.calls if c.flow == "socket" and c.fax.get("b") is not None
            and (c.fax["b"].result or {}).get("fax-success") == "1"}


def _received_by(emu: ESLEmulator) -> int:
    return len(_received_calls(emu))


def test_two_hosts_inbound_on_both_one_crashes_no_received_fax_lost(config, store, tmp_path):
    listen = ("127.0.0.1", _free_port())
    # Each host's own disk: rxfax writes /faxd-rx/... there, which faxd cannot see.
    disks = {name: tmp_path / f"disk-{name}" for name in ("a", "b")}
    for disk in disks.values():
        (disk / "faxd-rx").mkdir(parents=True)
    routes = {did: "socket" for did in DIDS}
    a, b = (ESLEmulator(routes=routes, socket_target=listen, spool=str(tmp_path / f"fs-{name}"),
                        hostname=f"fs-{name}", root=str(disks[name])).start() for name in ("a", "b"))
    acct = store.create_account("two switches")
    store.create_faxbox(acct.account_id, {"name": "desk", "numbers": DIDS}, "fax.test")
    cfg = fast(config, switch="freeswitch", esl_url=(a.url, b.url), esl_listen=listen,
               spool_http_listen=("127.0.0.1", 0), freeswitch_rx_dir="/faxd-rx", max_outbound=6)
    fax = converted_fax(cfg)
    crashed_with_fax_on_line = False
    try:
        with running(cfg) as daemon:
            uploads = daemon.switch.spool_server.uploads
            ids = [enqueue_ready(store, acct.account_id, did, fax, retries=3) for did in DIDS]
            # Crash B while it is receiving, once both hosts have received something.
            with gevent.Timeout(60, AssertionError("no fax on host B's line to crash it under")):
                while not (a.uploads and b.uploads and _in_t30(b)):
                    gevent.sleep(0.001)
            crashed_with_fax_on_line = True
            before = b.uploads
            b.crash()
            gevent.sleep(0.5)
            b.restart()                    # FreeSWITCH comes back empty: the lost calls are over
            jobs = wait_final(store, acct.account_id, ids, timeout=120)
            with gevent.Timeout(30, False):
                while True:
                    with store.transaction() as cur:
                        cur.execute("SELECT i.id, i.status, i.to_number, i.rx_result, i.call_id, "
                                    "(SELECT count(*) FROM documents d WHERE d.inbox_id = i.id "
                                    " AND d.content_type = 'image/tiff') AS tiffs "
                                    "FROM inbox i WHERE i.account_id = %s", (acct.account_id,))
                        rows = cur.fetchall()
                    if sum(r["status"] == "received" for r in rows) >= _received_by(a) + _received_by(b):
                        break
                    gevent.sleep(0.1)
    finally:
        a.stop()
        b.stop()

    received = [r for r in rows if r["status"] == "received"]
    fs_received = _received_by(a) + _received_by(b)
    # Every fax a FreeSWITCH received is in the inbox, with its TIFF, and arrived over HTTP.
    missing = (_received_calls(a) | _received_calls(b)) - {r["call_id"] for r in received}
    assert not missing, [(r["call_id"], r["status"], r["rx_result"].get("error_message"), r["rx_result"].get("pages_sent"))
                         for r in rows if r["call_id"] in missing]
    assert len(received) == fs_received == a.uploads + b.uploads == uploads.received, \
        (len(received), _received_by(a), _received_by(b), a.uploads, b.uploads, uploads.received)
    assert all(r["tiffs"] == 1 and r["rx_result"]["pages_sent"] >= 1 for r in received), received
    # Both hosts carried inbound calls, and the crash hit one on the line.
    assert crashed_with_fax_on_line and before >= 1 and a.uploads >= 1
    # Every sent fax reached its faxbox: a completed job has its reception.
    completed = [j for j in jobs.values() if j["status"] == "completed"]
    assert len(completed) == len(DIDS), {j["id"]: (j["status"], j["tx_result"].get("error_message")) for j in jobs.values()}
    assert {j["to_number"] for j in completed} <= {r["to_number"] for r in received}
    # faxd's spool keeps nothing behind; the FreeSWITCH side kept its own copies.
    spool = cfg.spool_path
    assert not [f for f in os.listdir(spool) if f.startswith("rx-")], os.listdir(spool)
    for name, emu in (("a", a), ("b", b)):
        kept = [f for f in os.listdir(disks[name] / "faxd-rx") if f.startswith("faxd-rx-")]
        assert len(kept) >= _received_by(emu), (name, kept)
    attempts = sum(j["attempts"] for j in jobs.values())
    print(f"\nremote hosts: {len(received)} received over HTTP (host A {a.uploads}, host B {b.uploads}, "
          f"{before} before its crash); {len(DIDS)} faxes sent in {attempts} attempts")


def test_a_received_fax_left_on_a_host_is_fetched_once_it_is_back(emulator, backend, tmp_path, docs):
    """The call's own connection is gone before the upload (FreeSWITCH crashed right after rxfax):
    the file is still on that host's disk, and faxd asks the hosts for it until one has it."""
    disk = tmp_path / "disk"
    (disk / "faxd-rx").mkdir(parents=True)
    emu = emulator(root=str(disk))
    b = backend(emu, spool_http_listen=("127.0.0.1", 0), reconcile_timeout=3.0)
    assert b.wait_connected(10)
    with open(docs["1p"], "rb") as f:
        tiff = f.read()
    (disk / "faxd-rx" / "faxd-rx-lost.tif").write_bytes(tiff)     # what rxfax left there
    dest = tmp_path / "spool" / "rx-lost.tif"
    spool = b.spool_server
    token, url = spool.uploads.expect(str(dest), spool.base_url)
    emu.crash()
    back = gevent.spawn_later(0.3, emu.restart)
    started = time.monotonic()
    assert b.upload_from_any_node(url, "/faxd-rx/faxd-rx-lost.tif")
    back.join()
    assert dest.read_bytes() == tiff and emu.uploads == 1
    assert time.monotonic() - started < 10
    # A file no host has: refused by each (-ERR 0), not waited for beyond the reconcile timeout.
    started = time.monotonic()
    token, url = spool.uploads.expect(str(tmp_path / "spool" / "rx-none.tif"), spool.base_url)
    assert not b.upload_from_any_node(url, "/faxd-rx/faxd-rx-none.tif")
    assert 2.5 < time.monotonic() - started < 6

"""faxd's real composition (Daemon, job engine, PostgreSQL) with FAXD_SWITCH=asterisk against the emulator."""
from __future__ import annotations

import gevent
import requests

from faxd.testing.ami_emulator import FarEnd
from tests.integration.engine.harness import enqueue, fast, running, wait_final

REMOTE = "+12025550199"


def asterisk(config, emulator, tmp_path):
    # originate_timeout: the stage deadline must not be what a loaded test machine trips over.
    return fast(config, originate_timeout=30).replace(
        switch="asterisk", ami_url=(emulator.url(),), asterisk_dial="Local/{number}@fax",
        spool_dir=str(tmp_path / "spool"))


def test_job_sent_through_asterisk(config, store, emulator, tmp_path):
    emulator.far_ends[REMOTE] = FarEnd("fax", station_id="REMOTE-FAX")
    acct = store.create_account("acme")
    with running(asterisk(config, emulator, tmp_path)):
        job_id = enqueue(store, acct.account_id, REMOTE, pages=2)
        job = wait_final(store, acct.account_id, [job_id], timeout=60)[job_id]
    assert job["status"] == "completed", job["tx_result"]
    tx = job["tx_result"]
    assert tx["pages_sent"] == 2 == job["page_count"]
    assert (tx["fax_speed"], tx["fax_error_correction"], tx["fax_receiver_id"]) == (14400, True, "REMOTE-FAX")
    assert (tx["result_code"], tx["hangup_cause"], tx["t38_used"]) == (0, "NORMAL_CLEARING", False)
    (orig,) = [a for a in emulator.actions if a.get("Action") == "Originate"]
    assert orig.get("Channel") == f"Local/{REMOTE}@fax"


def test_unallocated_number_fails_without_retry(config, store, emulator, tmp_path):
    acct = store.create_account("acme")
    c = asterisk(config, emulator, tmp_path).replace(asterisk_dial="PJSIP/{number}@to-b")
    with running(c):
        job_id = enqueue(store, acct.account_id, "+12025550142", retries=3)
        job = wait_final(store, acct.account_id, [job_id], timeout=60)[job_id]
    assert job["status"] == "failed"
    assert job["attempts"] == 1
    assert job["tx_result"]["hangup_cause"] == "UNALLOCATED_NUMBER"


def test_fax_received_through_asterisk_lands_in_the_inbox(config, store, emulator, tmp_path):
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with running(asterisk(config, emulator, tmp_path)) as d:
        with gevent.Timeout(10):
            while not any(s.logged_in for s in emulator.sessions):
                gevent.sleep(0.02)
        run = emulator.incoming_call("+12025550100", station_id="SENDER-9").done.get(timeout=30)
        assert run is not None and run.status == "SUCCESS"
        with gevent.Timeout(20):
            while True:
                with store.transaction() as cur:
                    cur.execute("SELECT id FROM inbox WHERE account_id = %s", (boot.account_id,))
                    rows = cur.fetchall()
                if rows:
                    break
                gevent.sleep(0.1)
        # An unknown number is refused, and counted where operators look.
        refused = emulator.incoming_call("+19995550000").done.get(timeout=30)
        assert refused is None
        assert d.router.rejected_unknown == 1
        health = requests.get(d.base_url + "/health", timeout=10).json()
        assert health["counters"]["inbound_rejected_unknown_number"] == 1
    fax = store.get_inbox_fax(boot.account_id, rows[0]["id"])
    rx = fax["rx_result"]
    assert rx["success"] is True and rx["pages_sent"] == 3
    assert rx["pages_total"] == rx["transferred_pages"] == fax["page_count"] == 3
    assert rx["fax_receiver_id"] == "SENDER-9"
    hangups = [a for a in emulator.actions if a.get("Action") == "Hangup"]
    assert hangups and hangups[-1].get("Cause") in ("1", "21")


def test_incoming_progress_is_live(config, store, emulator, tmp_path):
    """/faxes/incoming shows the pages while they arrive (live pages from FAXSession)."""
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    emulator.step_pages = True
    c = asterisk(config, emulator, tmp_path).replace(asterisk_progress_interval=0.05)

    def pages_received():
        with store.transaction() as cur:
            cur.execute("SELECT progress FROM incoming_calls WHERE account_id = %s", (boot.account_id,))
            rows = cur.fetchall()
        return [(r["progress"] or {}).get("pages_received") for r in rows]

    with running(c):
        with gevent.Timeout(10):
            while not any(s.logged_in for s in emulator.sessions):
                gevent.sleep(0.02)
        inc = emulator.incoming_call("+12025550100")
        for n in (1, 2, 3):
            with gevent.Timeout(20):
                while n not in pages_received():
                    gevent.sleep(0.05)
            emulator.release_page()        # T.30 was held after page n
        assert inc.done.get(timeout=30).pages == 3

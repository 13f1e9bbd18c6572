"""faxd's whole daemon on FAXD_SWITCH=freeswitch against the ESL emulator: jobs end in the
right state with tx_result from the real T.30 session, and a fax to a faxbox DID lands in its inbox."""

import gevent

from faxd.testing.esl.emulator import ESLEmulator
from tests.integration.engine.harness import enqueue, fast, running, wait_final
from tests.integration.foundation.daemon import free_port

INBOX = "+12025550100"        # the bootstrap faxbox's number: FreeSWITCH hands it to faxd's socket
ROUTES = {INBOX: "socket", "+12025550199": "receive", "+12025550111": "busy",
          "+12025550122": "hangup_after:1", "+12025550144": "no_fax"}


def test_jobs_and_inbox_through_freeswitch(config, store, tmp_path):
    listen = ("127.0.0.1", free_port())
    emu = ESLEmulator(routes=ROUTES, socket_target=listen, spool=str(tmp_path / "fs")).start()
    boot = store.bootstrap(INBOX, "fax.localhost", "faxd")
    cfg = fast(config, switch="freeswitch", esl_url=(emu.url,), esl_listen=listen)
    try:
        with running(cfg):
            ids = {number: enqueue(store, boot.account_id, number, pages=2 if route.startswith("hangup") else 1,
                                   fax_identity_number="+15550001")
                   for number, route in ROUTES.items()}
            jobs = wait_final(store, boot.account_id, ids.values(), timeout=120)
            with gevent.Timeout(30):
                while True:
                    with store.transaction() as cur:
                        cur.execute("SELECT i.id, i.status, i.to_number, i.rx_result, i.page_count, "
                                    "(SELECT count(*) FROM documents d WHERE d.inbox_id = i.id) AS documents "
                                    "FROM inbox i WHERE i.account_id = %s", (boot.account_id,))
                        rows = cur.fetchall()
                    if rows:
                        break
                    gevent.sleep(0.1)
    finally:
        emu.stop()
    job = {number: jobs[ids[number]] for number in ROUTES}

    sent = job["+12025550199"]
    assert sent["status"] == "completed", sent["tx_result"]
    tx = sent["tx_result"]
    assert (tx["success"], tx["pages_sent"], tx["fax_speed"], tx["fax_error_correction"]) == (True, 1, 14400, True)
    assert tx["fax_receiver_id"] == "FS-RECEIVER" and tx["result_code"] == 0 and tx["error_message"] == ""

    busy = job["+12025550111"]["tx_result"]
    assert job["+12025550111"]["status"] == "failed"
    assert busy["hangup_cause"] == "USER_BUSY" and busy["success"] is False and "USER_BUSY" in busy["error_message"]

    dropped = job["+12025550122"]["tx_result"]
    assert job["+12025550122"]["status"] == "failed"
    assert (dropped["result_code"], dropped["pages_sent"]) == (49, 1), (dropped["error_message"], dropped["hangup_cause"])
    assert dropped["error_message"] == "The call dropped prematurely"

    silent = job["+12025550144"]["tx_result"]
    assert job["+12025550144"]["status"] == "failed" and silent["result_code"] == 2, (silent["error_message"], silent["hangup_cause"])

    to_inbox = job[INBOX]
    assert to_inbox["status"] == "completed", to_inbox["tx_result"]
    (fax,) = rows
    assert (fax["status"], fax["to_number"], fax["page_count"]) == ("received", INBOX, 1)
    assert fax["rx_result"]["success"] is True and fax["rx_result"]["pages_sent"] == 1
    assert fax["rx_result"]["pages_total"] == fax["rx_result"]["transferred_pages"] == 1
    assert fax["rx_result"]["fax_receiver_id"] == "+15550001"        # the sender's TSI
    assert fax["documents"] >= 1                                       # the received TIFF was kept


def test_a_dropped_event_socket_loses_no_job(config, store, tmp_path):
    emu = ESLEmulator(routes={"*": "drop_esl:1"}, spool=str(tmp_path / "fs")).start()
    acct = store.create_account("acme")
    cfg = fast(config, switch="freeswitch", esl_url=(emu.url,), esl_listen=("127.0.0.1", free_port()))
    try:
        with running(cfg):
            job_id = enqueue(store, acct.account_id, "+12025550199", pages=2)
            job = wait_final(store, acct.account_id, [job_id], timeout=60)[job_id]
    finally:
        emu.stop()
    assert emu.connections == 2                       # the connection really dropped and came back
    assert job["status"] == "completed", job["tx_result"]
    assert job["tx_result"]["pages_sent"] == 2 and job["attempts"] == 1

"""On-net faxes on FreeSWITCH: a job from one faxbox to another's number goes out through the
loopback endpoint and comes back into faxd's own outbound-socket listener as the second leg
of the same call, so faxd sends on one leg and receives on the other."""
import gevent
import pytest

from faxd.testing.esl.emulator import ESLEmulator
from tests.integration.engine.harness import TEXT, fast, job_doc, running, wait_final
from tests.integration.foundation.daemon import free_port


@pytest.mark.parametrize("t38", [False, True], ids=["audio", "t38"])
def test_faxbox_to_faxbox_through_freeswitch(config, store, tmp_path, t38):
    listen = ("127.0.0.1", free_port())
    emu = ESLEmulator(routes={"+12025550111": "socket"}, socket_target=listen, spool=str(tmp_path / "fs")).start()
    acct = store.create_account("acme")
    media = {"media": {"fax_option": True}} if t38 else {}
    sender = store.create_faxbox(acct.account_id, {"name": "Sales", "caller_id": "+12025550100",
                                                   "numbers": ["+12025550100"], **media}, "fax.test")
    target = store.create_faxbox(acct.account_id, {"name": "Billing", "caller_id": "+12025550111",
                                                   "numbers": ["+12025550111"], **media}, "fax.test")
    cfg = fast(config, switch="freeswitch", esl_url=(emu.url,), esl_listen=listen)
    try:
        with running(cfg):
            docs = [(TEXT, "text/plain", f"page{i}.txt") for i in (1, 2, 3)]
            job_id = store.enqueue_job(acct.account_id, job_doc("+12025550111"), documents=docs,
                                       faxbox_id=sender["id"])["id"]
            job = wait_final(store, acct.account_id, [job_id], timeout=90)[job_id]
            with gevent.Timeout(30):
                while True:
                    with store.transaction() as cur:
                        cur.execute("SELECT id FROM inbox WHERE faxbox_id = %s", (target["id"],))
                        rows = cur.fetchall()
                    if rows:
                        break
                    gevent.sleep(0.1)
    finally:
        emu.stop()
    assert job["status"] == "completed", job["tx_result"]
    tx = job["tx_result"]
    assert tx["pages_sent"] == job["page_count"] == 3
    fax = store.get_inbox_fax(acct.account_id, rows[0]["id"])
    rx = fax["rx_result"]
    assert rx["success"] is True and rx["pages_sent"] == rx["pages_total"] == fax["page_count"] == 3
    assert tx["t38_used"] is t38 and rx["t38_used"] is t38
    # Both legs are one FreeSWITCH call: the receiving leg is the sending leg's other half.
    (call,) = emu.calls
    assert call.flow == "socket" and call.a_uuid != call.b_uuid

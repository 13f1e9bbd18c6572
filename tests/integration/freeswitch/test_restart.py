"""FreeSWITCH killed in the middle of a fax (not between calls), with faxd's real composition.

The ESL emulator's ``crash:N`` route is the death of the FreeSWITCH process right after page
N's result: every connection is cut, new ones are refused, and the call is gone without
another event; ``restart()`` is a new FreeSWITCH on the same address with no calls.
"""
import gevent

from faxd.testing.esl.emulator import ESLEmulator
from tests.integration.engine.harness import enqueue, fast, running, wait_final
from tests.integration.foundation.daemon import free_port

REMOTE = "+12025550199"


def _run(config, store, tmp_path, route: str):
    emu = ESLEmulator(routes={"*": route}, spool=str(tmp_path / "fs")).start()
    acct = store.create_account("acme")
    cfg = fast(config, switch="freeswitch", esl_url=(emu.url,), esl_listen=("127.0.0.1", free_port()))
    try:
        with running(cfg):
            job_id = enqueue(store, acct.account_id, REMOTE, pages=3, retries=3)
            with gevent.Timeout(60):
                while emu.accepting:
                    gevent.sleep(0.02)
            emu.routes["*"] = "receive"           # the far end answers normally from now on
            gevent.sleep(1.0)                     # FreeSWITCH is down a while
            emu.restart()
            job = wait_final(store, acct.account_id, [job_id], timeout=90)[job_id]
            gevent.sleep(2)                       # a retry would have been dialled by now
    finally:
        emu.stop()
    return emu, job


def test_killed_during_page_2_of_3_is_retried_after_the_restart(config, store, tmp_path):
    emu, job = _run(config, store, tmp_path, "crash:1")
    assert job["status"] == "completed", job["tx_result"]
    assert job["attempts"] == 2 and len(emu.calls) == 2
    first, second = job["attempt_history"]
    lost = first["tx_result"]
    assert first["outcome"] == "failed" and (lost["success"], lost["hangup_cause"]) == (False, "SWITCH_LOST")
    assert second["outcome"] == "completed" and second["tx_result"]["pages_sent"] == 3
    assert job["tx_result"]["pages_sent"] == job["page_count"] == 3


def test_killed_after_the_last_page_was_confirmed_is_not_sent_again(config, store, tmp_path):
    emu, job = _run(config, store, tmp_path, "crash:3")
    assert job["status"] == "completed", job["tx_result"]
    assert job["attempts"] == 1 and len(emu.calls) == 1
    tx = job["tx_result"]
    assert (tx["success"], tx["pages_sent"], tx["hangup_cause"]) == (True, 3, "SWITCH_LOST")
    assert "confirmed" in tx["result_text"]

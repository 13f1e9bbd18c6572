"""The job engine end to end on the software line: real documents, real T.30, real PostgreSQL."""
import gevent

from faxd.switch.software import TEST_NUMBERS
from tests.integration.engine.harness import (converted_fax, enqueue, enqueue_ready, fast, running, wait_final,
                                              wait_inbox)

REMOTE = "+12025550199"   # not a test number, not a faxbox: the built-in remote fax machine


def _number(behaviour):
    return next(n for n, t in TEST_NUMBERS.items() if t.behaviour == behaviour)


def test_text_document_is_sent_with_real_figures(config, store):
    acct = store.create_account("acme")
    with running(fast(config)):
        job_id = enqueue(store, acct.account_id, REMOTE)
        job = wait_final(store, acct.account_id, [job_id])[job_id]
    assert job["status"] == "completed", job["tx_result"]
    tx = job["tx_result"]
    assert tx["success"] is True and tx["error_message"] == ""
    assert tx["pages_sent"] == 1 == job["page_count"]
    assert tx["fax_speed"] == 14400
    assert tx["fax_error_correction"] is True
    assert tx["fax_receiver_id"] == config.software_remote_station_id
    assert tx["result_code"] == 0 and tx["result_text"] == "OK"
    assert job["attempts"] == 1 and len(job["attempt_history"]) == 1
    assert job["attempt_history"][0]["outcome"] == "completed"
    assert job["delivered"] != "undefined"
    assert store.get_job_document(acct.account_id, job_id, "pdf")["content_type"] == "application/pdf"


def test_fax_to_a_faxbox_number_lands_in_its_inbox(config, store):
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with running(fast(config)):
        job_id = enqueue(store, boot.account_id, "+12025550100", pages=2,
                         fax_identity_number="+15550001")
        job = wait_final(store, boot.account_id, [job_id])[job_id]
        assert job["status"] == "completed", job["tx_result"]
        rows = wait_inbox(store, boot.account_id)
    fax = store.get_inbox_fax(boot.account_id, rows[0]["id"])
    assert fax["rx_result"]["success"] is True
    assert fax["rx_result"]["pages_sent"] == job["tx_result"]["pages_sent"] == job["page_count"]
    # The page counts are in the same fields as tx_result's (pages_total was 0 on receptions).
    rx = fax["rx_result"]
    assert rx["pages_total"] == rx["transferred_pages"] == fax["page_count"] == job["page_count"]
    assert fax["rx_result"]["fax_receiver_id"] == "+15550001"  # the sender's TSI
    tiff = store.get_inbox_document(boot.account_id, fax["id"], "fax_tiff")
    assert tiff is not None and bytes(tiff["data"])[:2] in (b"II", b"MM")
    assert store.get_inbox_document(boot.account_id, fax["id"], "pdf") is not None


def test_busy_number_is_retried_then_fails(config, store):
    acct = store.create_account("acme")
    with running(fast(config)):
        job_id = enqueue(store, acct.account_id, _number("busy"), retries=2)
        job = wait_final(store, acct.account_id, [job_id])[job_id]
    assert job["status"] == "failed"
    assert job["attempts"] == 2
    assert [a["outcome"] for a in job["attempt_history"]] == ["failed", "failed"]
    assert job["tx_result"]["hangup_cause"] == "USER_BUSY"
    assert "busy" in job["tx_result"]["error_message"]


def test_hangup_during_page_two_gives_spandsp_code_49(config, store):
    acct = store.create_account("acme")
    with running(fast(config)):
        job_id = enqueue(store, acct.account_id, _number("hangup_page_2"),
                         pages=3, retries=1)
        job = wait_final(store, acct.account_id, [job_id])[job_id]
    tx = job["tx_result"]
    assert job["status"] == "failed"
    assert tx["result_code"] == 49 and tx["error_message"] == "The call dropped prematurely"
    assert tx["pages_sent"] == 1


def test_unconvertible_document_fails_at_once_without_a_call(config, store):
    acct = store.create_account("acme")
    with running(fast(config)):
        job_id = enqueue(store, acct.account_id, REMOTE, document=b"%PDF-1.4\n garbage", content_type="application/pdf",
                         retries=3)
        job = wait_final(store, acct.account_id, [job_id])[job_id]
    assert job["status"] == "failed"
    assert job["attempts"] == 0
    assert job["tx_result"]["error_message"]


def test_jobs_to_one_number_run_one_at_a_time_and_do_not_hold_up_others(config, store):
    acct = store.create_account("acme")
    with store.transaction() as cur:
        cur.execute("UPDATE accounts SET max_outbound = 20")
    fax = converted_fax(config)
    # Queued first, the jobs to one number are at the head of the queue.
    same = [enqueue_ready(store, acct.account_id, REMOTE, fax) for _ in range(8)]
    others = [enqueue_ready(store, acct.account_id, f"+1202555{1000 + i:04d}", fax) for i in range(8)]
    with running(fast(config)):
        done = wait_final(store, acct.account_id, same + others, timeout=120)
    assert all(j["status"] == "completed" for j in done.values())
    with store.transaction() as cur:
        cur.execute("SELECT started, ended FROM job_attempts WHERE job_id = ANY(%s) ORDER BY started", (same,))
        spans = cur.fetchall()
        cur.execute("SELECT max(started) AS t FROM job_attempts WHERE job_id = ANY(%s)", (others,))
        others_started = cur.fetchone()["t"]
    assert len(spans) == 8
    for a, b in zip(spans, spans[1:]):
        assert a["ended"] <= b["started"], "two calls to one number overlapped"
    # The other numbers' jobs went out while the chain to the busy number was still running.
    assert others_started < spans[-1]["started"], "jobs to other numbers waited for the busy number"


def test_shutdown_returns_unfinished_calls_to_the_queue(config, store):
    acct = store.create_account("acme")
    with running(fast(config, originate_timeout=60, shutdown_grace=0.5)) as d:
        job_id = enqueue(store, acct.account_id, _number("no_answer"), retries=1)
        with gevent.Timeout(30):
            while store.get_job(acct.account_id, job_id)["status"] != "processing":
                gevent.sleep(0.05)
        gevent.sleep(0.2)
    job = store.get_job(acct.account_id, job_id)
    assert job["status"] == "pending"
    assert job["attempts"] == 0 and job["attempt_history"] == []


def test_every_state_change_is_queued_for_webhooks_with_the_change(config, store):
    acct = store.create_account("acme")
    with running(fast(config)):
        job_id = enqueue(store, acct.account_id, REMOTE,
                         notifications={"webhook": {"url": "http://127.0.0.1:9/hook"}})
        wait_final(store, acct.account_id, [job_id])
    events = [n["event"] for n in store.list_notifications(job_id=job_id) if n["channel"] == "webhook"]
    assert events == ["outbound_queued", "outbound_processing", "outbound_success"]


def test_cancelling_a_waiting_job_queues_its_notifications(store):
    acct = store.create_account("acme")
    job = store.enqueue_job(acct.account_id, {"to_number": REMOTE, "from_number": "+12025550100",
                                              "notifications": {"webhook": {"url": "http://127.0.0.1:9/h"}}},
                            documents=[(b"x", "text/plain", "a.txt")])
    assert store.cancel_job(acct.account_id, job["id"])["status"] == "cancelled"
    assert [n["event"] for n in store.list_notifications(job_id=job["id"])] == ["outbound_cancelled"]


def test_a_job_whose_document_vanished_fails_without_retrying(config, store):
    acct = store.create_account("acme")
    job_id = enqueue_ready(store, acct.account_id, REMOTE, converted_fax(config), retries=3)
    with store.transaction() as cur:
        cur.execute("DELETE FROM documents WHERE job_id = %s", (job_id,))
    with running(fast(config)):
        job = wait_final(store, acct.account_id, [job_id])[job_id]
    assert job["status"] == "failed" and job["attempts"] == 1
    assert "no fax document" in job["tx_result"]["error_message"]

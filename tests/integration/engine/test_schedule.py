"""Scheduled faxes on the real engine, submitted through the API: ``send_at`` holds a job until
its time, and a job that cannot be sent before ``expires_at`` fails with its own error."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import gevent
import requests

from faxd.models import gregorian
from faxd.switch.software import TEST_NUMBERS
from tests.integration.engine.harness import TEXT, fast, running, wait_final
from tests.unit.api.helpers import curl_multipart_mixed


def _number(behaviour):
    return next(n for n, t in TEST_NUMBERS.items() if t.behaviour == behaviour)


def _queue(daemon, store, **fields):
    acct = store.create_account("scheduled")
    token = requests.put(f"{daemon.base_url}/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                         timeout=10).json()["auth_token"]
    meta = {"from_number": "+12025550100", **fields}
    body, ctype = curl_multipart_mixed(meta, TEXT, "text/plain")
    r = requests.put(f"{daemon.base_url}/v2/accounts/{acct.account_id}/faxes", data=body, timeout=30,
                     headers={"X-Auth-Token": token, "Content-Type": ctype})
    assert r.status_code == 201, r.text
    return acct.account_id, r.json()["data"]


def test_send_at_holds_the_job_until_its_time_then_sends_it(config, store):
    with running(fast(config)) as daemon:
        send_at = datetime.now(timezone.utc) + timedelta(seconds=3)
        account_id, job = _queue(daemon, store, to_number="+12025550199", send_at=send_at.isoformat())
        assert job["send_at"] == gregorian(send_at)
        gevent.sleep(1.5)   # converted by now, but not due
        held = store.get_job(account_id, job["id"])
        assert held["status"] == "pending" and held["attempts"] == 0
        done = wait_final(store, account_id, [job["id"]])[job["id"]]
    assert done["status"] == "completed", done["tx_result"]
    assert done["attempt_history"][0]["started"] >= gregorian(send_at)


def test_a_job_that_cannot_be_retried_before_it_expires_fails_as_expired(config, store):
    # Busy, with 60 s between attempts and 4 s to live: the retry is due after the expiry, so the
    # job is claimed at its expiry and fails without dialling again.
    with running(fast(config, retry_period=60)) as daemon:
        started = time.monotonic()
        account_id, job = _queue(daemon, store, to_number=_number("busy"), retries=3, ttl=4)
        done = wait_final(store, account_id, [job["id"]], timeout=30)[job["id"]]
    assert time.monotonic() - started < 20
    assert done["status"] == "failed"
    assert done["tx_result"]["error_message"].startswith("expired"), done["tx_result"]
    assert done["attempt_history"][0]["tx_result"]["hangup_cause"] == "USER_BUSY"
    assert done["attempts"] == 2 and done["attempt_history"][1]["tx_result"]["error_message"].startswith("expired")


def test_a_schedule_that_can_never_run_is_refused(config, store):
    with running(fast(config)) as daemon:
        acct = store.create_account("refused")
        token = requests.put(f"{daemon.base_url}/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                             timeout=10).json()["auth_token"]
        soon = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
        later = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
        for fields, where in ((dict(send_at=later, expires_at=soon), "expires_at"),
                              (dict(send_at="tomorrow"), "send_at"),
                              (dict(send_at="2026-12-04T09:00:00"), "send_at"),
                              (dict(send_window={"days": "someday"}), "send_window.days"),
                              (dict(send_window={"from": "8am"}), "send_window.from"),
                              (dict(send_window={"timezone": "Mars/Olympus"}), "send_window.timezone"),
                              (dict(ttl=0), "ttl")):
            r = requests.put(f"{daemon.base_url}/v2/accounts/{acct.account_id}/faxes", timeout=10,
                             headers={"X-Auth-Token": token},
                             json={"data": {"document": {"url": "http://127.0.0.1:9/x.pdf"},
                                            "from_number": "+12025550100", "to_number": "+12025550199", **fields}})
            assert r.status_code == 400 and where in r.json()["data"], (fields, r.text)

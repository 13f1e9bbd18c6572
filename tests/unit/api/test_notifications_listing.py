"""GET /v2/accounts/{id}/notifications: an account's notifications and their delivery state."""
from __future__ import annotations

from tests.unit.api.conftest import URL_JOB
from tests.unit.api.helpers import finish_job


def _job_with_recipients(client, store, acct):
    data = {**URL_JOB, "notifications": {"email": {"send_to": ["ops@example.com"]},
                                          "webhook": {"url": "https://hooks.example.com/fax"}}}
    job = client.simulate_put(acct.base + "/faxes", headers=acct.headers, json={"data": data}).json["data"]["id"]
    finish_job(store, job, status="failed")
    with store.transaction() as cur:
        rows = store.queue_notifications(cur, "outbound_failure", job_id=job)
    assert {r["channel"] for r in rows} >= {"email", "webhook"}
    return job


def test_lists_the_accounts_notifications_with_their_state(client, store, acct, other):
    job = _job_with_recipients(client, store, acct)
    (email,) = [n for n in store.list_notifications(job_id=job) if n["channel"] == "email"]
    store.mark_notification_final(email["id"], "undeliverable", "no smtp_relay configured")
    r = client.simulate_get(acct.base + "/notifications", headers=acct.headers)
    assert r.status_code == 200, r.text
    rows = {n["channel"]: n for n in r.json["data"]}
    assert rows["email"]["status"] == "undeliverable" and rows["email"]["last_error"] == "no smtp_relay configured"
    assert rows["email"]["target"] == "ops@example.com" and rows["email"]["fax_id"] == job
    assert rows["webhook"]["status"] == "pending" and rows["webhook"]["event"] == "outbound_failure"
    failed = client.simulate_get(acct.base + "/notifications", headers=acct.headers,
                                 params={"filter_status": "undeliverable"}).json["data"]
    assert [n["channel"] for n in failed] == ["email"]
    # another account sees none of them, and cannot ask for them
    assert client.simulate_get(other.base + "/notifications", headers=other.headers).json["data"] == []
    assert client.simulate_get(acct.base + "/notifications", headers=other.headers).status_code == 404


def test_pages_and_refuses_foreign_start_keys(client, store, acct):
    for _ in range(2):
        _job_with_recipients(client, store, acct)
    first = client.simulate_get(acct.base + "/notifications", headers=acct.headers, params={"page_size": 3}).json
    assert len(first["data"]) == 3 and first["next_start_key"]
    rest = client.simulate_get(acct.base + "/notifications", headers=acct.headers,
                               params={"page_size": 3, "start_key": first["next_start_key"][0]}).json["data"]
    assert {n["event_id"] for n in first["data"]}.isdisjoint(n["event_id"] for n in rest)
    assert len(first["data"]) + len(rest) == 4
    # a key of another listing (a text id) is a 400, not a database error
    jobs = client.simulate_get(acct.base + "/faxes/outbox", headers=acct.headers, params={"page_size": 1}).json
    r = client.simulate_get(acct.base + "/notifications", headers=acct.headers,
                            params={"start_key": jobs["next_start_key"][0]})
    assert r.status_code == 400, r.text

"""PUT /faxes with an Idempotency-Key: however often, and however concurrently, a request is
repeated within 24 hours, it queues one fax; the key with another request is refused."""
from __future__ import annotations

import gevent
import psycopg2
import requests

from tests.unit.api.conftest import URL_JOB
from tests.unit.api.helpers import curl_multipart_mixed, finish_job, make_pdf


def _put(server, account, key, data=None, **kw):
    account_id, token = account
    headers = {"X-Auth-Token": token, **({"Idempotency-Key": key} if key is not None else {}),
               **kw.pop("headers", {})}
    if "body" in kw:
        return requests.put(f"{server}/v2/accounts/{account_id}/faxes", data=kw["body"], headers=headers,
                            timeout=30)
    return requests.put(f"{server}/v2/accounts/{account_id}/faxes", json={"data": data or URL_JOB},
                        headers=headers, timeout=30)


def _jobs(dsn, account_id):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM jobs WHERE account_id = %s", (account_id,))
        return [r[0] for r in cur.fetchall()]


def test_fifty_concurrent_requests_with_one_key_queue_one_fax(server, account, dsn):
    replies = [gevent.spawn(_put, server, account, "order-4711") for _ in range(50)]
    gevent.joinall(replies, raise_error=True)
    replies = [g.value for g in replies]
    assert sorted(r.status_code for r in replies) == [200] * 49 + [201], [r.text for r in replies]
    ids = {r.json()["data"]["id"] for r in replies}
    assert len(ids) == 1
    assert _jobs(dsn, account[0]) == list(ids)
    replayed = [r for r in replies if r.status_code == 200]
    assert all(r.headers["Idempotent-Replayed"] == "true" for r in replayed)
    assert {r.headers["Location"].rsplit("/", 1)[1] for r in replies} == ids


def test_the_key_with_a_different_request_is_409(server, account, dsn):
    assert _put(server, account, "k-1").status_code == 201
    r = _put(server, account, "k-1", {**URL_JOB, "to_number": "+12025550199"})
    assert r.status_code == 409
    assert "different request" in r.json()["message"] and "new key" in r.json()["message"]
    assert len(_jobs(dsn, account[0])) == 1


def test_key_order_of_the_json_body_does_not_matter(server, account, dsn):
    first = _put(server, account, "k-order", dict(URL_JOB))
    again = _put(server, account, "k-order", dict(reversed(list(URL_JOB.items()))))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["data"]["id"] == again.json()["data"]["id"]


def test_a_replay_after_the_fax_finished_returns_the_finished_job(server, account, store):
    job = _put(server, account, "k-done").json()["data"]
    finish_job(store, job["id"], status="completed")
    r = _put(server, account, "k-done")
    assert r.status_code == 200 and r.headers["Idempotent-Replayed"] == "true"
    assert r.json()["data"]["id"] == job["id"] and r.json()["data"]["status"] == "completed"


def test_keys_belong_to_one_account(server, account, store, dsn):
    mine = _put(server, account, "shared-name").json()["data"]["id"]
    other = store.create_account("other tenant")
    token = requests.put(f"{server}/v2/api_auth", json={"data": {"api_key": other.api_key}},
                         timeout=10).json()["auth_token"]
    r = _put(server, (other.account_id, token), "shared-name")
    assert r.status_code == 201 and r.json()["data"]["id"] != mine
    assert _jobs(dsn, other.account_id) == [r.json()["data"]["id"]]


def test_a_key_older_than_a_day_queues_again(server, account, dsn):
    first = _put(server, account, "k-old").json()["data"]["id"]
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("UPDATE idempotency_keys SET created = now() - interval '25 hours' WHERE key = 'k-old'")
    r = _put(server, account, "k-old", {**URL_JOB, "to_number": "+12025550123"})
    assert r.status_code == 201 and r.json()["data"]["id"] != first


def test_the_key_of_a_deleted_fax_is_409_not_a_second_fax(server, account, store, dsn):
    job = _put(server, account, "k-deleted").json()["data"]
    finish_job(store, job["id"], status="failed")
    account_id, token = account
    assert requests.delete(f"{server}/v2/accounts/{account_id}/faxes/outbox/{job['id']}",
                           headers={"X-Auth-Token": token}, timeout=10).status_code == 200
    r = _put(server, account, "k-deleted")
    assert r.status_code == 409 and "deleted" in r.json()["message"]
    assert _jobs(dsn, account_id) == []


def test_an_upload_with_other_bytes_under_the_key_is_409(server, account):
    meta = {k: v for k, v in URL_JOB.items() if k != "document"}
    body, ctype = curl_multipart_mixed(meta, make_pdf())
    assert _put(server, account, "k-upload", body=body, headers={"Content-Type": ctype}).status_code == 201
    assert _put(server, account, "k-upload", body=body, headers={"Content-Type": ctype}).status_code == 200
    other, ctype = curl_multipart_mixed(meta, make_pdf() + b"\n% another revision\n")
    assert _put(server, account, "k-upload", body=other, headers={"Content-Type": ctype}).status_code == 409


def test_a_malformed_key_is_400(server, account, dsn):
    for key in ("x" * 256, "clé-1"):
        r = _put(server, account, key)
        assert r.status_code == 400 and "Idempotency-Key" in r.json()["message"], r.text
    assert _jobs(dsn, account[0]) == []

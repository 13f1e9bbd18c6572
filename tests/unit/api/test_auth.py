"""Auth: API key -> token, 401 for missing/forged/expired tokens, and the cross-account matrix."""
from __future__ import annotations

import json

import pytest

from faxd import ids
from tests.unit.api.conftest import URL_JOB
from tests.unit.api.helpers import (add_inbox_fax, add_incoming_call, add_smtplog, finish_job, make_pdf,
                                    make_tiff)


def test_api_auth_gives_a_token_stored_hashed(client, store, acct):
    assert acct.token
    with store.transaction() as c:
        c.execute("SELECT token_hash FROM auth_tokens WHERE account_id = %s", (acct.id,))
        hashes = [bytes(r["token_hash"]) for r in c.fetchall()]
    assert hashes == [ids.digest(acct.token)]
    r = client.simulate_put("/v2/api_auth", json={"data": {"api_key": acct.api_key}})
    assert r.status_code == 201 and r.json["data"]["account_id"] == acct.id


@pytest.mark.parametrize("body,code", [
    ({"data": {"api_key": "not-a-key"}}, 401),
    ({"data": {}}, 400),
    ({"data": {"api_key": 12}}, 400),
    ({"api_key": "x"}, 400),
])
def test_api_auth_rejects(client, body, code):
    r = client.simulate_put("/v2/api_auth", json=body)
    assert r.status_code == code and r.json["status"] == "error"
    assert "auth_token" not in r.json


def test_missing_forged_and_expired_tokens_are_401(client, store, acct):
    url = acct.base + "/faxes/outgoing"
    assert client.simulate_get(url).status_code == 401
    assert client.simulate_get(url, headers={"X-Auth-Token": ids.new_token()}).status_code == 401
    assert client.simulate_get(url, headers={"X-Auth-Token": "x" * 5000}).status_code == 401
    expired = ids.new_token()
    with store.transaction() as c:
        c.execute("INSERT INTO auth_tokens (token_hash, account_id, expires) VALUES (%s, %s, now() - interval '1 second')",
                  (ids.digest(expired), acct.id))
    r = client.simulate_get(url, headers={"X-Auth-Token": expired})
    assert r.status_code == 401 and r.json["error"] == "401" and r.headers.get("www-authenticate")
    assert client.simulate_get(url, headers=acct.headers).status_code == 200


def _snapshot(store, account_id):
    with store.transaction() as c:
        out = {}
        for table in ("jobs", "inbox", "faxboxes", "documents", "incoming_calls", "smtplog", "numbers",
                      "job_attempts"):
            key = "job_id IN (SELECT id FROM jobs WHERE account_id = %s)" if table == "job_attempts" \
                else "account_id = %s"
            c.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h, count(*) AS n "
                      f"FROM {table} t WHERE {key}", (account_id,))
            out[table] = dict(c.fetchone())
    return out


def test_cross_account_matrix(client, store, acct, other):
    """Account B's token on every one of A's resources: 404, nothing leaked, nothing changed."""
    a = acct
    r = client.simulate_put(a.base + "/faxboxes", headers=a.headers, json={"data": {
        "name": "A's box", "caller_id": "+12025550123", "numbers": ["+12025550188"]}})
    box = r.json["data"]["id"]
    waiting = client.simulate_put(a.base + "/faxes", headers=a.headers, json={"data": URL_JOB}).json["data"]["id"]
    sent = client.simulate_put(a.base + "/faxes", headers=a.headers, json={"data": URL_JOB}).json["data"]["id"]
    finish_job(store, sent, pdf=make_pdf(), tiff=make_tiff())
    inbox = add_inbox_fax(store, a.id, faxbox_id=box, tiff=make_tiff())
    call = add_incoming_call(store, a.id, faxbox_id=box)
    log = add_smtplog(store, a.id, job_id=sent, faxbox_id=box)
    before = _snapshot(store, a.id)
    assert before["jobs"]["n"] == 2 and before["documents"]["n"] == 3

    secrets = [a.id, "+12025550188", "+12025550123", "A's box", "To Name", "user@example.com"]
    body = json.dumps({"action": "resubmit", "data": {}})
    fwd = json.dumps({"action": "forward", "data": {"to_number": "+18884732963"}})
    box_body = json.dumps({"data": {"name": "stolen"}})
    requests = []
    for base in (a.base, other.base, f"{other.base}/faxboxes/{box}"):
        requests += [
            ("GET", f"{base}/faxes/outgoing/{waiting}", None),
            ("DELETE", f"{base}/faxes/outgoing/{waiting}", None),
            ("GET", f"{base}/faxes/outbox/{sent}", None),
            ("PUT", f"{base}/faxes/outbox/{sent}", body),
            ("DELETE", f"{base}/faxes/outbox/{sent}", None),
            ("GET", f"{base}/faxes/outbox/{sent}/attachment", None),
            ("DELETE", f"{base}/faxes/outbox/{sent}/attachment", None),
            ("GET", f"{base}/faxes/inbox/{inbox}", None),
            ("PUT", f"{base}/faxes/inbox/{inbox}", fwd),
            ("DELETE", f"{base}/faxes/inbox/{inbox}", None),
            ("GET", f"{base}/faxes/inbox/{inbox}/attachment", None),
            ("DELETE", f"{base}/faxes/inbox/{inbox}/attachment", None),
            ("GET", f"{base}/faxes/incoming/{call}", None),
            ("GET", f"{base}/faxes/smtplog/{log}", None),
        ]
    for base in (a.base, other.base):
        requests += [
            ("GET", f"{base}/faxboxes/{box}", None),
            ("POST", f"{base}/faxboxes/{box}", box_body),
            ("PUT", f"{base}/faxboxes/{box}", box_body),
            ("PATCH", f"{base}/faxboxes/{box}", box_body),
            ("DELETE", f"{base}/faxboxes/{box}", None),
            ("PUT", f"{base}/faxboxes/{box}/faxes", json.dumps({"data": URL_JOB})),
            ("GET", f"{base}/faxboxes/{box}/faxes/outbox", None),
        ]
    # A's account path with B's token: every listing is 404 too.
    for folder in ("outgoing", "outbox", "inbox", "incoming", "smtplog"):
        requests.append(("GET", f"{a.base}/faxes/{folder}", None))
    requests += [("GET", f"{a.base}/faxboxes", None), ("PUT", f"{a.base}/faxes", json.dumps({"data": URL_JOB}))]

    for method, path, payload in requests:
        r = client.simulate_request(method, path, headers=other.headers, body=payload)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json["status"] == "error"
        for s in secrets:
            assert s not in r.text, (method, path, s)
    assert _snapshot(store, a.id) == before
    # B's own listings show none of A's things.
    for folder in ("outgoing", "outbox", "inbox", "incoming", "smtplog"):
        r = client.simulate_get(f"{other.base}/faxes/{folder}", headers=other.headers)
        assert r.status_code == 200 and r.json["data"] == []
    # and A still sees everything.
    assert client.simulate_get(f"{a.base}/faxes/outbox/{sent}", headers=a.headers).status_code == 200

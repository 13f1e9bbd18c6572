"""Cancel, resubmit, forward, faxboxes (CRUD, If-Match, numbers) and the faxbox-scoped routes."""
from __future__ import annotations

import json
import select

import psycopg2

from tests.unit.api.conftest import URL_JOB
from tests.unit.api.helpers import add_inbox_fax, finish_job, make_pdf, make_tiff, set_job_status


def _queue(client, acct, **changes):
    r = client.simulate_put(acct.base + "/faxes", json={"data": {**URL_JOB, **changes}}, headers=acct.headers)
    assert r.status_code == 201, r.text
    return r.json["data"]


def test_cancel_waiting_job_is_final_at_once(client, acct):
    job = _queue(client, acct)
    r = client.simulate_delete(f"{acct.base}/faxes/outgoing/{job['id']}", headers=acct.headers)
    assert r.status_code == 200
    data = r.json["data"]
    assert data["status"] == "cancelled" and data["tx_result"]["error_message"] == "cancelled by user"
    assert isinstance(data["delivered"], int)
    outbox = client.simulate_get(acct.base + "/faxes/outbox", headers=acct.headers).json["data"]
    assert [j["id"] for j in outbox] == [job["id"]]
    assert client.simulate_get(acct.base + "/faxes/outgoing", headers=acct.headers).json["data"] == []
    r = client.simulate_delete(f"{acct.base}/faxes/outgoing/{job['id']}", headers=acct.headers)
    assert r.status_code == 409 and "already finished" in r.json["message"]


def test_cancel_processing_job_asks_the_engine(client, acct, store, dsn):
    job = _queue(client, acct)
    set_job_status(store, job["id"], "processing")
    listener = psycopg2.connect(dsn)
    listener.autocommit = True
    try:
        listener.cursor().execute("LISTEN faxd_cancel")
        r = client.simulate_delete(f"{acct.base}/faxes/outgoing/{job['id']}", headers=acct.headers)
        assert r.status_code == 200 and r.json["data"]["status"] == "processing"
        assert select.select([listener], [], [], 5)[0], "no faxd_cancel notification"
        listener.poll()
        assert [n.payload for n in listener.notifies] == [job["id"]]
    finally:
        listener.close()
    with store.transaction() as c:
        c.execute("SELECT cancel_requested, status FROM jobs WHERE id = %s", (job["id"],))
        assert dict(c.fetchone()) == {"cancel_requested": True, "status": "processing"}


def test_outgoing_get_follows_a_job_to_the_end_outbox_only_final(client, acct, store):
    job = _queue(client, acct)
    assert client.simulate_get(f"{acct.base}/faxes/outbox/{job['id']}", headers=acct.headers).status_code == 404
    assert client.simulate_delete(f"{acct.base}/faxes/outbox/{job['id']}", headers=acct.headers).status_code == 404
    finish_job(store, job["id"], status="failed")
    r = client.simulate_get(f"{acct.base}/faxes/outgoing/{job['id']}", headers=acct.headers)
    assert r.json["data"]["status"] == "failed" and r.json["data"]["tx_result"]["error_message"] == "busy"
    assert r.headers["etag"] == '"2"' and r.json["revision"] == "2"


def test_resubmit_copies_originals_and_overrides(client, acct, store, config):
    from tests.unit.api.helpers import curl_multipart_mixed
    body, ctype = curl_multipart_mixed({k: v for k, v in URL_JOB.items() if k != "document"}, make_pdf())
    job = client.simulate_put(acct.base + "/faxes", body=body,
                              headers={**acct.headers, "Content-Type": ctype}).json["data"]
    finish_job(store, job["id"], status="failed")
    r = client.simulate_put(f"{acct.base}/faxes/outbox/{job['id']}", headers=acct.headers,
                            json={"action": "resubmit", "data": {"to_number": "+12025550177", "retries": 1}})
    assert r.status_code == 201, r.text
    new = r.json["data"]
    assert new["to_number"] == "+12025550177" and new["retries"] == 1 and new["from_name"] == "Test Fax"
    originals = store.list_documents(job_id=new["id"], role="original")
    assert [d["filename"] for d in originals] == ["fax.pdf"]
    # With its documents deleted and no URL, there is nothing to resubmit.
    client.simulate_delete(f"{acct.base}/faxes/outbox/{job['id']}/attachment", headers=acct.headers)
    r = client.simulate_put(f"{acct.base}/faxes/outbox/{job['id']}", headers=acct.headers,
                            json={"action": "resubmit", "data": {}})
    assert r.status_code == 409


def test_forward_sends_the_received_tiff(client, acct, store):
    tiff = make_tiff(pages=2)
    fax = add_inbox_fax(store, acct.id, tiff=tiff, to_number="+12025550100")
    r = client.simulate_put(f"{acct.base}/faxes/inbox/{fax}", headers=acct.headers,
                            json={"action": "forward", "data": {"to_number": "8884732963"}})
    assert r.status_code == 201, r.text
    job = r.json["data"]
    assert job["source"] == "forward" and job["origin_id"] == fax
    assert job["to_number"] == "+18884732963" and job["from_number"] == "+12025550100"
    [orig] = store.list_documents(job_id=job["id"], role="original")
    assert orig["content_type"] == "image/tiff"
    assert store.get_document(job_id=job["id"], role="original")["data"] == tiff
    r = client.simulate_put(f"{acct.base}/faxes/inbox/{fax}", headers=acct.headers,
                            json={"action": "forward", "data": {}})
    assert r.status_code == 400 and "to_number" in r.json["data"]


def test_faxbox_crud_if_match_and_numbers(client, acct, other):
    r = client.simulate_put(acct.base + "/faxboxes", headers=acct.headers, json={"data": {
        "name": "Sales", "caller_id": "202 555 0123", "fax_identity": "SALES", "retries": 2,
        "numbers": ["+1 202 555 0150"], "smtp_permission_list": ["*@example.com"],
        "media": {"fax_option": "auto"}, "extra": {"kept": True}, "smtp_email_address": "forged",
        "pvt_x": 1}})
    assert r.status_code == 201, r.text
    box = r.json["data"]
    assert box["numbers"] == ["+12025550150"] and box["caller_id"] == "+12025550123"
    assert box["smtp_email_address"] == f"{box['id']}.fax.localhost" and box["extra"] == {"kept": True}
    assert "pvt_x" not in r.text and r.headers["etag"] == '"1"'
    url = f"{acct.base}/faxboxes/{box['id']}"
    # If-Match: the current revision updates, a stale one is 409.
    r = client.simulate_post(url, headers={**acct.headers, "If-Match": '"1"'},
                             json={"data": {"name": "Sales 2", "numbers": ["+12025550151"]}})
    assert r.status_code == 200 and r.json["revision"] == "2" and r.json["data"]["numbers"] == ["+12025550151"]
    r = client.simulate_post(url, headers={**acct.headers, "If-Match": '"1"'}, json={"data": {"name": "lost"}})
    assert r.status_code == 409
    r = client.simulate_patch(url, headers=acct.headers, json={"data": {"fax_header": "Hdr"}})
    assert r.status_code == 200 and r.json["data"]["name"] == "Sales 2" and r.json["data"]["fax_header"] == "Hdr"
    # A number owned by another faxbox (any account) is refused, naming the field.
    r = client.simulate_put(other.base + "/faxboxes", headers=other.headers,
                            json={"data": {"name": "B", "numbers": ["+12025550151"]}})
    assert r.status_code == 400 and "unique" in r.json["data"]["numbers"]
    r = client.simulate_put(acct.base + "/faxboxes", headers=acct.headers,
                            json={"data": {"name": "bad", "numbers": ["12"], "retries": 9,
                                           "media": {"fax_option": "maybe"}}})
    assert r.status_code == 400 and {"numbers.0", "retries", "media.fax_option"} <= set(r.json["data"])
    listing = client.simulate_get(acct.base + "/faxboxes", headers=acct.headers).json["data"]
    assert [b["id"] for b in listing] == [box["id"]]
    assert client.simulate_delete(url, headers={**acct.headers, "If-Match": '"1"'}).status_code == 409
    assert client.simulate_delete(url, headers=acct.headers).status_code == 200
    assert client.simulate_get(url, headers=acct.headers).status_code == 404
    # The number is free again.
    r = client.simulate_put(other.base + "/faxboxes", headers=other.headers,
                            json={"data": {"name": "B", "numbers": ["+12025550151"]}})
    assert r.status_code == 201


def test_faxbox_scoped_routes_apply_its_defaults(client, acct, store):
    box = client.simulate_put(acct.base + "/faxboxes", headers=acct.headers, json={"data": {
        "name": "Box", "caller_id": "+12025550177", "caller_name": "Front desk", "retries": 4,
        "fax_identity": "FRONT", "fax_timezone": "Europe/Paris"}}).json["data"]
    base = f"{acct.base}/faxboxes/{box['id']}/faxes"
    r = client.simulate_put(base, headers=acct.headers, json={"data": {
        "to_number": "+18884732963", "document": {"url": "https://example.com/a.pdf"}}})
    assert r.status_code == 201, r.text
    job = r.json["data"]
    assert job["from_number"] == "+12025550177" and job["from_name"] == "Front desk"
    assert job["retries"] == 4 and job["faxbox_id"] == box["id"] and job["fax_timezone"] == "Europe/Paris"
    assert job["fax_identity_name"] == "FRONT"
    unscoped = _queue(client, acct)
    ids_in_box = [j["id"] for j in client.simulate_get(base + "/outgoing", headers=acct.headers).json["data"]]
    assert ids_in_box == [job["id"]]
    assert client.simulate_get(f"{base}/outgoing/{unscoped['id']}", headers=acct.headers).status_code == 404
    assert client.simulate_get(f"{base}/outgoing/{job['id']}", headers=acct.headers).status_code == 200
    # faxbox_id in the body does the same on the account routes; a foreign one is refused.
    r = client.simulate_put(acct.base + "/faxes", headers=acct.headers, json={"data": {
        "to_number": "+18884732963", "faxbox_id": box["id"], "document": {"url": "https://example.com/a.pdf"}}})
    assert r.status_code == 201 and r.json["data"]["from_number"] == "+12025550177"
    r = client.simulate_put(acct.base + "/faxes", headers=acct.headers,
                            json={"data": {**URL_JOB, "faxbox_id": "0" * 32}})
    assert r.status_code == 400 and "faxbox_id" in r.json["data"]
    inbox = add_inbox_fax(store, acct.id, faxbox_id=box["id"], pdf=make_pdf())
    assert [f["id"] for f in client.simulate_get(base + "/inbox", headers=acct.headers).json["data"]] == [inbox]
    r = client.simulate_get(f"{base}/inbox/{inbox}/attachment", headers=acct.headers)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert json.loads(client.simulate_get(f"{base}/smtplog", headers=acct.headers).text)["data"] == []

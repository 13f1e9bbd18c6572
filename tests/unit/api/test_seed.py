"""Every request of the seed document (kazoo-faxes-api.txt), sent as its curl example sends it,
answers with the shape the seed shows."""
from __future__ import annotations

import json

from tests.unit.api.conftest import URL_JOB
from tests.unit.api.helpers import (add_inbox_fax, add_incoming_call, add_smtplog, curl_multipart_mixed,
                                    finish_job, make_pdf, make_tiff)

CURL_FORM = {"Content-Type": "application/x-www-form-urlencoded"}   # what curl -d sends
TX_RESULT_TYPES = {"error_message": str, "fax_bad_rows": int, "fax_error_correction": bool,
                   "fax_receiver_id": str, "fax_speed": int, "pages_sent": int, "success": bool,
                   "time_elapsed": int}


def _success(r, code=200):
    assert r.status_code == code, r.text
    body = r.json
    assert body["status"] == "success"
    assert isinstance(body["request_id"], str) and body["request_id"]
    assert isinstance(body["revision"], str)
    assert isinstance(body["auth_token"], str)
    return body


def _queue(client, acct, job=URL_JOB):
    r = client.simulate_put(acct.base + "/faxes", body=json.dumps({"data": job}),
                            headers={**acct.headers, **CURL_FORM})
    return _success(r, 201)["data"]


def test_put_faxes_with_url_document(client, acct):
    data = _queue(client, acct)
    assert data["document"] == {"url": "http://myserver.com/fax.pdf", "method": "get"}
    assert data["retries"] == 3 and data["attempts"] == 0
    assert data["from_name"] == "Test Fax" and data["to_name"] == "To Name"
    assert data["to_number"] == "+18884732963" and data["from_number"] == "+18884732963"
    assert data["fax_timezone"] == "undefined"
    assert isinstance(data["id"], str) and len(data["id"]) == 32
    for key, typ in TX_RESULT_TYPES.items():
        assert type(data["tx_result"][key]) is typ, key
    assert data["tx_result"]["success"] is False and data["tx_result"]["error_message"] == ""
    assert data["status"] == "attaching_files"


def test_put_faxes_multipart_mixed_as_curl_sends_it(client, acct, store):
    pdf = make_pdf()
    body, ctype = curl_multipart_mixed({k: v for k, v in URL_JOB.items() if k != "document"}, pdf)
    r = client.simulate_put(acct.base + "/faxes", body=body,
                            headers={**acct.headers, "Content-Type": ctype})
    data = _success(r, 201)["data"]
    assert data["to_number"] == "+18884732963" and data["status"] == "attaching_files"
    docs = store.list_documents(job_id=data["id"])
    assert [(d["role"], d["content_type"], d["filename"]) for d in docs] == \
        [("original", "application/pdf", "fax.pdf")]
    assert store.get_document(job_id=data["id"], role="original")["data"] == pdf


def test_put_faxes_outgoing_alias(client, acct):
    r = client.simulate_put(acct.base + "/faxes/outgoing", body=json.dumps({"data": URL_JOB}),
                            headers={**acct.headers, **CURL_FORM})
    data = _success(r, 201)["data"]
    assert data["to_number"] == "+18884732963"
    # The seed's example sends no body at all: a Kazoo error naming what is missing.
    r = client.simulate_put(acct.base + "/faxes/outgoing", headers=acct.headers)
    assert r.status_code == 400
    assert r.json["status"] == "error" and "data" in r.json["data"]


def test_get_outgoing_listing(client, acct):
    job = _queue(client, acct)
    body = _success(client.simulate_get(acct.base + "/faxes/outgoing", headers=acct.headers))
    assert isinstance(body["page_size"], int) and body["page_size"] == 1
    assert isinstance(body["start_key"], list) and isinstance(body["start_key"][0], str)
    [row] = body["data"]
    assert row["id"] == job["id"] and row["status"] == "attaching_files"
    assert row["from"] == "+18884732963" and row["to"] == "+18884732963"
    assert isinstance(row["created"], int) and row["created"] > 63_000_000_000


def test_get_outgoing_job(client, acct):
    job = _queue(client, acct)
    data = _success(client.simulate_get(f"{acct.base}/faxes/outgoing/{job['id']}", headers=acct.headers))["data"]
    for key in ("attempts", "created", "delivered", "document", "fax_timezone", "from_name",
                "from_number", "id", "retries", "status", "to_name", "to_number", "tx_result"):
        assert key in data, key
    assert data["delivered"] == "undefined"
    assert isinstance(data["created"], int)
    assert data == job      # the PUT's answer is the row as stored
    assert set(TX_RESULT_TYPES) <= set(data["tx_result"])
    assert data["progress"]["stage"] == "queued"


def _sent(client, acct, store):
    job = _queue(client, acct)
    finish_job(store, job["id"], pdf=make_pdf(), tiff=make_tiff())
    return job["id"]


def test_outbox_list_get_resubmit(client, acct, store):
    fax_id = _sent(client, acct, store)
    body = _success(client.simulate_get(acct.base + "/faxes/outbox", headers=acct.headers))
    assert [r["id"] for r in body["data"]] == [fax_id]
    assert body["data"][0]["status"] == "completed"
    data = _success(client.simulate_get(f"{acct.base}/faxes/outbox/{fax_id}", headers=acct.headers))["data"]
    assert data["tx_result"]["success"] is True and data["tx_result"]["pages_sent"] == 1
    assert isinstance(data["delivered"], int)
    assert [a["attempt"] for a in data["attempt_history"]] == [1]
    r = client.simulate_put(f"{acct.base}/faxes/outbox/{fax_id}",
                            body='{"action": "resubmit", "data": {}}', headers={**acct.headers, **CURL_FORM})
    new = _success(r, 201)["data"]
    assert new["id"] != fax_id and new["status"] == "attaching_files"
    assert new["origin_id"] == fax_id and new["source"] == "resubmit"
    assert new["to_number"] == data["to_number"] and new["retries"] == 3


def test_outbox_attachment_and_disposition(client, acct, store):
    fax_id = _sent(client, acct, store)
    r = client.simulate_get(f"{acct.base}/faxes/outbox/{fax_id}/attachment", headers=acct.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert r.headers["content-disposition"] == f'attachment; filename="fax-{fax_id}.pdf"'
    r = client.simulate_get(f"{acct.base}/faxes/outbox/{fax_id}/attachment?disposition=attachment",
                            headers=acct.headers)
    assert r.headers["content-disposition"].startswith("attachment;")


def test_smtplog_list_and_get(client, acct, store):
    job = _queue(client, acct)
    entry = add_smtplog(store, acct.id, job_id=job["id"])
    body = _success(client.simulate_get(acct.base + "/faxes/smtplog", headers=acct.headers))
    assert [e["id"] for e in body["data"]] == [entry]
    data = _success(client.simulate_get(f"{acct.base}/faxes/smtplog/{entry}", headers=acct.headers))["data"]
    assert data["from"] == "user@example.com" and data["fax_id"] == job["id"]
    assert data["number"] == "+18884732963" and data["errors"] == []


def test_outbox_delete_and_delete_attachment(client, acct, store):
    keep, gone = _sent(client, acct, store), _sent(client, acct, store)
    r = client.simulate_delete(f"{acct.base}/faxes/outbox/{keep}/attachment", headers=acct.headers)
    assert _success(r)["data"]["id"] == keep
    assert store.list_documents(job_id=keep) == []
    assert client.simulate_get(f"{acct.base}/faxes/outbox/{keep}", headers=acct.headers).status_code == 200
    assert client.simulate_get(f"{acct.base}/faxes/outbox/{keep}/attachment",
                               headers=acct.headers).status_code == 404
    _success(client.simulate_delete(f"{acct.base}/faxes/outbox/{gone}", headers=acct.headers))
    assert client.simulate_get(f"{acct.base}/faxes/outbox/{gone}", headers=acct.headers).status_code == 404
    with store.transaction() as c:
        c.execute("SELECT (SELECT count(*) FROM jobs WHERE id = %(id)s) + "
                  "(SELECT count(*) FROM job_attempts WHERE job_id = %(id)s) + "
                  "(SELECT count(*) FROM documents WHERE job_id = %(id)s) AS n", {"id": gone})
        assert c.fetchone()["n"] == 0


def test_inbox_requests(client, acct, store):
    tiff = make_tiff(pages=2)
    fax_id = add_inbox_fax(store, acct.id, tiff=tiff)
    other_id = add_inbox_fax(store, acct.id, tiff=tiff)
    body = _success(client.simulate_get(acct.base + "/faxes/inbox", headers=acct.headers))
    assert {r["id"] for r in body["data"]} == {fax_id, other_id}
    data = _success(client.simulate_get(f"{acct.base}/faxes/inbox/{fax_id}", headers=acct.headers))["data"]
    assert data["rx_result"]["success"] is True and data["to_number"] == "+12025550100"
    # No PDF rendition stored: the TIFF is wrapped losslessly on the way out.
    r = client.simulate_get(f"{acct.base}/faxes/inbox/{fax_id}/attachment", headers=acct.headers)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    r = client.simulate_get(f"{acct.base}/faxes/inbox/{fax_id}/attachment",
                            headers={**acct.headers, "Accept": "image/tiff"})
    assert r.status_code == 200 and r.content == tiff and r.headers["content-type"] == "image/tiff"
    _success(client.simulate_delete(f"{acct.base}/faxes/inbox/{fax_id}/attachment", headers=acct.headers))
    assert store.list_documents(inbox_id=fax_id) == []
    _success(client.simulate_delete(f"{acct.base}/faxes/inbox/{other_id}", headers=acct.headers))
    assert client.simulate_get(f"{acct.base}/faxes/inbox/{other_id}", headers=acct.headers).status_code == 404


def test_incoming_requests(client, acct, store):
    live = add_incoming_call(store, acct.id)
    stale = add_incoming_call(store, acct.id, expired=True)
    body = _success(client.simulate_get(acct.base + "/faxes/incoming", headers=acct.headers))
    assert [c["id"] for c in body["data"]] == [live]
    data = _success(client.simulate_get(f"{acct.base}/faxes/incoming/{live}", headers=acct.headers))["data"]
    assert data["progress"]["pages_received"] == 1 and data["status"] == "receiving"
    assert client.simulate_get(f"{acct.base}/faxes/incoming/{stale}", headers=acct.headers).status_code == 404

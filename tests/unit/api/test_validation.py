"""Bad input gives a Kazoo error naming field and rule, never a 5xx."""
from __future__ import annotations

import json

import pytest

from tests.unit.api.conftest import URL_JOB
from tests.unit.api.helpers import curl_multipart_mixed, finish_job, make_pdf


def _job(**changes):
    doc = json.loads(json.dumps(URL_JOB))
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def _put(client, acct, data, **kw):
    return client.simulate_put(acct.base + "/faxes", json={"data": data}, headers=acct.headers, **kw)


@pytest.mark.parametrize("changes,field,rule", [
    ({"to_number": None}, "to_number", "required"),
    ({"from_number": None}, "from_number", "required"),
    ({"to_number": 18884732963}, "to_number", "type"),
    ({"to_number": "5551234"}, "to_number", "format"),
    ({"to_number": "abc"}, "to_number", "format"),
    ({"to_number": "+1 888 473 2963 ext. 5"}, "to_number", "format"),
    ({"retries": 5}, "retries", "maximum"),
    ({"retries": -1}, "retries", "minimum"),
    ({"retries": "3"}, "retries", "type"),
    ({"retries": True}, "retries", "type"),
    ({"attempts": 9}, "attempts", "maximum"),
    ({"ring_timeout": 0}, "ring_timeout", "minimum"),
    ({"ring_timeout": 601}, "ring_timeout", "maximum"),
    ({"ring_timeout": "30"}, "ring_timeout", "type"),
    ({"ring_timeout": True}, "ring_timeout", "type"),
    ({"document": None}, "document.url", "required"),
    ({"document": {"method": "get"}}, "document.url", "required"),
    ({"document": {"url": "http:/"}}, "document.url", "minLength"),
    ({"document": {"url": "ftp://example.com/a.pdf"}}, "document.url", "format"),
    ({"document": {"url": "http://example.com/a.pdf", "method": "put"}}, "document.method", "enum"),
    ({"document": {"url": "http://example.com/a.pdf", "content": "x" * 257}}, "document.content", "maxLength"),
    ({"document": "http://example.com/a.pdf"}, "document", "type"),
    ({"from_name": 7}, "from_name", "type"),
    ({"notifications": {"email": {"send_to": 5}}}, "notifications.email.send_to", "type"),
    ({"notifications": []}, "notifications", "type"),
])
def test_job_validation_names_field_and_rule(client, acct, changes, field, rule):
    r = _put(client, acct, _job(**changes))
    assert r.status_code == 400, r.text
    body = r.json
    assert body["status"] == "error" and body["error"] == "400" and body["message"] == "invalid data"
    assert rule in body["data"][field], body["data"]
    assert isinstance(body["data"][field][rule]["message"], str)


def test_every_error_is_reported_at_once(client, acct):
    r = _put(client, acct, {"retries": 9})
    assert set(r.json["data"]) == {"to_number", "from_number", "retries", "document.url"}


def test_numbers_are_normalised_unknown_fields_kept_private_dropped(client, acct):
    data = _job(to_number="(202) 555-0123", from_number="+44 20 7946 0000", custom_field={"a": [1]},
                pvt_secret="x", _id="y", attempts=3, tx_result={"success": True}, status="completed",
                id="f" * 32)
    r = _put(client, acct, data)
    assert r.status_code == 201, r.text
    job = r.json["data"]
    assert job["to_number"] == "+12025550123" and job["from_number"] == "+442079460000"
    assert job["custom_field"] == {"a": [1]}
    assert "pvt_secret" not in r.text and "_id" not in job
    assert job["attempts"] == 0 and job["tx_result"]["success"] is False
    assert job["status"] == "attaching_files" and job["id"] != "f" * 32
    got = client.simulate_get(f"{acct.base}/faxes/outgoing/{job['id']}", headers=acct.headers).json["data"]
    assert got["custom_field"] == {"a": [1]} and "pvt_secret" not in json.dumps(got)


@pytest.mark.parametrize("body", [b"{bad json", b"[1, 2]", b'"text"', b"null", b'{"data": 5}',
                                  b'{"data": []}', b"\xff\xfe\x00", b"[" * 100000, b'{"nodata": {}}'])
def test_malformed_bodies_are_400(client, acct, body):
    r = client.simulate_put(acct.base + "/faxes", body=body,
                            headers={**acct.headers, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json["status"] == "error"


def test_huge_body_is_413(client, acct):
    r = client.simulate_put(acct.base + "/faxes", body=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                            headers={**acct.headers, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json["error"] == "413"


def test_huge_document_is_413(client, acct, config):
    big = b"%PDF-1.4\n" + b"0" * (config.max_upload_bytes + 10)
    body, ctype = curl_multipart_mixed(_job(document=None), big)
    r = client.simulate_put(acct.base + "/faxes", body=body, headers={**acct.headers, "Content-Type": ctype})
    assert r.status_code == 413


def test_chunked_upload_without_length_is_411(client, acct):
    r = client.simulate_put(acct.base + "/faxes", body=b"", headers={
        **acct.headers, "Content-Type": "multipart/mixed; boundary=x", "Transfer-Encoding": "chunked"})
    assert r.status_code == 411


@pytest.mark.parametrize("ctype", ["application/xml", "image/png", "multipart/related; boundary=x"])
def test_unsupported_media_type_is_415(client, acct, ctype):
    r = client.simulate_put(acct.base + "/faxes", body=b"<x/>", headers={**acct.headers, "Content-Type": ctype})
    assert r.status_code == 415 and r.json["status"] == "error"


def test_unsupported_document_is_415(client, acct):
    body, ctype = curl_multipart_mixed(_job(document=None), b"\x00\x01garbage\x02" * 50, "application/pdf")
    r = client.simulate_put(acct.base + "/faxes", body=body, headers={**acct.headers, "Content-Type": ctype})
    assert r.status_code == 415 and "document" in r.json["data"]


@pytest.mark.parametrize("body", [
    b"garbage", b"--x\r\nContent-Type: application/json\r\n\r\n{bad\r\n--x--\r\n",
    b"--x\r\nContent-Disposition: attachment; name=\"content\"\r\n\r\nabc\r\n--x--\r\n",
])
def test_malformed_multipart_is_400(client, acct, body):
    r = client.simulate_put(acct.base + "/faxes", body=body,
                            headers={**acct.headers, "Content-Type": "multipart/mixed; boundary=x"})
    assert r.status_code == 400, r.text


def test_multipart_without_document_is_400(client, acct):
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\n"
            f"Content-Type: application/json\r\n\r\n{json.dumps({'data': _job(document=None)})}\r\n--{boundary}--\r\n")
    r = client.simulate_put(acct.base + "/faxes", body=body.encode(),
                            headers={**acct.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400 and "document" in r.json["data"]


def test_multipart_form_data_as_curl_F_sends_it(client, acct, store):
    boundary = "------------------------abcdef"
    pdf = make_pdf()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n"
            f"{json.dumps({'data': _job(document=None)})}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + pdf + f"\r\n--{boundary}--\r\n".encode()
    r = client.simulate_put(acct.base + "/faxes", body=body,
                            headers={**acct.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 201, r.text
    assert [d["filename"] for d in store.list_documents(job_id=r.json["data"]["id"])] == ["a.pdf"]


def test_unacceptable_accept_is_406(client, acct):
    r = client.simulate_get(acct.base + "/faxes/outgoing", headers={**acct.headers, "Accept": "text/html"})
    assert r.status_code == 406 and r.json["error"] == "406"


def test_attachment_accept_and_disposition(client, acct, store):
    fax = _put(client, acct, _job()).json["data"]["id"]
    url = f"{acct.base}/faxes/outbox/{fax}/attachment"
    assert client.simulate_get(url, headers=acct.headers).status_code == 404   # not final yet
    finish_job(store, fax, status="failed", pdf=make_pdf())
    assert client.simulate_get(url, headers={**acct.headers, "Accept": "text/html"}).status_code == 406
    r = client.simulate_get(url, headers={**acct.headers, "Accept": "image/tiff"})
    assert r.status_code == 404 and "TIFF" in r.json["message"]
    r = client.simulate_get(url + "?disposition=inline", headers={**acct.headers, "Accept": "application/pdf"})
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("inline;")
    assert client.simulate_get(url + "?disposition=bogus", headers=acct.headers).status_code == 400


@pytest.mark.parametrize("payload,field", [
    ({"action": "explode", "data": {}}, "action"),
    ({"data": {}}, "action"),
    ({"action": "resubmit", "data": {"retries": 7}}, "retries"),
    ({"action": "resubmit", "data": {"to_number": "12"}}, "to_number"),
])
def test_bad_actions_are_400(client, acct, store, payload, field):
    fax = _put(client, acct, _job()).json["data"]["id"]
    finish_job(store, fax)
    r = client.simulate_put(f"{acct.base}/faxes/outbox/{fax}", json=payload, headers=acct.headers)
    assert r.status_code == 400 and field in r.json["data"], r.text


def test_unknown_routes_methods_and_ids(client, acct):
    assert client.simulate_get(acct.base + "/faxes/nothing", headers=acct.headers).status_code == 404
    assert client.simulate_post(acct.base + "/faxes/outbox", headers=acct.headers).status_code == 405
    r = client.simulate_get(acct.base + "/faxes/outgoing/" + "%00%27;drop", headers=acct.headers)
    assert r.status_code == 404 and r.json["status"] == "error"
    r = client.simulate_get(acct.base + "/faxes/outgoing/" + "a" * 32, headers=acct.headers)
    assert r.status_code == 404


@pytest.mark.parametrize("query,param", [
    ("page_size=0", "page_size"), ("page_size=100000", "page_size"), ("page_size=x", "page_size"),
    ("start_key=nonsense", "start_key"), ("start_key=%5B1%5D", "start_key"), ("start_key=%5Bx", "start_key"), ("ascending=maybe", "ascending"), ("paginate=2", "paginate"),
    ("created_from=-5", "created_from"), ("created_to=1e9", "created_to"),
    ("filter_bad%20name=1", "filter_bad name"),
])
def test_bad_listing_parameters_are_400(client, acct, query, param):
    r = client.simulate_get(acct.base + "/faxes/outbox?" + query, headers=acct.headers)
    assert r.status_code == 400, r.text
    assert param in r.json["data"]


def test_a_huge_number_kept_in_a_document_is_shown_back(client, acct):
    """1e64 is stored by jsonb as a 65-digit integer; showing it back must not be a 500."""
    r = client.simulate_put(acct.base + "/faxboxes", headers=acct.headers,
                            json={"data": {"name": "big", "extra": {"n": 1.5e64}}})
    assert r.status_code == 201, r.text
    got = client.simulate_get(f"{acct.base}/faxboxes/{r.json['data']['id']}", headers=acct.headers)
    assert got.status_code == 200 and got.json["data"]["extra"]["n"] == 15 * 10 ** 63

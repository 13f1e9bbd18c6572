"""What errors tell a client: what to do, never internals (heap addresses, object reprs); and
inputs the documentation promises are accepted."""
from __future__ import annotations

import re

from faxd.documents import DocumentPipeline
from faxd.errors import public_text
from faxd.outbound.attacher import Attacher
from tests.unit.api.conftest import URL_JOB
from tests.unit.api.helpers import curl_multipart_mixed, make_pdf

HEAP = re.compile(r"0x[0-9a-f]{6,}|object at")


def test_a_damaged_pdf_fails_its_job_without_a_heap_address(client, store, acct, config):
    pdf = make_pdf()
    body, ctype = curl_multipart_mixed({k: v for k, v in URL_JOB.items() if k != "document"}, pdf[:len(pdf) // 2])
    r = client.simulate_put(acct.base + "/faxes", headers={**acct.headers, "Content-Type": ctype}, body=body)
    assert r.status_code == 201, r.text
    fax_id = r.json["data"]["id"]
    attacher = Attacher(config, store, DocumentPipeline(config), "node-texts")
    job = store.claim_attaching_job("node-texts", 60)
    assert job.id == fax_id
    attacher.attach(job)
    r = client.simulate_get(f"{acct.base}/faxes/outbox/{fax_id}", headers=acct.headers)
    message = r.json["data"]["tx_result"]["error_message"]
    assert r.json["data"]["status"] == "failed" and "PDF is damaged" in message
    assert not HEAP.search(message), message


def test_public_text_drops_object_reprs_only():
    assert public_text("the PDF is damaged and cannot be read (stream <_io.BytesIO object at 0x7f686f5db150>: "
                       "unable to find trailer dictionary)") == \
        "the PDF is damaged and cannot be read (unable to find trailer dictionary)"
    assert public_text("cannot identify image file <_io.BytesIO object at 0x7f1a2b3c4d5e>") == \
        "cannot identify image file"
    assert public_text("page 2 <of 3> at 0x10 dpi") == "page 2 <of 3> at 0x10 dpi"


def test_webhook_url_takes_a_list_as_documented(client, acct):
    urls = ["https://hooks.example.com/a", "https://hooks.example.com/b"]
    job = {**URL_JOB, "notifications": {"webhook": {"url": urls}}}
    r = client.simulate_put(acct.base + "/faxes", headers=acct.headers, json={"data": job})
    assert r.status_code == 201, r.text
    assert r.json["data"]["notifications"]["webhook"]["url"] == urls
    for bad, rule in ((["https://ok.example.com/", "ftp://x/"], "format"), ([1], "type"), ({"u": 1}, "type"),
                      ([f"https://h.example.com/{i}" for i in range(11)], "maxItems")):
        job = {**URL_JOB, "notifications": {"webhook": {"url": bad}}}
        r = client.simulate_put(acct.base + "/faxes", headers=acct.headers, json={"data": job})
        assert r.status_code == 400 and rule in r.json["data"]["notifications.webhook.url"], r.text


def test_a_huge_number_in_a_document_is_not_a_500(client, acct):
    r = client.simulate_put(acct.base + "/faxboxes", headers=acct.headers,
                            body='{"data": {"name": "big", "x": 123456789012345678901234567890}}')
    assert r.status_code == 201, r.text
    r = client.simulate_get(f"{acct.base}/faxboxes/{r.json['data']['id']}", headers=acct.headers)
    assert r.status_code == 200 and r.json["data"]["x"] > 2 ** 64

"""A cover page on a real fax: asked for through the API, drawn by the document pipeline, sent
over T.30 on the software line to a faxbox of the same server, and read back from the inbox
by OCR: the cover first, then the document, the page counts including the cover."""
from __future__ import annotations

import gevent
import requests

from tests import reading
from tests.integration.engine.harness import fast, running, wait_final, wait_inbox
from tests.unit.api.helpers import curl_multipart_mixed

LETTER = b"Dear customer,\n\nthe parcel left our warehouse this morning.\n"


def _session(daemon, api_key):
    token = requests.put(f"{daemon.base_url}/v2/api_auth", json={"data": {"api_key": api_key}},
                         timeout=10).json()["auth_token"]
    return {"X-Auth-Token": token}


def test_a_cover_page_is_received_first_and_reads_back(config, store):
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with running(fast(config)) as daemon:
        headers = _session(daemon, boot.api_key)
        base = f"{daemon.base_url}/v2/accounts/{boot.account_id}"
        r = requests.post(f"{base}/faxboxes/{boot.faxbox_id}", headers=headers, timeout=10,
                          json={"data": {"name": "Shipping", "numbers": ["+12025550100"], "cover_templates": {
                              "short": "# Shipping notice from $faxbox_name\nFor $to_name: $subject"}}})
        assert r.status_code == 200, r.text
        jobs = []
        for cover in ({"to_name": "Dr. Ada Lovelace", "subject": "Parcel 4711 dispatched",
                       "message": "The tracking number follows on the next page."},
                      {"to_name": "Dr. Ada Lovelace", "subject": "Parcel 4711 dispatched", "template": "short"}):
            meta = {"from_number": "+12025550100", "from_name": "ACME Shipping", "to_number": "+12025550100",
                    "faxbox_id": boot.faxbox_id, "cover_page": cover}
            body, ctype = curl_multipart_mixed(meta, LETTER, "text/plain")
            r = requests.put(f"{base}/faxes", data=body, headers={**headers, "Content-Type": ctype}, timeout=30)
            assert r.status_code == 201, r.text
            job_id = r.json()["data"]["id"]
            job = wait_final(store, boot.account_id, [job_id])[job_id]
            assert job["status"] == "completed" and job["page_count"] == 2 == job["tx_result"]["pages_sent"]
            jobs.append(job)
        rows = wait_inbox(store, boot.account_id)
        while len(rows) < 2:
            gevent.sleep(0.1)
            rows = wait_inbox(store, boot.account_id)
    texts = []
    for row in sorted(rows, key=lambda r: r["id"]):
        fax = store.get_inbox_fax(boot.account_id, row["id"])
        assert fax["page_count"] == 2
        pages = reading.tiff_pages(bytes(store.get_inbox_document(boot.account_id, row["id"], "fax_tiff")["data"]))
        texts.append([reading.ocr(p) for p in pages])
    by_design = {"default" if "tracking number" in t[0] else "template": t for t in texts}
    default, template = by_design["default"], by_design["template"]
    for sentence in ("FAX", "Dr. Ada Lovelace", "ACME Shipping", "Parcel 4711 dispatched", "2 (this page included)",
                     "The tracking number follows on the next page."):
        reading.assert_reads(default[0], sentence, "default cover page")
    reading.assert_reads(template[0], "Shipping notice from Shipping", "template cover page")
    reading.assert_reads(template[0], "For Dr. Ada Lovelace: Parcel 4711 dispatched", "template cover page")
    for t in (default, template):
        reading.assert_reads(t[1], "the parcel left our warehouse this morning", "the document after the cover")


def test_cover_templates_that_could_read_a_file_or_run_code_are_refused(config, store):
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with running(fast(config)) as daemon:
        headers = _session(daemon, boot.api_key)
        base = f"{daemon.base_url}/v2/accounts/{boot.account_id}"
        for template in ("{{ open('/etc/passwd').read() }}", "${__import__('os').system('id')}", "$__globals__"):
            r = requests.post(f"{base}/faxboxes/{boot.faxbox_id}", headers=headers, timeout=10,
                              json={"data": {"name": "Evil", "cover_templates": {"evil": template}}})
            assert r.status_code == 400 and "cover_templates.evil" in r.json()["data"], r.text
        r = requests.put(f"{base}/faxes", headers=headers, timeout=10,
                         json={"data": {"document": {"url": "http://127.0.0.1:9/x.pdf"}, "from_number": "+12025550100",
                                        "to_number": "+12025550199", "cover_page": {"template": "evil"}}})
        assert r.status_code == 400 and "cover_page.template" in r.json()["data"], r.text

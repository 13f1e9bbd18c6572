"""Broadcast: one PUT /faxes to 20 numbers on the real engine. The document is converted once
(counted on the real pipeline), 20 jobs share a batch_id, and the batch summary ends with 19
sent and 1 failed (a reserved busy number)."""
from __future__ import annotations

import gevent
import requests

from faxd.documents.pipeline import DocumentPipeline
from faxd.switch.software import TEST_NUMBERS
from tests.integration.engine.harness import TEXT, fast, running
from tests.unit.api.helpers import curl_multipart_mixed

BUSY = next(n for n, t in TEST_NUMBERS.items() if t.behaviour == "busy")
REMOTES = [f"+120255502{i:02d}" for i in range(19)]


def _session(daemon, store, name):
    acct = store.create_account(name)
    token = requests.put(f"{daemon.base_url}/v2/api_auth", json={"data": {"api_key": acct.api_key}},
                         timeout=10).json()["auth_token"]
    return f"{daemon.base_url}/v2/accounts/{acct.account_id}", {"X-Auth-Token": token}


def test_a_broadcast_to_twenty_numbers_converts_once_and_sums_up(config, store, monkeypatch):
    conversions = []
    real = DocumentPipeline.convert

    def counted(self, *args, **kw):
        conversions.append(args)
        return real(self, *args, **kw)
    monkeypatch.setattr(DocumentPipeline, "convert", counted)
    with running(fast(config, retry_period=1)) as daemon:
        base, headers = _session(daemon, store, "broadcaster")
        recipients = [{"to_number": n, "to_name": f"Branch {i}"} for i, n in enumerate(REMOTES)]
        recipients.insert(7, {"to_number": BUSY})
        body, ctype = curl_multipart_mixed({"from_number": "+12025550100", "retries": 1, "recipients": recipients},
                                           TEXT, "text/plain")
        r = requests.put(f"{base}/faxes", data=body, headers={**headers, "Content-Type": ctype}, timeout=60)
        assert r.status_code == 201, r.text
        batch = r.json()["data"]
        assert len(batch["jobs"]) == 20 and batch["page_count"] == 1
        assert [j["to_number"] for j in batch["jobs"]] == [r["to_number"] for r in recipients]
        with gevent.Timeout(120, AssertionError("the batch did not finish")):
            while True:
                summary = requests.get(f"{base}/faxes/batches/{batch['batch_id']}", headers=headers,
                                       timeout=10).json()["data"]
                if summary["done"]:
                    break
                gevent.sleep(0.5)
        outbox = requests.get(f"{base}/faxes/outbox", params={"batch_id": batch["batch_id"], "page_size": 50},
                              headers=headers, timeout=10).json()["data"]
    assert len(conversions) == 1, "one conversion for the whole broadcast"
    assert summary["by_status"] == {"completed": 19, "failed": 1} and summary["total"] == 20
    busy_job = next(j["id"] for j in batch["jobs"] if j["to_number"] == BUSY)
    assert len(outbox) == 20 and [j["id"] for j in outbox if j["status"] == "failed"] == [busy_job]
    job = store.get_job(base.rsplit("/", 1)[1], batch["jobs"][0]["id"])
    assert job["to_name"] == "Branch 0" and job["batch_id"] == batch["batch_id"]


def test_broadcast_limits_and_mistakes_are_clear_400s(config, store):
    with running(fast(config, broadcast_max_recipients=5)) as daemon:
        base, headers = _session(daemon, store, "careless")
        url = {"document": {"url": "http://127.0.0.1:9/x.pdf"}, "from_number": "+12025550100"}

        def put(**fields):
            return requests.put(f"{base}/faxes", json={"data": {**url, **fields}}, headers=headers, timeout=10)
        r = put(to_number=[f"+1202555030{i}" for i in range(6)])
        assert r.status_code == 400 and "maxItems" in r.json()["data"]["recipients"]
        r = put(to_number=["+12025550301", "not a number", "+12025550301"])
        assert r.status_code == 400
        assert set(r.json()["data"]) == {"recipients.1.to_number", "recipients.2.to_number"}, r.text
        r = put(recipients=[{"to_number": "+12025550301", "from_number": "+1"}])
        assert r.status_code == 400 and "recipients.0" in r.json()["data"]
        r = put(to_number=[])
        assert r.status_code == 400
        r = put(to_number=["+12025550301"], cover_page={"subject": "x"})
        assert r.status_code == 400 and "cover_page" in r.json()["data"]
        # Unreachable document: nothing queued, the fetch error said.
        r = put(to_number=["+12025550301", "+12025550302"])
        assert r.status_code in (400, 422), r.text
        assert requests.get(f"{base}/faxes/outgoing", headers=headers, timeout=10).json()["data"] == []


def test_a_broadcast_job_can_be_resubmitted_from_its_fax(config, store):
    with running(fast(config)) as daemon:
        base, headers = _session(daemon, store, "again")
        body, ctype = curl_multipart_mixed({"from_number": "+12025550100", "to_number": REMOTES[:2]}, TEXT,
                                           "text/plain")
        batch = requests.put(f"{base}/faxes", data=body, headers={**headers, "Content-Type": ctype},
                             timeout=60).json()["data"]
        first = batch["jobs"][0]["id"]
        with gevent.Timeout(60, AssertionError("not final")):
            while requests.get(f"{base}/faxes/batches/{batch['batch_id']}", headers=headers,
                               timeout=10).json()["data"]["done"] is not True:
                gevent.sleep(0.3)
        r = requests.put(f"{base}/faxes/outbox/{first}", headers=headers, timeout=10,
                         json={"action": "resubmit", "data": {"to_number": REMOTES[5]}})
        assert r.status_code == 201, r.text
        again = r.json()["data"]["id"]
        with gevent.Timeout(60, AssertionError("resubmitted job not final")):
            while (job := store.get_job(base.rsplit("/", 1)[1], again))["status"] not in ("completed", "failed"):
                gevent.sleep(0.3)
    assert job["status"] == "completed" and job["page_count"] == 1

"""The API's promises kept end to end by the engine: URL and multipart documents, cancel of a
call in progress, resubmit, forward, and the T.38-to-audio fallback."""
import json
import time

import gevent
import gevent.pywsgi
import pytest
import requests

from faxd.switch.software import TEST_NUMBERS
from tests.integration.engine.harness import FINAL, TEXT, fast, running

REMOTE = "+12025550199"


def _number(behaviour):
    return next(n for n, t in TEST_NUMBERS.items() if t.behaviour == behaviour)


class Api:
    def __init__(self, base_url, account_id, api_key):
        self.base = f"{base_url}/v2/accounts/{account_id}"
        r = requests.put(f"{base_url}/v2/api_auth", json={"data": {"api_key": api_key}}, timeout=10)
        assert r.status_code == 201 or r.status_code == 200, r.text
        self.headers = {"X-Auth-Token": r.json()["auth_token"]}

    def call(self, method, path, **kw):
        return requests.request(method, self.base + path, headers={**self.headers, **kw.pop("headers", {})},
                                timeout=30, **kw)

    def wait(self, job_id, statuses=FINAL, timeout=60):
        with gevent.Timeout(timeout, AssertionError(f"job {job_id} never reached {statuses}")):
            while True:
                r = self.call("GET", f"/faxes/outgoing/{job_id}")
                if r.status_code == 404:
                    r = self.call("GET", f"/faxes/outbox/{job_id}")
                job = r.json()["data"]
                if job["status"] in statuses:
                    return job
                gevent.sleep(0.1)


@pytest.fixture
def document_server():
    """A loopback HTTP server serving one text document."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return [TEXT]
    server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    yield f"http://127.0.0.1:{server.server_port}/fax.txt"
    server.stop()


def _fax(to, **extra):
    d = {"to_number": to, "from_number": "+12025550100", "from_name": "Tests", "retries": 1}
    d.update(extra)
    return d


def test_url_document_is_fetched_converted_and_sent(config, store, document_server):
    acct = store.create_account("acme")
    with running(fast(config, fetch_allow=("127.0.0.1/32",))) as d:
        api = Api(d.base_url, acct.account_id, acct.api_key)
        r = api.call("PUT", "/faxes", json={"data": _fax(REMOTE, document={"url": document_server,
                                                                           "method": "get"})})
        assert r.status_code in (200, 201), r.text
        job = api.wait(r.json()["data"]["id"])
    assert job["status"] == "completed", job["tx_result"]
    assert job["tx_result"]["pages_sent"] == 1


def test_multipart_upload_is_sent(config, store):
    acct = store.create_account("acme")
    with running(fast(config)) as d:
        api = Api(d.base_url, acct.account_id, acct.api_key)
        r = api.call("PUT", "/faxes", files=[
            ("content", ("fax.json", json.dumps({"data": _fax(REMOTE)}), "application/json")),
            ("content", ("a.txt", TEXT, "text/plain")),
            ("content", ("b.txt", TEXT, "text/plain")),
        ])
        assert r.status_code in (200, 201), r.text
        job = api.wait(r.json()["data"]["id"])
    assert job["status"] == "completed", job["tx_result"]
    assert job["tx_result"]["pages_sent"] == 2 == job["page_count"]


def test_cancel_hangs_up_a_call_in_progress(config, store):
    acct = store.create_account("acme")
    with running(fast(config, originate_timeout=30)) as d:
        api = Api(d.base_url, acct.account_id, acct.api_key)
        job_id = store.enqueue_job(acct.account_id, _fax(_number("no_answer")),
                                   documents=[(TEXT, "text/plain", "a.txt")])["id"]
        api.wait(job_id, statuses=("processing",))
        with gevent.Timeout(10):
            while True:  # live progress: the call is ringing
                live = api.call("GET", f"/faxes/outgoing/{job_id}").json()["data"]
                if live["progress"]["stage"] == "originate" and live["progress"]["text"] == "Dialling":
                    break
                gevent.sleep(0.05)
        r = api.call("DELETE", f"/faxes/outgoing/{job_id}")
        assert r.status_code in (200, 202), r.text
        job = api.wait(job_id, timeout=15)
    assert job["status"] == "cancelled"
    assert job["tx_result"]["error_message"] == "cancelled by user"
    assert job["attempt_history"][-1]["outcome"] == "cancelled"


def test_resubmit_sends_the_same_document_again(config, store):
    acct = store.create_account("acme")
    with running(fast(config)) as d:
        api = Api(d.base_url, acct.account_id, acct.api_key)
        first = store.enqueue_job(acct.account_id, _fax(_number("busy")),
                                  documents=[(TEXT, "text/plain", "a.txt")])["id"]
        assert api.wait(first)["status"] == "failed"
        r = api.call("PUT", f"/faxes/outbox/{first}", json={"action": "resubmit", "data": {"to_number": REMOTE}})
        assert r.status_code in (200, 201), r.text
        again = r.json()["data"]["id"]
        assert again != first
        job = api.wait(again)
    assert job["status"] == "completed"
    assert job["to_number"] == REMOTE


def test_forward_sends_a_received_fax_on(config, store):
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with running(fast(config)) as d:
        api = Api(d.base_url, boot.account_id, boot.api_key)
        store.enqueue_job(boot.account_id, _fax("+12025550100"), documents=[(TEXT, "text/plain", "a.txt")] * 2)
        with gevent.Timeout(30):
            while True:
                rows = api.call("GET", "/faxes/inbox").json()["data"]
                if rows:
                    break
                gevent.sleep(0.1)
        r = api.call("PUT", f"/faxes/inbox/{rows[0]['id']}",
                     json={"action": "forward", "data": {"to_number": REMOTE, "from_number": "+12025550100"}})
        assert r.status_code in (200, 201), r.text
        job = api.wait(r.json()["data"]["id"])
    assert job["status"] == "completed", job["tx_result"]
    assert job["tx_result"]["pages_sent"] == 2


def test_t38_refused_falls_back_to_audio(config, store):
    acct = store.create_account("acme")
    with running(fast(config, t38="request")) as d:
        api = Api(d.base_url, acct.account_id, acct.api_key)
        job_id = store.enqueue_job(acct.account_id, _fax(_number("no_t38")),
                                   documents=[(TEXT, "text/plain", "a.txt")])["id"]
        job = api.wait(job_id)
    assert job["status"] == "completed", job["attempt_history"]
    first, second = job["attempt_history"]
    assert first["outcome"] == "failed" and first["tx_result"]["t38_used"] is True
    assert second["outcome"] == "completed" and second["tx_result"]["t38_used"] is False


def test_ring_timeout_of_the_job_ends_an_unanswered_call_as_no_answer(config, store):
    """A job's ``ring_timeout`` is how long its call rings; the switch then hangs up NO_ANSWER,
    before the engine's originate watchdog (ring timeout + grace), whose cause would be a timeout."""
    acct = store.create_account("acme")
    with running(fast(config, originate_timeout=60)) as d:
        api = Api(d.base_url, acct.account_id, acct.api_key)
        started = time.monotonic()
        r = api.call("PUT", "/faxes", files=[
            ("content", ("fax.json", json.dumps({"data": _fax(_number("no_answer"), retries=0, ring_timeout=0.5)}),
                         "application/json")),
            ("content", ("a.txt", TEXT, "text/plain")),
        ])
        assert r.status_code == 201, r.text
        job = api.wait(r.json()["data"]["id"], timeout=30)
        elapsed = time.monotonic() - started
    assert job["status"] == "failed"
    (attempt,) = job["attempt_history"]
    assert attempt["tx_result"]["hangup_cause"] == "NO_ANSWER", attempt
    assert elapsed < 20, elapsed   # not the 60 s originate_timeout


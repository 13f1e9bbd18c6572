"""Just enough of the Faxes API to send a text fax and find it again, for tests of a whole faxd."""
from __future__ import annotations

import json
import time

import requests

TEXT = b"faxd test page\n" + b"The quick brown fox jumps over the lazy dog.\n" * 20
FINAL = ("completed", "failed", "cancelled")


class FaxClient:
    def __init__(self, base_url: str, account_id: str, api_key: str):
        self.base = f"{base_url}/v2/accounts/{account_id}"
        r = requests.put(f"{base_url}/v2/api_auth", json={"data": {"api_key": api_key}}, timeout=10)
        assert r.status_code in (200, 201), r.text
        self.headers = {"X-Auth-Token": r.json()["auth_token"]}

    def call(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, self.base + path, headers=self.headers, timeout=30, **kw)

    def send_text(self, to_number: str, from_number: str = "+12025550100", retries: int = 1) -> str:
        doc = {"to_number": to_number, "from_number": from_number, "from_name": "faxd tests", "retries": retries}
        r = self.call("PUT", "/faxes", files=[
            ("content", ("fax.json", json.dumps({"data": doc}), "application/json")),
            ("content", ("hello.txt", TEXT, "text/plain"))])
        assert r.status_code in (200, 201), r.text
        return r.json()["data"]["id"]

    def wait_final(self, job_id: str, timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            r = self.call("GET", f"/faxes/outgoing/{job_id}")
            if r.status_code == 404:
                r = self.call("GET", f"/faxes/outbox/{job_id}")
            assert r.status_code == 200, r.text
            job = r.json()["data"]
            if job["status"] in FINAL:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.2)

    def inbox(self) -> list[dict]:
        r = self.call("GET", "/faxes/inbox")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def wait_inbox(self, count: int, timeout: float = 30.0) -> list[dict]:
        """The receiving side records its fax on its own schedule, after the sender's completion."""
        deadline = time.monotonic() + timeout
        while len(rows := self.inbox()) < count:
            assert time.monotonic() < deadline, f"{len(rows)} faxes in the inbox, expected {count}"
            time.sleep(0.2)
        return rows

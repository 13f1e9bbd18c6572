"""The seed's curl commands, run with the real curl against the real server."""
from __future__ import annotations

import json
import subprocess

from tests.unit.api.helpers import finish_job, make_pdf, make_tiff


def curl(*args: str, timeout: float = 20) -> tuple[int, dict, bytes]:
    """Run curl; return (status, headers, body)."""
    out = subprocess.run(["curl", "-s", "-i", *args], capture_output=True, timeout=timeout, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, body


SEED_JOB = ('{"data":{"document":{"url":"http://myserver.com/fax.pdf","method":"get"},"retries":3,'
            '"from_name":"Test Fax","from_number":"18884732963","to_name":"To Name","to_number":"18884732963"}}')


def test_seed_put_faxes_with_curl_d(server, account):
    account_id, token = account
    status, headers, body = curl("-X", "PUT", "-H", f"X-Auth-Token: {token}", "-d", SEED_JOB,
                                 f"{server}/v2/accounts/{account_id}/faxes")
    assert status == 201, body
    doc = json.loads(body)
    assert doc["status"] == "success" and doc["data"]["retries"] == 3 and doc["auth_token"] == token
    assert headers["content-type"].startswith("application/json")


def test_seed_multipart_mixed_with_curl_F(server, account, tmp_path, store):
    account_id, token = account
    (tmp_path / "fax.json").write_text(json.dumps({"data": {
        "retries": 3, "from_name": "Test Fax", "from_number": "18884732963", "to_name": "To Name",
        "to_number": "18884732963"}}))
    pdf = make_pdf()
    (tmp_path / "fax.pdf").write_bytes(pdf)
    status, _, body = curl(
        "-X", "PUT", "-H", "Content-Type: multipart/mixed",
        "-F", f"content=@{tmp_path / 'fax.json'}; type=application/json",
        "-F", f"content=@{tmp_path / 'fax.pdf'}; type=application/pdf",
        "-H", f"X-Auth-Token: {token}", f"{server}/v2/accounts/{account_id}/faxes")
    assert status == 201, body
    job = json.loads(body)["data"]
    assert store.get_document(job_id=job["id"], role="original")["data"] == pdf


def test_chunked_upload_is_411_not_500(server, account, tmp_path):
    account_id, token = account
    (tmp_path / "fax.pdf").write_bytes(make_pdf())
    status, _, body = curl(
        "-X", "PUT", "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: multipart/mixed",
        "-F", f"content=@{tmp_path / 'fax.pdf'}; type=application/pdf",
        "-H", f"X-Auth-Token: {token}", f"{server}/v2/accounts/{account_id}/faxes")
    assert status == 411, body
    assert json.loads(body)["status"] == "error"


def test_attachment_download_with_curl(server, account, store):
    account_id, token = account
    _, _, body = curl("-X", "PUT", "-H", f"X-Auth-Token: {token}", "-d", SEED_JOB,
                      f"{server}/v2/accounts/{account_id}/faxes")
    fax_id = json.loads(body)["data"]["id"]
    tiff = make_tiff(pages=2)
    finish_job(store, fax_id, tiff=tiff, pages=2)
    url = f"{server}/v2/accounts/{account_id}/faxes/outbox/{fax_id}/attachment"
    status, headers, body = curl("-H", f"X-Auth-Token: {token}", url + "?disposition=inline")
    assert status == 200 and body.startswith(b"%PDF") and headers["content-disposition"].startswith("inline")
    status, headers, body = curl("-H", f"X-Auth-Token: {token}", "-H", "Accept: image/tiff", url)
    assert status == 200 and body == tiff and headers["content-type"] == "image/tiff"

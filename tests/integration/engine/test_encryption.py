"""Encryption at rest on the real engine: a fax sent and received with a document key file is
stored sealed (no PDF or TIFF in the database, high entropy), sends and reads back as usual,
survives a key rotation, and a wrong key fails with a clear 503, not a crash."""
from __future__ import annotations

import math
from collections import Counter

import psycopg2
import requests
from falcon import testing

from faxd.api.app import create_app
from faxd.errors import DocumentKeyError
from faxd.rekey import Rekeyer
from faxd.store import PostgresStore
from faxd.store.crypto import DocumentCipher, new_key_line
from tests.integration.engine.harness import fast, running, wait_final, wait_inbox
from tests.unit.api.helpers import curl_multipart_mixed, make_pdf


def _entropy(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def _stored(dsn, account_id):
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT role, key_id, data FROM documents WHERE account_id = %s", (account_id,))
        rows = [(role, key_id, bytes(data)) for role, key_id, data in cur.fetchall()]
    conn.close()
    return rows


def test_documents_are_sealed_sent_received_rotated_and_a_wrong_key_is_clear(config, store, dsn, tmp_path):
    k1 = new_key_line("k1")
    (tmp_path / "keys").write_text(k1 + "\n")
    boot = store.bootstrap("+12025550100", "fax.localhost", "faxd")
    with running(fast(config, document_key_file=str(tmp_path / "keys"))) as daemon:
        token = requests.put(f"{daemon.base_url}/v2/api_auth", json={"data": {"api_key": boot.api_key}},
                             timeout=10).json()["auth_token"]
        base = f"{daemon.base_url}/v2/accounts/{boot.account_id}"
        body, ctype = curl_multipart_mixed({"from_number": "+12025550100", "to_number": "+12025550100"}, make_pdf())
        r = requests.put(f"{base}/faxes", data=body, timeout=30, headers={"X-Auth-Token": token, "Content-Type": ctype})
        assert r.status_code == 201, r.text
        job_id = r.json()["data"]["id"]
        assert wait_final(store, boot.account_id, [job_id])[job_id]["status"] == "completed"
        inbox_id = wait_inbox(store, boot.account_id)[0]["id"]
        sent = requests.get(f"{base}/faxes/outbox/{job_id}/attachment", headers={"X-Auth-Token": token}, timeout=10)
        received = requests.get(f"{base}/faxes/inbox/{inbox_id}/attachment", headers={"X-Auth-Token": token},
                                timeout=10)
    assert sent.status_code == 200 and sent.content.startswith(b"%PDF")
    assert received.status_code == 200 and received.content.startswith(b"%PDF")
    rows = _stored(dsn, boot.account_id)
    assert {role for role, _, _ in rows} >= {"original", "fax_tiff", "pdf"} and len(rows) >= 5
    for role, key_id, data in rows:
        assert key_id == "k1", role
        assert data.startswith(b"FAXDENC1") and b"%PDF-" not in data[:64], role
        assert _entropy(data) > 7.0, role

    # Rotation: a new key first, the old one kept to open what it sealed; the rekeyer moves all.
    (tmp_path / "keys").write_text(new_key_line("k2") + "\n" + k1 + "\n")
    rotated = PostgresStore(dsn, 2, cipher=DocumentCipher.from_file(str(tmp_path / "keys")))
    try:
        assert Rekeyer(rotated, batch=2).run_once() >= len(rows)
        assert {key_id for _, key_id, _ in _stored(dsn, boot.account_id)} == {"k2"}
        assert rotated.get_job_document(boot.account_id, job_id, "pdf")["data"] == sent.content
        assert rotated.get_inbox_document(boot.account_id, inbox_id, "pdf")["data"] == received.content
    finally:
        rotated.close()

    # A wrong key under the right id: a clear error from the store, a 503 naming it from the API.
    (tmp_path / "wrong").write_text(new_key_line("k2") + "\n")
    wrong = PostgresStore(dsn, 2, cipher=DocumentCipher.from_file(str(tmp_path / "wrong")))
    try:
        try:
            wrong.get_job_document(boot.account_id, job_id, "pdf")
            raise AssertionError("a wrong key opened the document")
        except DocumentKeyError as e:
            assert "does not open with key 'k2'" in str(e)
        client = testing.TestClient(create_app(config, wrong))
        auth = client.simulate_put("/v2/api_auth", json={"data": {"api_key": boot.api_key}}).json["auth_token"]
        r = client.simulate_get(f"/v2/accounts/{boot.account_id}/faxes/outbox/{job_id}/attachment",
                                headers={"X-Auth-Token": auth})
        assert r.status_code == 503 and "does not open with key 'k2'" in r.json["message"]
    finally:
        wrong.close()

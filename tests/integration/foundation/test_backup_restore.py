"""``faxd backup`` while faxes are being sent, ``faxd restore`` into a fresh home: every job,
document and received fax is there, counted and compared byte for byte (docs/operations.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import requests

from tests.integration.foundation.daemon import ROOT, FaxdProcess
from tests.integration.foundation.fax_client import FaxClient

REMOTE = "+12025550199"   # the software line's built-in remote fax machine: no inbox fax


def _faxd(home, *args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    env.update(FAXD_HOME=str(home), PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m", "faxd", *args], env=env, capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _all(client, folder):
    r = client.call("GET", f"/faxes/{folder}", params={"paginate": "false"})
    assert r.status_code == 200, r.text
    return {row["id"]: row for row in r.json()["data"]}


def _attachment(client, folder, fax_id):
    r = requests.get(f"{client.base}/faxes/{folder}/{fax_id}/attachment", timeout=30,
                     headers={**client.headers, "Accept": "image/tiff"})
    assert r.status_code == 200, (folder, fax_id, r.status_code, r.text[:200])
    return r.content


def test_backup_under_load_restores_into_a_fresh_home(tmp_path):
    os.chmod(tmp_path, 0o755)
    home_a, home_b, backup_dir = tmp_path / "a", tmp_path / "b", tmp_path / "backup"
    from faxd.notify.signing import load_or_create_secret
    load_or_create_secret(str(home_a / "webhook.key"))   # as the first signed webhook would
    a = FaxdProcess({"FAXD_HOME": str(home_a), "FAXD_SMTP_LISTEN": "", "FAXD_RETRY_PERIOD": "1"}).wait_ready()
    b = None
    try:
        boot = a.bootstrap
        client = FaxClient(a.base_url, boot["account_id"], boot["api_key"])
        # Received faxes first: the bootstrap number routes back into its own inbox.
        for job_id in [client.send_text(boot["fax_number"]) for _ in range(3)]:
            assert client.wait_final(job_id)["status"] == "completed"
        # Then keep sending while the backup runs.
        stop, sent = threading.Event(), []

        def load():
            while not stop.is_set() and len(sent) < 40:   # bounded: the restored home sends the rest
                sent.append(client.send_text(REMOTE))
                stop.wait(0.05)
        sender = threading.Thread(target=load)
        sender.start()
        try:
            while len(sent) < 10:
                stop.wait(0.05)
            manifest = json.loads(_faxd(home_a, "backup", str(backup_dir)).stdout)
        finally:
            stop.set()
            sender.join()
        counts = manifest["counts"]
        print("backup manifest:", counts, "faxes queued during the run:", len(sent))
        assert counts["jobs_not_final"] > 0, counts          # taken while faxes were on their way
        assert 13 <= counts["jobs"] <= 3 + len(sent) and counts["inbox"] == 3, (counts, len(sent))
        assert counts["documents"] > 3 * counts["inbox"]
        assert sorted(manifest["files"]) == ["bootstrap.json", "webhook.key"]
        assert oct(os.stat(backup_dir / "database.dump").st_mode & 0o777) == "0o600"

        # A backup directory is refused as a target of another backup, a used home as a restore target.
        assert _faxd(home_a, "backup", str(backup_dir), check=False).returncode == 1
        refused = _faxd(home_a, "restore", str(backup_dir), check=False)
        assert refused.returncode == 1 and "already holds" in refused.stderr

        restored = json.loads(_faxd(home_b, "restore", str(backup_dir)).stdout)
        assert restored["counts"] == counts
        for name in ("bootstrap.json", "webhook.key"):
            assert (home_b / name).read_bytes() == (home_a / name).read_bytes()

        # The restored home serves the same account, key, jobs and faxes.
        b = FaxdProcess({"FAXD_HOME": str(home_b), "FAXD_SMTP_LISTEN": ""}).wait_ready()
        assert b.bootstrap is None   # not a new bootstrap account: the restored one
        client_b = FaxClient(b.base_url, boot["account_id"], boot["api_key"])
        jobs_b = {**_all(client_b, "outgoing"), **_all(client_b, "outbox")}
        jobs_a = {**_all(client, "outgoing"), **_all(client, "outbox")}
        assert len(jobs_b) == counts["jobs"] and set(jobs_b) <= set(jobs_a)
        inbox_b, inbox_a = _all(client_b, "inbox"), _all(client, "inbox")
        assert len(inbox_b) == 3 and set(inbox_b) == set(inbox_a)
        for fax_id in inbox_b:
            assert _attachment(client_b, "inbox", fax_id) == _attachment(client, "inbox", fax_id)
        done_before = [j for j, row in jobs_b.items() if row["status"] == "completed"]
        assert done_before
        for job_id in done_before:
            assert _attachment(client_b, "outbox", job_id) == _attachment(client, "outbox", job_id)
        # Jobs that were on their way at backup time go on from the restored home, as after a
        # crash: one on a call then has that attempt counted as interrupted (retried when it has
        # retries left); the others are sent.
        for job_id, row in jobs_b.items():
            if row["status"] not in ("completed", "failed", "cancelled"):
                final = client_b.wait_final(job_id)
                outcomes = [a["outcome"] for a in final["attempt_history"]]
                assert final["status"] == "completed" or outcomes[-1] == "interrupted", (final["tx_result"], outcomes)
    except BaseException:
        if b is not None:
            b.stop()
            print("restored home's faxd:", b.stderr_text()[-5000:])
        raise
    finally:
        if b is not None:
            b.stop()
        assert a.stop() == 0

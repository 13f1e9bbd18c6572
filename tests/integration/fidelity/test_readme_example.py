"""README's "Send a fax in a minute", run as written, and the fax it sends read with OCR.

The shell block is taken from README.md itself (a changed example is a changed test) and run
with bash in the directory where ``faxd run`` keeps its default home (``./var``, with the
embedded PostgreSQL, as on a clean checkout). Only the documented API address is replaced by
the free port this test's server listens on.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import requests

from faxd.store import cluster_place

from tests import reading
from tests.integration.foundation.daemon import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DOCUMENTED_API = "127.0.0.1:8000"


def readme_block(heading: str) -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split(heading, 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_send_a_fax_in_a_minute_arrives_readable(tmp_path):
    script = readme_block("### Send a fax in a minute")
    assert DOCUMENTED_API in script and 'echo "Hello from faxd" > hello.txt' in script
    api = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    env.update(FAXD_API_LISTEN=api, FAXD_SMTP_LISTEN="", PYTHONPATH=ROOT)
    os.chmod(tmp_path, 0o755)
    log = open(tmp_path / "faxd.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "faxd", "run"], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        base = f"http://{api}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "faxd.log").read_text()
            try:
                if requests.get(base + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "faxd did not start"
            time.sleep(0.2)
        run = subprocess.run(["bash", "-e", "-c", script.replace(DOCUMENTED_API, api)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60, env=env)
        assert run.returncode == 0, run.stderr
        assert '"status": "success"' in run.stdout or '"status":"success"' in run.stdout, run.stdout

        boot = json.loads((tmp_path / "var" / "bootstrap.json").read_text())
        token = requests.put(base + "/v2/api_auth", json={"data": {"api_key": boot["api_key"]}},
                             timeout=10).json()["auth_token"]
        headers = {"X-Auth-Token": token}
        inbox = f"{base}/v2/accounts/{boot['account_id']}/faxes/inbox"
        deadline = time.monotonic() + 60
        while not (faxes := requests.get(inbox, headers=headers, timeout=10).json()["data"]):
            assert time.monotonic() < deadline, "the fax never reached the inbox"
            time.sleep(0.2)
        pdf = requests.get(f"{inbox}/{faxes[0]['id']}/attachment", headers={**headers, "Accept": "application/pdf"},
                           timeout=30).content
        (page,) = reading.pdf_pages(pdf)
        text = reading.ocr(reading.without_header(page))
        reading.assert_reads(text, "Hello from faxd", "the README's fax in the inbox")
        assert reading.black_share(page) < 0.02
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        finally:
            log.close()
            if proc.poll() is None:
                proc.kill()
            # As root under pytest's 0700 temporary root, the embedded cluster lives outside the home.
            shutil.rmtree(cluster_place.place_for(os.path.realpath(tmp_path / "var")), ignore_errors=True)

"""The manual's shell examples, run as written against a real ``faxd run``.

Every fenced ```sh block of README.md and docs/*.md is a test (a changed example is a changed
test), unless the line before it is ``<!-- no-test: <why> -->``. A document's blocks run in
order, as a reader follows them (a later block may rely on what an earlier one set up, never
on another document). Each block runs with bash in
the directory where ``faxd run`` keeps its default home (``./var``, embedded PostgreSQL), with
the documented addresses (127.0.0.1:8000 for the API, 127.0.0.1:2525 for SMTP) replaced by the
free ports this server listens on (its SMTP gateway with a self-signed certificate, so that
STARTTLS examples run), ``set -e -o pipefail``, and ``curl`` failing on an HTTP
error (``--fail-with-body``). A block passes when it exits 0 and its output shows what its
``# -> ...`` comments promise: the JSON keys of a ``# -> {...}``, or the text before ``...``.

The documents the examples send (``fax.pdf``, ``invoice.pdf``, ``letter.pdf``) are made here: the manual
assumes the reader has a PDF to fax.

Also here: the field names the docs' tables list exist in /v2/openapi.json and in real responses.
"""
from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import requests

from tests.integration.fidelity.test_readme_example import ROOT
from tests.integration.foundation.daemon import free_port

DOCUMENTED_API, DOCUMENTED_SMTP = "127.0.0.1:8000", "127.0.0.1:2525"
DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]
NO_TEST = re.compile(r"<!--\s*no-test:\s*(.+?)\s*-->\s*$")
MAX_NO_TEST = 5   # the list stays short: a block that cannot run must say why


def shell_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """(line, script, reason it is not run or None) for every ```sh block."""
    out = []
    for m in re.finditer(r"^```sh\n(.*?)^```", text, re.S | re.M):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = NO_TEST.search(before)
        out.append((text[:m.start()].count("\n") + 1, m.group(1), skip.group(1) if skip else None))
    return out


def _collect():
    runnable, skipped = [], []
    for doc in DOCS:
        with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
            for line, script, reason in shell_blocks(f.read()):
                (skipped if reason else runnable).append((f"{doc}:{line}", script, reason))
    return runnable, skipped


RUNNABLE, SKIPPED = _collect()


def promises(script: str) -> list[str]:
    """What the output must contain, from the block's ``# -> ...`` comments."""
    out = []
    for expected in re.findall(r"#\s*->\s*(.+)$", script, re.M):
        expected = expected.strip()
        if expected.startswith("{"):
            out += [f'"{key}"' for key in re.findall(r'"(\w+)":', expected)]
        else:
            out.append(expected.split("...", 1)[0].strip())
    return [p for p in out if p]


def _pdf(text: str) -> bytes:
    import pikepdf
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    page = pdf.pages[0]
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.Contents = pdf.make_stream(f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode())
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``faxd run`` with its defaults in a fresh directory, on free ports."""
    cwd = tmp_path_factory.mktemp("manual")
    os.chmod(cwd, 0o755)
    api, smtp = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = ROOT
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=fax.localhost", "-keyout", str(cwd / "tls.key"), "-out", str(cwd / "tls.crt")],
                   check=True, capture_output=True)
    log = open(cwd / "faxd.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "faxd", "run"], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            env={**env, "FAXD_API_LISTEN": api, "FAXD_SMTP_LISTEN": smtp,
                                 "FAXD_SMTP_TLS_CERT": str(cwd / "tls.crt"),
                                 "FAXD_SMTP_TLS_KEY": str(cwd / "tls.key")})
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (cwd / "faxd.log").read_text()
            try:
                if requests.get(f"http://{api}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (cwd / "faxd.log").read_text()
            time.sleep(0.2)
        (cwd / "fax.pdf").write_bytes(_pdf("faxd manual example"))
        (cwd / "invoice.pdf").write_bytes(_pdf("Invoice 42"))
        (cwd / "letter.pdf").write_bytes(_pdf("Dear reader"))
        yield {"cwd": cwd, "api": api, "smtp": smtp, "env": env}
    finally:
        proc.send_signal(2)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def run_block(server, script: str) -> subprocess.CompletedProcess:
    script = script.replace(DOCUMENTED_API, server["api"]).replace(DOCUMENTED_SMTP, server["smtp"])
    prelude = 'set -e -o pipefail\ncurl() { command curl --fail-with-body "$@"; }\n'
    return subprocess.run(["bash", "-c", prelude + script], cwd=server["cwd"], env=server["env"],
                          capture_output=True, text=True, timeout=300)


def test_the_examples_that_do_not_run_are_few_and_say_why():
    assert len(SKIPPED) <= MAX_NO_TEST, [where for where, _, _ in SKIPPED]
    assert all(len(reason) > 20 for _, _, reason in SKIPPED)
    assert len(RUNNABLE) >= 8


@pytest.mark.parametrize("doc", sorted({w.split(":")[0] for w, _, _ in RUNNABLE}))
def test_examples_run_as_documented(server, doc):
    assert shutil.which("jq") and shutil.which("swaks"), "make setup installs jq and swaks"
    for where, script, _ in RUNNABLE:
        if where.split(":")[0] != doc:
            continue
        result = run_block(server, script)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{where} exited {result.returncode}:\n{output[-3000:]}"
        for promised in promises(script):
            assert promised in output, f"{where}: {promised!r} not in the output:\n{output[-3000:]}"


def test_a_broken_example_fails(server):
    """The harness itself: a wrong path, an HTTP error, a broken pipe and an unkept promise fail."""
    health = next(s for w, s, _ in RUNNABLE if w.startswith("README.md") and "/health" in s)
    assert run_block(server, health).returncode == 0
    assert run_block(server, health.replace("/health", "/healthz")).returncode != 0     # 404: curl fails
    assert run_block(server, "false | cat\n").returncode != 0                         # pipefail
    broken = health.replace('"status"', '"state"')
    result = run_block(server, broken)
    assert not all(p in result.stdout for p in promises(broken))


def test_readme_layout_names_every_package():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        layout = f.read().split("## Layout", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"^\s*([a-z_]+/)", layout, re.M))
    packages = {f"{d}/" for d in os.listdir(os.path.join(ROOT, "faxd"))
                if os.path.isfile(os.path.join(ROOT, "faxd", d, "__init__.py"))}
    top = {f"{d}/" for d in ("dialplan", "docker", "docs", "bench", "tests")}
    assert packages | top <= named, (packages | top) - named


# --- the docs' tables against the API description and real responses

def _spec(server):
    return requests.get(f"http://{server['api']}/v2/openapi.json", timeout=10).json()


def _table_fields(doc: str, row_start: str) -> list[str]:
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        row = next(line for line in f if line.startswith(row_start))
    return [name.strip() for group in re.findall(r"`([^`]+)`", row.split("|")[2]) for name in group.split(",")
            if re.fullmatch(r"[a-z_][a-z0-9_]*", name.strip())]


def test_listing_fields_in_the_endpoint_table_exist_in_the_description_and_responses(server):
    spec = _spec(server)["components"]["schemas"]
    job_summary = set(spec["JobSummary"]["properties"])
    smtplog = set(spec["SmtplogEntry"]["properties"])
    outgoing = _table_fields("docs/api.md", "| `GET /faxes/outgoing` |")
    outbox = _table_fields("docs/api.md", "| `GET /faxes/outbox`, `GET /faxes/outbox/{id}` |")
    smtp_fields = _table_fields("docs/api.md", "| `GET /faxes/smtplog[/{id}]` |")
    assert outgoing and set(outgoing) <= job_summary, set(outgoing) - job_summary
    listed = [f for f in outbox if f not in ("completed", "failed", "cancelled")]
    assert listed and set(listed) <= job_summary, set(listed) - job_summary
    assert smtp_fields and set(smtp_fields) <= smtplog, set(smtp_fields) - smtplog
    # and the same names in what the server answers
    boot = json.loads((server["cwd"] / "var" / "bootstrap.json").read_text())
    token = requests.put(f"http://{server['api']}/v2/api_auth", timeout=10,
                         json={"data": {"api_key": boot["api_key"]}}).json()["auth_token"]
    base = f"http://{server['api']}/v2/accounts/{boot['account_id']}"
    h = {"X-Auth-Token": token}
    job = requests.put(base + "/faxes", headers=h, timeout=10, json={"data": {
        "to_number": "+12025550101", "from_number": boot["fax_number"], "retries": 0,
        "document": {"url": "http://example.com/a.pdf"}}}).json()["data"]
    row = requests.get(base + "/faxes/outgoing", headers=h, timeout=10, params={"filter_id": job["id"]}).json()["data"]
    if row:   # still waiting (a fetch refused by policy finishes it quickly)
        assert set(outgoing) <= set(row[0]), set(outgoing) - set(row[0])
    deadline = time.monotonic() + 60
    while True:
        rows = requests.get(base + "/faxes/outbox", headers=h, timeout=10,
                            params={"filter_id": job["id"]}).json()["data"]
        if rows:
            break
        assert time.monotonic() < deadline, "the job never became final"
        time.sleep(0.5)
    assert set(listed) <= set(rows[0]), set(listed) - set(rows[0])


def test_smtplog_fields_named_in_the_smtp_doc_exist(server):
    with open(os.path.join(ROOT, "docs", "smtp-and-notifications.md"), encoding="utf-8") as f:
        text = f.read()
    paragraph = text.split("**The smtplog**", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", paragraph.split("Each row has", 1)[1].split("(`filename`")[0]))
    schema = set(_spec(server)["components"]["schemas"]["SmtplogEntry"]["properties"])
    assert named and named <= schema, named - schema


def test_job_fields_in_the_api_doc_exist_in_the_description(server):
    with open(os.path.join(ROOT, "docs", "api.md"), encoding="utf-8") as f:
        text = f.read()
    paragraph = text.split("The job document shows", 1)[1].split("\n\n", 1)[0]
    named = {n for n in re.findall(r"`([a-z_]+)`", paragraph) if n not in ("undefined",)}
    schema = _spec(server)["components"]["schemas"]["Job"]["properties"]
    assert named and named <= set(schema), named - set(schema)

"""Every kind of document, end to end, read back as a person would read the fax.

Each document of the gallery (tests/data/gallery) is sent through the real API, and two
emails through the real SMTP gateway, over real T.30 on the software line, in audio and in
T.38, to a faxbox of the same server. What arrives is read with Tesseract from the inbox's
PDF, from the outbox's PDF and from the PDF attached to the inbound notification email: the
document's own sentence must be there, on the right page, and the page's share of ink must be
close to a reference rendering of the source (Ghostscript, poppler, LibreOffice or Pillow;
never faxd's converter).
"""
from __future__ import annotations

import itertools
import json
import os
import smtplib
from email import policy
from email.message import EmailMessage

import gevent
import gevent.pool
import pytest
import requests

from faxd.config import Config
from tests import reading
from tests.conftest import create_database, drop_database, dsn_for
from tests.data.gallery import make_gallery as gallery
from tests.integration.engine.harness import FINAL, fast, running
from tests.integration.fidelity import references
from tests.integration.foundation.daemon import free_port
from tests.integration.smtp.helpers import SmtpSink

MODES = ("audio", "t38")
SENDER = "clerk@example.com"
# Ink inside the box around the ink, received page over reference rendering: a black page is
# ~10x, an empty one 0; thresholding, fax resolution and fit-to-page move it by a few percent.
INK_RATIO = (0.75, 1.33)

MANIFEST = gallery.load()
DOCS = {e["file"]: e for e in MANIFEST["documents"] if e["check"] != "geometry"}
EMAIL_KINDS = {
    "email-body": {"sentence": gallery.SENTENCES["email-body"], "pages": 1},
    "email-two-attachments": {"sentence": gallery.SENTENCES["postscript"], "pages": 2,
                              "page_sentences": [gallery.SENTENCES["postscript"], gallery.SENTENCES["png"]]},
}
KINDS = [*DOCS, *EMAIL_KINDS]


def _read(name: str) -> bytes:
    with open(os.path.join(gallery.HERE, name), "rb") as f:
        return f.read()


def email_body_text() -> str:
    return "\n".join([EMAIL_KINDS["email-body"]["sentence"], gallery.PANGRAM, gallery.ACCENTED,
                      "", "Kind regards,", "A person at a keyboard"])


def _email(kind: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, to, f"Gallery {kind}"
    if kind == "email-body":
        msg.set_content(email_body_text())
    else:
        msg.set_content("Two documents for you.\n-- \nA signature that is not faxed")
        msg.add_attachment(_read("program.ps"), maintype="application", subtype="postscript", filename="program.ps")
        msg.add_attachment(_read("image.png"), maintype="image", subtype="png", filename="image.png")
    return msg.as_bytes(policy=policy.SMTP)


class Api:
    def __init__(self, base: str, account_id: str, token: str):
        self.base, self.account_id = base, account_id
        self.s = requests.Session()
        self.s.headers["X-Auth-Token"] = token

    def url(self, path: str) -> str:
        return f"{self.base}/v2/accounts/{self.account_id}{path}"

    def put_json(self, path: str, data: dict) -> dict:
        r = self.s.put(self.url(path), json={"data": data}, timeout=30)
        assert r.status_code in (200, 201), r.text
        return r.json()["data"]

    def get(self, path: str, **kw) -> requests.Response:
        r = self.s.get(self.url(path), timeout=60, **kw)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        return r


@pytest.fixture(scope="module")
def sent(pg_admin_dsn, template_db, tmp_path_factory):
    """Send the whole gallery once; yield what each (kind, mode) became."""
    name = f"faxd_gallery_{os.getpid()}"
    create_database(pg_admin_dsn, name, template=template_db)
    sink = SmtpSink().start()
    smtp_port = free_port()
    home = tmp_path_factory.mktemp("gallery-home")
    config = Config.load(path=None, env={}, home=str(home), database_url=dsn_for(pg_admin_dsn, name))
    config = fast(config, smtp_listen=("127.0.0.1", smtp_port), smtp_relay=sink.address, smtp_domain="fax.test",
                  notify_retry_base=0.2, retry_period=1)
    try:
        with running(config) as daemon:
            yield _send_all(daemon, config, sink, smtp_port)
    finally:
        sink.stop()
        drop_database(pg_admin_dsn, name)


def _send_all(daemon, config, sink, smtp_port) -> dict:
    store = daemon.store
    acct = store.create_account("gallery")
    r = requests.put(f"{daemon.base_url}/v2/api_auth", json={"data": {"api_key": acct.api_key}}, timeout=30)
    api = Api(daemon.base_url, acct.account_id, r.json()["auth_token"])
    numbers = (f"+1202555{n:04d}" for n in itertools.count(3000))
    senders = {mode: api.put_json("/faxboxes", {
        "name": f"sender {mode}", "caller_name": "Gallery", "fax_header": "faxd gallery",
        "numbers": [next(numbers)], "media": {"fax_option": mode == "t38"},
        "smtp_permission_list": [SENDER]}) for mode in MODES}
    boxes, jobs = {}, {}
    for kind in KINDS:
        for mode in MODES:
            number = next(numbers)
            boxes[(kind, mode)] = api.put_json("/faxboxes", {
                "name": f"{kind} {mode}", "numbers": [number],
                "notifications": {"inbound": {"email": {"send_to": [f"rx-{kind}-{mode}@example.com"]}}}})
            sender = senders[mode]
            if kind in DOCS:
                doc = DOCS[kind]
                job = {"to_number": number, "from_number": sender["numbers"][0], "from_name": "Gallery"}
                r = api.s.put(api.url(f"/faxboxes/{sender['id']}/faxes"), timeout=60, files=[
                    ("content", ("fax.json", json.dumps({"data": job}), "application/json")),
                    ("content", (kind, _read(kind), doc["content_type"]))])
                assert r.status_code == 201, r.text
                jobs[(kind, mode)] = r.json()["data"]["id"]
            else:
                to = f"{number}@{sender['smtp_email_address']}"
                with smtplib.SMTP("127.0.0.1", smtp_port, timeout=120) as c:
                    c.sendmail(SENDER, [to], _email(kind, to))
                with store.transaction() as cur:
                    cur.execute("SELECT job_id FROM smtplog WHERE rcpt_to = %s", (to,))
                    jobs[(kind, mode)] = cur.fetchone()["job_id"]
    final = _wait_final(store, acct.account_id, jobs)
    inbox = _wait_inbox(store, acct.account_id, {key: box["id"] for key, box in boxes.items()})
    mails = _notification_mails(sink, {f"rx-{kind}-{mode}@example.com": (kind, mode) for kind, mode in boxes})
    out = {}
    for key, job_id in jobs.items():
        fax = inbox[key]
        out[key] = {
            "job": final[job_id], "inbox": fax,
            "inbox_pdf": api.get(f"/faxes/inbox/{fax['id']}/attachment", headers={"Accept": "application/pdf"}).content,
            "outbox_pdf": api.get(f"/faxes/outbox/{job_id}/attachment", headers={"Accept": "application/pdf"}).content,
            "mail_pdf": mails.get(key),
        }
    return out


def _wait_final(store, account_id, jobs, timeout=600.0) -> dict:
    pending, done = set(jobs.values()), {}
    with gevent.Timeout(timeout, AssertionError(f"jobs not final: {pending}")):
        while pending:
            for job_id in list(pending):
                job = store.get_job(account_id, job_id)
                if job["status"] in FINAL:
                    done[job_id] = job
                    pending.discard(job_id)
            gevent.sleep(0.2)
    return done


def _wait_inbox(store, account_id, faxboxes: dict, timeout=120.0) -> dict:
    wanted = {box: key for key, box in faxboxes.items()}
    found = {}
    with gevent.Timeout(timeout, AssertionError("faxes missing from the inbox")):
        while len(found) < len(wanted):
            with store.transaction() as cur:
                cur.execute("SELECT id, faxbox_id FROM inbox WHERE account_id = %s", (account_id,))
                for row in cur.fetchall():
                    if row["faxbox_id"] in wanted:
                        found[wanted[row["faxbox_id"]]] = store.get_inbox_fax(account_id, row["id"])
            gevent.sleep(0.2)
    return found


def _notification_mails(sink, by_address: dict, timeout=120.0) -> dict:
    found = {}
    with gevent.Timeout(timeout, False):
        while len(found) < len(by_address):
            _from, rcpts, msg = sink.get(timeout=timeout)
            for rcpt in rcpts:
                if rcpt in by_address:
                    pdfs = [p.get_content() for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
                    found[by_address[rcpt]] = pdfs[0] if pdfs else None
    return found


# --- what a person reads ----------------------------------------------------------------------

_pool = gevent.pool.Pool(2)


def _expected(kind: str) -> dict:
    return DOCS.get(kind) or EMAIL_KINDS[kind]


def check_pdf(kind: str, pdf: bytes | None, what: str, received: bool) -> dict:
    """OCR every page that carries a sentence, and the first page's ink against the reference."""
    assert pdf and pdf.startswith(b"%PDF"), f"{what}: no PDF"
    exp = _expected(kind)
    pages = reading.pdf_pages(pdf)
    assert len(pages) == exp.get("pages", 1), f"{what}: {len(pages)} pages"
    if received:
        pages = [reading.without_header(p) for p in pages]
    sentences = exp.get("page_sentences") or [exp["sentence"]]
    texts = list(_pool.imap(lambda p: reading.ocr(p.crop((0, 0, p.width, p.height * 45 // 100))),
                            pages[:len(sentences)]))
    for n, (text, sentence) in enumerate(zip(texts, sentences), 1):
        reading.assert_reads(text, sentence, f"{what}, page {n}")
    if exp.get("accented") or kind == "email-body":
        # Decoded right, the line reads as its letters (Tesseract may drop an accent or two);
        # decoded wrong, it reads as "CafÃ© crÃ¨me" or as nothing.
        reading.assert_reads(texts[0], gallery.ACCENTED, f"{what} (accented line)", min_ratio=0.85)
        assert "é" in texts[0] and "Ã" not in texts[0], f"{what}: accents lost: {texts[0]!r}"
    ink = reading.ink_share(pages[0])
    ref = references.ink_share(kind)
    ratio = ink / ref
    assert INK_RATIO[0] <= ratio <= INK_RATIO[1], f"{what}: ink {ink:.4f} vs reference {ref:.4f} (x{ratio:.2f})"
    return {"ocr": reading.reads(texts[0], sentences[0]), "ink": ink, "ref": ref, "ratio": ratio}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_received_fax_reads_as_sent(sent, kind, mode):
    got = sent[(kind, mode)]
    job, fax = got["job"], got["inbox"]
    assert job["status"] == "completed", job["tx_result"]
    assert job["tx_result"]["t38_used"] is (mode == "t38")
    pages = _expected(kind).get("pages", 1)
    assert job["tx_result"]["pages_sent"] == pages == fax["rx_result"]["pages_sent"]
    figures = check_pdf(kind, got["inbox_pdf"], f"inbox PDF of {kind} ({mode})", received=True)
    print(f"FIDELITY {kind} {mode} inbox ocr={figures['ocr']:.2f} ink={figures['ink']:.4f} "
          f"ref={figures['ref']:.4f} ratio={figures['ratio']:.2f}")


@pytest.mark.parametrize("kind", KINDS)
def test_outbox_attachment_reads_as_sent(sent, kind):
    figures = check_pdf(kind, sent[(kind, "audio")]["outbox_pdf"], f"outbox PDF of {kind}", received=False)
    print(f"FIDELITY {kind} outbox ratio={figures['ratio']:.2f}")


@pytest.mark.parametrize("kind", KINDS)
def test_notification_email_pdf_reads_as_sent(sent, kind):
    figures = check_pdf(kind, sent[(kind, "t38")]["mail_pdf"], f"notification PDF of {kind}", received=True)
    print(f"FIDELITY {kind} notification ratio={figures['ratio']:.2f}")

"""Test helpers: real documents, and rows written as the job engine / receiver / SMTP gateway write them."""
from __future__ import annotations

import io
import json

import img2pdf
from PIL import Image, ImageDraw

from faxd import ids


def make_tiff(pages: int = 1, height: int = 200) -> bytes:
    """A fax TIFF (1728 wide, G4, 204x196 dpi) with some black on each page."""
    frames = []
    for i in range(pages):
        im = Image.new("1", (1728, height), 1)
        ImageDraw.Draw(im).rectangle([100 + i * 10, 20, 600, 60], fill=0)
        frames.append(im)
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", compression="group4", dpi=(204, 196),
                   save_all=True, append_images=frames[1:])
    return out.getvalue()


def make_png() -> bytes:
    im = Image.new("L", (200, 100), 255)
    ImageDraw.Draw(im).rectangle([10, 10, 150, 50], fill=0)
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def make_pdf() -> bytes:
    return img2pdf.convert(make_png())


def finish_job(store, job_id: str, status: str = "completed", *, pdf: bytes | None = None,
               tiff: bytes | None = None, pages: int = 1) -> None:
    """What the engine does when a job ends: final status, tx_result, documents."""
    tx = {"success": status == "completed", "pages_sent": pages if status == "completed" else 0,
          "pages_total": pages, "fax_speed": 14400, "fax_bad_rows": 0, "fax_error_correction": True,
          "fax_receiver_id": "REMOTE", "error_message": "" if status == "completed" else "busy",
          "time_elapsed": 42, "result_code": 0 if status == "completed" else 48}
    with store.transaction() as c:
        account_id = _job_account(c, job_id)
        c.execute("UPDATE jobs SET status = %s, tx_result = %s, page_count = %s, attempts = 1, "
                  "delivered = now(), modified = now(), revision = revision + 1 WHERE id = %s",
                  (status, json.dumps(tx), pages, job_id))
        c.execute("INSERT INTO job_attempts (job_id, attempt, ended, outcome, tx_result) "
                  "VALUES (%s, 1, now(), %s, %s)", (job_id, status, json.dumps(tx)))
    if pdf is not None:
        store.add_document(account_id, job_id=job_id, role="pdf", content_type="application/pdf", data=pdf)
    if tiff is not None:
        store.add_document(account_id, job_id=job_id, role="fax_tiff", content_type="image/tiff",
                           data=tiff, pages=pages)


def set_job_status(store, job_id: str, status: str) -> None:
    with store.transaction() as c:
        c.execute("UPDATE jobs SET status = %s WHERE id = %s", (status, job_id))


def _job_account(c, job_id):
    c.execute("SELECT account_id FROM jobs WHERE id = %s", (job_id,))
    return c.fetchone()["account_id"]


def add_inbox_fax(store, account_id: str, *, faxbox_id: str | None = None, tiff: bytes | None = None,
                  pdf: bytes | None = None, to_number: str = "+12025550100",
                  from_number: str = "+18884732963") -> str:
    """What the receiver writes for a received fax."""
    fax_id = ids.new_id()
    rx = {"success": True, "pages_sent": 1, "fax_speed": 9600, "fax_receiver_id": "faxd",
          "fax_error_correction": True}
    with store.transaction() as c:
        c.execute("INSERT INTO inbox (id, account_id, faxbox_id, call_id, status, from_number, from_name, "
                  "to_number, rx_result, page_count) VALUES (%s, %s, %s, %s, 'received', %s, 'Sender', %s, %s, 1)",
                  (fax_id, account_id, faxbox_id, ids.new_id(), from_number, to_number, json.dumps(rx)))
    if tiff is not None:
        store.add_document(account_id, inbox_id=fax_id, role="fax_tiff", content_type="image/tiff", data=tiff)
    if pdf is not None:
        store.add_document(account_id, inbox_id=fax_id, role="pdf", content_type="application/pdf", data=pdf)
    return fax_id


def add_incoming_call(store, account_id: str, *, faxbox_id: str | None = None, expired: bool = False) -> str:
    row_id = ids.new_id()
    with store.transaction() as c:
        c.execute("INSERT INTO incoming_calls (id, account_id, faxbox_id, call_id, switch, from_number, "
                  "to_number, progress, lease_expires) VALUES (%s, %s, %s, %s, 'software', '+18884732963', "
                  "'+12025550100', %s, now() + %s * interval '1 minute')",
                  (row_id, account_id, faxbox_id, ids.new_id(),
                   json.dumps({"stage": "pages", "pages_received": 1, "text": "Received page 1"}),
                   -1 if expired else 1))
    return row_id


def add_smtplog(store, account_id: str, *, job_id: str | None = None, faxbox_id: str | None = None) -> str:
    row_id = ids.new_id()
    with store.transaction() as c:
        c.execute("INSERT INTO smtplog (id, account_id, faxbox_id, mail_from, rcpt_to, subject, "
                  "original_number, translated_number, attachments, job_id, errors, smtp_code, smtp_text) "
                  "VALUES (%s, %s, %s, 'user@example.com', '18884732963@box.fax.localhost', 'Hello', "
                  "'18884732963', '+18884732963', %s, %s, %s, 250, 'OK')",
                  (row_id, account_id, faxbox_id, json.dumps([{"filename": "a.pdf"}]), job_id,
                   json.dumps([] if job_id else ["no attachment"])))
    return row_id


def curl_multipart_mixed(job: dict, document: bytes, doc_type: str = "application/pdf",
                         boundary: str = "------------------------6696726a1d382dcd") -> tuple[bytes, str]:
    """The body curl 7.88 sends for the seed's -H "Content-Type: multipart/mixed" -F content=@... example."""
    def part(filename, ctype, data):
        return (f"--{boundary}\r\nContent-Disposition: attachment; name=\"content\"; "
                f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    body = part("fax.json", "application/json", json.dumps({"data": job}).encode())
    body += part("fax.pdf", doc_type, document) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/mixed; boundary={boundary}"

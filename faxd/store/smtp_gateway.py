"""Store methods for the SMTP gateway: faxbox lookup by address, the smtplog, mail -> jobs."""
from __future__ import annotations

import json
from typing import Any, Sequence

from faxd import ids


class SmtpGatewayMixin:
    def faxbox_for_smtp_domain(self, domain: str, cur=None) -> dict | None:
        """The faxbox whose generated ``smtp_email_address`` or ``custom_smtp_email_address`` is ``domain``.

        The row carries ``numbers``, the faxbox's inbound DIDs (oldest first).
        """
        domain = (domain or "").strip().rstrip(".")
        if not domain:
            return None
        return self._one("faxbox_for_smtp_domain", {"domain": domain}, cur=cur)

    def record_smtp_attempt(self, *, mail_from: str, rcpt_to: str, account_id: str | None = None,
                            faxbox_id: str | None = None, subject: str | None = None,
                            original_number: str | None = None, translated_number: str | None = None,
                            attachments: Sequence[dict] = (), job_id: str | None = None,
                            errors: Sequence[str] = (), smtp_code: int | None = None,
                            smtp_text: str | None = None, cur=None) -> dict:
        """Write one smtplog row (one email to one recipient), accepted or refused."""
        return self._one("record_smtp_attempt", {
            "id": ids.new_id(), "account_id": account_id, "faxbox_id": faxbox_id,
            "mail_from": mail_from or "", "rcpt_to": rcpt_to or "", "subject": subject,
            "original_number": original_number, "translated_number": translated_number,
            "attachments": json.dumps(list(attachments)), "job_id": job_id,
            "errors": json.dumps(list(errors)), "smtp_code": smtp_code, "smtp_text": smtp_text,
        }, cur=cur)

    def record_smtp_refusal(self, *, email_sender: bool = False, **fields) -> dict:
        """Log a refused email (fields as :meth:`record_smtp_attempt`) and queue its ``smtp_refused``
        notifications, in one transaction. A refusal in no account (no faxbox) notifies nobody;
        the sender gets an email only with ``email_sender`` (the faxbox accepted that sender)."""
        with self.transaction() as cur:
            row = self.record_smtp_attempt(cur=cur, **fields)
            if row["account_id"] is not None:
                self.queue_notifications(cur, "smtp_refused", smtplog_id=row["id"],
                                         context={"sender_accepted": bool(email_sender)})
        return row

    def faxbox_smtp_credentials(self, username: str, cur=None) -> dict | None:
        """``id`` and ``smtp_auth_hash`` of the faxbox whose SMTP user name (its generated
        ``smtp_email_address``) is ``username``."""
        return self._one("faxbox_smtp_credentials", {"username": username}, cur=cur)

    def smtp_attempt(self, smtplog_id: str, cur=None) -> dict | None:
        return self._one("smtp_attempt", {"id": smtplog_id}, cur=cur)

    def accept_smtp_mail(self, recipients: Sequence[dict[str, Any]],
                         documents: Sequence[tuple[bytes, str, str | None]], *,
                         fax: dict | None = None, smtp_code: int = 250) -> list[dict]:
        """Queue one job per recipient and log each, all in one transaction.

        ``recipients``: dicts with ``faxbox`` (the row of :meth:`faxbox_for_smtp_domain`),
        ``doc`` (the validated job document), ``mail_from``, ``rcpt_to``, ``subject``,
        ``original_number``, ``translated_number``, ``attachments``, ``smtp_text``
        (may hold ``{job_id}``), and optionally ``idempotency_key`` with ``request_hash``: a
        recipient whose key already holds a job within 24 hours gets that job and a log row,
        no new job (Conflict when the key came with other content). ``fax``, when the documents are already converted:
        ``{"tiff", "pdf", "pages", "width", "resolution"}``; the jobs then go straight to
        ``pending`` with their fax TIFF and PDF, as the attacher would leave them.
        Returns the smtplog rows (each with its ``job_id``). Either every job and log row is
        written or none is.
        """
        rows = []
        with self.transaction() as cur:
            for r in recipients:
                faxbox = r["faxbox"]
                key = r.get("idempotency_key")
                held = self.claim_key(cur, faxbox["account_id"], key, r["request_hash"]) if key else None
                if held is not None:  # the same email again: log it, queue nothing (Conflict if not the same)
                    job_id = self.job_under_key(faxbox["account_id"], key, r["request_hash"], held)["id"]
                    rows.append(self.record_smtp_attempt(
                        mail_from=r["mail_from"], rcpt_to=r["rcpt_to"], account_id=faxbox["account_id"],
                        faxbox_id=faxbox["id"], subject=r.get("subject"),
                        original_number=r.get("original_number"),
                        translated_number=r.get("translated_number"), attachments=r.get("attachments", ()),
                        job_id=job_id, smtp_code=smtp_code,
                        smtp_text=f"2.0.0 Already queued as fax job {job_id} (same Message-ID)", cur=cur))
                    continue
                job = self.enqueue_job(faxbox["account_id"], r["doc"], faxbox_id=faxbox["id"],
                                       source="smtp", documents=list(documents), cur=cur)
                job_id = job["id"]
                if key:
                    self.bind_key(cur, faxbox["account_id"], key, job_id)
                if fax is not None:
                    self.add_document(faxbox["account_id"], job_id=job_id, role="fax_tiff",
                                      content_type="image/tiff", data=fax["tiff"], pages=fax["pages"],
                                      width=fax["width"], resolution=fax["resolution"], filename="fax.tif",
                                      cur=cur)
                    self.add_document(faxbox["account_id"], job_id=job_id, role="pdf",
                                      content_type="application/pdf", data=fax["pdf"], pages=fax["pages"],
                                      filename="fax.pdf", cur=cur)
                    self._one("smtp_job_ready", {"id": job_id, "pages": fax["pages"]}, cur=cur)
                rows.append(self.record_smtp_attempt(
                    mail_from=r["mail_from"], rcpt_to=r["rcpt_to"], account_id=faxbox["account_id"],
                    faxbox_id=faxbox["id"], subject=r.get("subject"),
                    original_number=r.get("original_number"), translated_number=r.get("translated_number"),
                    attachments=r.get("attachments", ()), job_id=job_id, errors=r.get("errors", ()),
                    smtp_code=smtp_code, smtp_text=(r.get("smtp_text") or "").format(job_id=job_id),
                    cur=cur))
        return rows

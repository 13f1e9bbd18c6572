"""Broadcasts: the jobs of one request to many recipients, created together, counted together."""
from __future__ import annotations

from faxd.models import OUTBOX_STATUSES, gregorian


class BatchesMixin:
    def account_paper(self, account_id: str) -> str:
        row = self._one("account_paper", {"account_id": account_id})
        return row["paper"] if row else "a4"

    def enqueue_batch(self, account_id: str, docs: list[dict], *, faxbox_id: str | None, tiff: bytes,
                      pages: int, width: int, resolution: str) -> list[dict]:
        """One job per validated document, each ready to dial with the one converted fax TIFF
        (stored once, copied in the database), all in one transaction."""
        with self.transaction() as c:
            jobs = [self.enqueue_job(account_id, doc, faxbox_id=faxbox_id, cur=c) for doc in docs]
            ids = [j["id"] for j in jobs]
            self.add_document(account_id, job_id=ids[0], role="fax_tiff", content_type="image/tiff", data=tiff,
                              pages=pages, width=width, resolution=resolution, filename="fax.tif", cur=c)
            if len(ids) > 1:
                self._one("copy_batch_fax", {"first": ids[0], "job_ids": ids[1:]}, cur=c)
            self._all("batch_ready", {"job_ids": ids, "pages": pages}, cur=c)
        return jobs

    def batch_summary(self, account_id: str, batch_id: str, faxbox_id: str | None = None) -> dict | None:
        rows = self._all("batch_summary", {"account_id": account_id, "batch_id": batch_id, "faxbox_id": faxbox_id})
        if not rows:
            return None
        by_status = {r["status"]: r["n"] for r in rows}
        total = sum(by_status.values())
        final = sum(n for s, n in by_status.items() if s in OUTBOX_STATUSES)
        delivered = [r["last_delivered"] for r in rows if r["last_delivered"] is not None]
        return {"batch_id": batch_id, "total": total, "by_status": by_status, "final": final,
                "done": final == total, "created": gregorian(min(r["created"] for r in rows)),
                "last_delivered": gregorian(max(delivered)) if delivered and final == total else None}

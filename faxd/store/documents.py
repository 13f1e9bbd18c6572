"""Store methods: documents of a job (original, fax TIFF, PDF rendition) or of a received fax.

Rows carry their size and SHA-256, computed here, so an attachment can be served with an
ETag and checked without reading it back. ``cur=`` writes inside a caller's transaction.
"""
from __future__ import annotations

import hashlib

import psycopg2

from faxd import ids
from faxd.store.crypto import open_document

ROLES = ("original", "fax_tiff", "pdf")


def _owner(job_id, inbox_id) -> dict:
    if (job_id is None) == (inbox_id is None):
        raise ValueError("give exactly one of job_id and inbox_id")
    return {"job_id": job_id, "inbox_id": inbox_id}


def _row(row: dict | None) -> dict | None:
    if row is None:
        return None
    row = dict(row)
    if isinstance(row.get("data"), memoryview):
        row["data"] = bytes(row["data"])
    return row


class DocumentsMixin:
    def add_document(self, account_id: str, *, role: str, content_type: str, data: bytes,
                     job_id: str | None = None, inbox_id: str | None = None, seq: int = 0,
                     filename: str | None = None, pages: int | None = None, width: int | None = None,
                     resolution: str | None = None, cur=None) -> str:
        """Store one document; return its id."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        params = dict(_owner(job_id, inbox_id), id=ids.new_id(), account_id=account_id, role=role,
                      seq=seq, content_type=content_type, filename=filename, size_bytes=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), pages=pages, width=width,
                      resolution=resolution, data=psycopg2.Binary(self.seal(data)), key_id=self.key_id)
        return self._one("add_document", params, cur=cur)["id"]

    def get_document(self, *, job_id: str | None = None, inbox_id: str | None = None, role: str,
                     seq: int = 0, cur=None) -> dict | None:
        """One document with its data (bytes), or None."""
        params = dict(_owner(job_id, inbox_id), role=role, seq=seq)
        return self.opened(self._one("get_document", params, cur=cur))

    # --- encryption at rest (faxd/store/crypto.py): every document goes in through seal and
    # comes out through opened.

    _cipher = None

    @property
    def key_id(self) -> str | None:
        return self._cipher.current if self._cipher is not None else None

    def seal(self, data: bytes) -> bytes:
        return self._cipher.seal(data) if self._cipher is not None else data

    def opened(self, row: dict | None, field: str = "data") -> dict | None:
        """The row with its document's bytes decrypted (DocumentKeyError when they cannot be)."""
        if row is None or row.get(field) is None:
            return row
        row = dict(row)
        row[field] = open_document(bytes(row[field]), self._cipher)
        return row

    def rekey_documents(self, batch: int = 100) -> int:
        """Re-encrypt up to ``batch`` documents not sealed with the current key; return how many."""
        if self._cipher is None:
            return 0
        with self.transaction() as c:
            rows = self._all("documents_to_rekey", {"current": self._cipher.current, "batch": batch}, cur=c)
            for row in rows:
                data = open_document(bytes(row["data"]), self._cipher)
                self._one("rekey_document", {"id": row["id"], "data": psycopg2.Binary(self._cipher.seal(data)),
                                             "key_id": self._cipher.current}, cur=c)
        return len(rows)

    def list_documents(self, *, job_id: str | None = None, inbox_id: str | None = None,
                       role: str | None = None, cur=None) -> list[dict]:
        """Metadata of a job's or received fax's documents (no data), originals first."""
        params = dict(_owner(job_id, inbox_id), role=role)
        return [dict(r) for r in self._all("list_documents", params, cur=cur)]

    def delete_documents(self, *, job_id: str | None = None, inbox_id: str | None = None, cur=None) -> int:
        """Remove every document (all roles) of a job or received fax; return how many."""
        params = _owner(job_id, inbox_id)
        if cur is not None:
            cur.execute(self.sql("delete_documents"), params)
            return cur.rowcount
        with self.transaction() as c:
            c.execute(self.sql("delete_documents"), params)
            return c.rowcount

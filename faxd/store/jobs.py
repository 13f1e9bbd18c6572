"""Store methods: outbound fax jobs as the API and the SMTP gateway see them.

``enqueue_job`` is the one way a job is created (API, SMTP, resubmit, forward): the row and
its original documents go in one transaction. The job engine moves it on from
``attaching_files``. Rows leave the store as :class:`~faxd.models.Job` records (``job_record``);
``job_view`` shapes one into the job document the API shows.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import gevent.event
import gevent.pool
import orjson
import psycopg2.errors
from psycopg2.extras import Json

from faxd import ids
from faxd.errors import Conflict, NotFound
from faxd.models import GREGORIAN_OFFSET, OUTBOX_STATUSES, OUTGOING_STATUSES, Job, JobStatus, TxResult, gregorian
from faxd.schedule import Schedule
from faxd.store.listing import ListQuery, Listing, Page, PageCache, account_scope, list_page

# Keys the system owns: never taken from a client document, always written from the row.
SYSTEM_FIELDS = frozenset({
    "id", "status", "created", "modified", "delivered", "attempts", "tx_result", "progress",
    "page_count", "attempt_history", "revision", "faxbox_id",
})

def _status_in(statuses) -> str:
    return "status IN (" + ", ".join(f"'{s.value}'" for s in statuses) + ")"


FOLDERS = {
    "outgoing": _status_in(OUTGOING_STATUSES),
    "outbox": _status_in(OUTBOX_STATUSES),
    None: None,
}

JOB_LISTING = Listing(
    table="jobs",
    # job_summary unpacks these in this order.
    columns=("id, faxbox_id, status, source, to_number, from_number, attempts, retries, page_count, "
             "(tx_result->>'success')::boolean AS tx_success, tx_result->>'error_message' AS tx_error, "
             "floor(extract(epoch FROM modified))::bigint AS modified_s, "
             "floor(extract(epoch FROM delivered))::bigint AS delivered_s"),
    filters=("id", "status", "source", "faxbox_id", "to_number", "from_number", "to_name", "from_name",
             "attempts", "retries", "page_count"),
    aliases={"to": "to_number", "from": "from_number"},
    doc_column="doc",
)

_STAGE_TEXT = {
    JobStatus.ATTACHING_FILES: "Preparing the document",
    JobStatus.PENDING: "Waiting to be sent",
    JobStatus.PROCESSING: "Sending",
    JobStatus.COMPLETED: "Sent",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}
_WAITING = (JobStatus.ATTACHING_FILES, JobStatus.PENDING)

_JOB_FIELDS = frozenset(Job.__slots__)
# Columns NOT NULL in the table that a Job holds as an empty value rather than None.
_EMPTY_WHEN_NULL = {"doc": dict, "tx_result": dict, "progress": dict, "attempt_history": list}


def job_record(row: Mapping) -> Job:
    """A jobs row (whichever columns the query selected) as a :class:`~faxd.models.Job`."""
    kw = {k: v for k, v in row.items() if k in _JOB_FIELDS}
    for name, empty in _EMPTY_WHEN_NULL.items():
        if name in kw and kw[name] is None:
            kw[name] = empty()
    if "status" in kw:
        kw["status"] = JobStatus(kw["status"])
    if kw.get("fax_tiff") is not None:
        kw["fax_tiff"] = bytes(kw["fax_tiff"])
    if "faxbox_notifications" in row:
        kw["faxbox_joined"] = True
    return Job(**kw)


def _dumps(obj) -> str:
    return orjson.dumps(obj).decode()


_TX_DEFAULTS = TxResult().to_dict()
_TX_FIELDS = frozenset(TxResult.__dataclass_fields__)


def tx_view(stored: dict | None) -> dict:
    """tx_result as shown: every field (zeroed when unknown) plus the Kazoo 4.x aliases.

    Same shape as ``TxResult.from_dict(stored).to_dict()``, without dataclass round trips.
    """
    out = dict(_TX_DEFAULTS)
    if stored:
        out.update((k, v) for k, v in stored.items() if k in _TX_FIELDS)
        out.update(remote_station_id=out["fax_receiver_id"], transfer_rate=out["fax_speed"],
                   ecm_used=out["fax_error_correction"], transferred_pages=out["pages_sent"])
    return out


def _undefined(value):
    return "undefined" if value is None else value


def progress_view(job: Job) -> dict:
    status = job.status
    out = {
        "stage": "queued" if status in _WAITING else ("release" if status in OUTBOX_STATUSES else "originate"),
        "pages_sent": 0,
        "pages_total": job.page_count or 0,
        "fax_speed": 0,
        "text": _STAGE_TEXT[status],
    }
    out.update(job.progress)
    return out


def job_view(job: Job) -> dict:
    """A job as the API shows it: the client's document plus the system's fields."""
    doc = job.doc
    out: dict[str, Any] = {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS}
    out.update(
        id=job.id,
        status=job.status.value,
        to_number=job.to_number,
        from_number=job.from_number,
        retries=job.retries,
        attempts=job.attempts,
        tx_result=tx_view(job.tx_result),
        progress=progress_view(job),
        created=gregorian(job.created),
        modified=gregorian(job.modified),
        delivered=_undefined(gregorian(job.delivered)),
        fax_timezone=doc.get("fax_timezone") or "undefined",
        faxbox_id=job.faxbox_id,
        page_count=job.page_count or 0,
        fax_identity_number=doc.get("fax_identity_number") or job.from_number,
        fax_identity_name=doc.get("fax_identity_name") or doc.get("from_name") or "",
        attempt_history=list(job.attempt_history),
        source=job.source,
        _rev=job.revision,
    )
    if job.to_name is not None:
        out["to_name"] = job.to_name
    if job.from_name is not None:
        out["from_name"] = job.from_name
    if job.origin_id:
        out["origin_id"] = job.origin_id
    return out


def job_summary(row: tuple) -> dict:
    """A listing row: the fields Kazoo's listings show, plus the outcome once final.

    ``row`` is a result tuple of JOB_LISTING (its columns in order, then created_us).
    """
    (id_, faxbox_id, status, source, to_number, from_number, attempts, retries, page_count,
     tx_success, tx_error, modified_s, delivered_s, created_us) = row
    out = {
        "id": id_,
        "status": status,
        "to": to_number,
        "from": from_number,
        "attempts": attempts,
        "retries": retries,
        "created": created_us // 1_000_000 + GREGORIAN_OFFSET,
        "modified": modified_s + GREGORIAN_OFFSET,
        "faxbox_id": faxbox_id,
        "source": source,
    }
    if status in OUTBOX_STATUSES:
        out["delivered"] = "undefined" if delivered_s is None else delivered_s + GREGORIAN_OFFSET
        out["page_count"] = page_count or 0
        out["success"] = bool(tx_success)
        out["error_message"] = tx_error or ""
    return out


def first_run(doc: dict) -> datetime | None:
    """When a new job may first be dialled: None (now) unless it has a schedule (faxd/schedule.py)."""
    if not any(doc.get(k) is not None for k in ("send_at", "expires_at", "send_window")):
        return None
    return Schedule.of_job(doc, doc["to_number"]).next_run(datetime.now(timezone.utc))


class JobsMixin:
    def enqueue_job(self, account_id: str, doc: dict, *, faxbox_id: str | None = None,
                    source: str = "api",
                    documents: Iterable[tuple[bytes, str, str | None]] = (),
                    origin_id: str | None = None, status: JobStatus = JobStatus.ATTACHING_FILES,
                    cur=None) -> dict:
        """Insert a job and its original documents (in order) in one transaction.

        ``doc`` is the validated job document (E.164 numbers, defaults applied, unknown
        fields kept). Returns the job as the API shows it.
        """
        def run(c):
            row = self._new_job_row(account_id, doc, faxbox_id, source, origin_id, status)
            created = self._one("insert_job", row, cur=c)["created"]
            for seq, (data, content_type, filename) in enumerate(documents):
                self.add_document(account_id, job_id=row["id"], role="original", seq=seq,
                                  content_type=content_type, data=data, filename=filename, cur=c)
            return job_view(_stored(row, created))
        if cur is not None:
            return run(cur)
        try:
            if not documents:
                # No documents: the job is one row, inserted with whatever other jobs are
                # being queued at this moment (one statement, one commit for all of them).
                row = self._new_job_row(account_id, doc, faxbox_id, source, origin_id, status)
                created = _batcher(self).insert(row)
                return job_view(_stored(row, created))
            with self.transaction() as c:
                return run(c)
        except psycopg2.errors.ForeignKeyViolation:
            # Only the faxbox can vanish between the caller's check and the insert.
            raise NotFound(f"faxbox {faxbox_id} not found (deleted meanwhile)") from None

    @staticmethod
    def _new_job_row(account_id, doc, faxbox_id, source, origin_id, status) -> dict:
        """The insert_job parameters of a new job."""
        client_doc = {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS}
        return {
            "id": ids.new_id(), "account_id": account_id, "faxbox_id": faxbox_id,
            "status": status, "source": source, "origin_id": origin_id,
            "to_number": doc["to_number"], "from_number": doc["from_number"],
            "to_name": doc.get("to_name"), "from_name": doc.get("from_name"),
            "retries": doc.get("retries", 1), "doc": Json(client_doc, dumps=_dumps),
            "run_after": first_run(doc),
        }

    def get_job(self, account_id: str, job_id: str, *, folder: str | None = None,
                faxbox_id: str | None = None) -> dict | None:
        """The whole job, or None when it is not in this account (folder, faxbox)."""
        row = self.read_one("get_job", {"id": job_id, "account_id": account_id})
        if row is None or not _in_scope(row, folder, faxbox_id):
            return None
        return job_view(job_record(row))

    def list_jobs(self, account_id: str, folder: str | None, q: ListQuery,
                  faxbox_id: str | None = None) -> Page:
        return list_page(self, JOB_LISTING, account_scope(account_id, faxbox_id), q, where=FOLDERS[folder],
                         row=job_summary, cache=_page_cache(self))

    def cancel_job(self, account_id: str, job_id: str, faxbox_id: str | None = None) -> dict:
        """Cancel a job that has not finished.

        Waiting jobs become ``cancelled`` at once; a job on a call gets ``cancel_requested``
        and a ``faxd_cancel`` NOTIFY (same transaction) so its worker hangs up. Raises
        NotFound, or Conflict when the job is already final.
        """
        with self.transaction() as c:
            row = self._one("lock_job", {"id": job_id, "account_id": account_id}, cur=c)
            if row is None or not _in_scope(row, None, faxbox_id):
                raise NotFound(f"fax {job_id} not found")
            if row["status"] in OUTBOX_STATUSES:
                raise Conflict(f"fax {job_id} has already finished ({row['status']})")
            params = {"id": job_id, "account_id": account_id}
            if row["status"] == JobStatus.PROCESSING:
                self._one("request_job_cancel", params, cur=c)
                self._one("notify_job_cancel", params, cur=c)
            else:
                self._one("cancel_waiting_job", params, cur=c)
                self.queue_notifications(c, "outbound_cancelled", job_id=job_id)
            return job_view(job_record(self._one("get_job", params, cur=c)))

    def delete_job(self, account_id: str, job_id: str, faxbox_id: str | None = None) -> None:
        """Remove a final job and every trace of it (attempts, documents, notifications)."""
        with self.transaction() as c:
            row = self._one("lock_job", {"id": job_id, "account_id": account_id}, cur=c)
            if row is None or not _in_scope(row, "outbox", faxbox_id):
                raise NotFound(f"fax {job_id} not found in the outbox")
            params = {"id": job_id, "account_id": account_id}
            self._one("delete_job_notifications", params, cur=c)
            self._one("delete_final_job", params, cur=c)

    def delete_job_documents(self, account_id: str, job_id: str, *, folder: str | None = "outbox",
                             faxbox_id: str | None = None) -> None:
        """Remove a job's documents, keep its metadata."""
        with self.transaction() as c:
            row = self._one("lock_job", {"id": job_id, "account_id": account_id}, cur=c)
            if row is None or not _in_scope(row, folder, faxbox_id):
                raise NotFound(f"fax {job_id} not found")
            self._one("delete_job_documents", {"id": job_id, "account_id": account_id}, cur=c)

    def get_job_document(self, account_id: str, job_id: str, role: str) -> dict | None:
        """The first document of ``role`` ('pdf', 'fax_tiff', 'original') of a job."""
        return self.opened(self.read_one("get_job_document", {"id": job_id, "account_id": account_id, "role": role}))

    def resubmit_job(self, account_id: str, job_id: str, doc: dict, *,
                     faxbox_id: str | None = None) -> dict:
        """A new job (source resubmit) from a final one: ``doc`` plus the old originals."""
        with self.transaction() as c:
            old = self._one("lock_job", {"id": job_id, "account_id": account_id}, cur=c)
            if old is None or not _in_scope(old, "outbox", faxbox_id):
                raise NotFound(f"fax {job_id} not found in the outbox")
            originals = self._one("count_job_originals", {"id": job_id}, cur=c)["n"]
            url = (doc.get("document") or {}).get("url")
            job = self.enqueue_job(account_id, doc, faxbox_id=old["faxbox_id"], source="resubmit",
                                   origin_id=job_id, cur=c)
            if originals:
                self._one("copy_job_originals", {"id": job_id, "new_id": job["id"]}, cur=c)
            elif not url:
                # A job kept only as its fax TIFF (a broadcast's): that TIFF is the original.
                self._one("copy_job_fax_as_original", {"id": job_id, "new_id": job["id"]}, cur=c)
                if c.rowcount != 1:
                    raise Conflict(f"fax {job_id} has no document left to send (its attachments were deleted)")
            return job

    def forward_inbox_fax(self, account_id: str, inbox_id: str, doc: dict, *,
                          faxbox_id: str | None = None) -> dict:
        """A new outbound job (source forward) whose original is a received fax's TIFF."""
        with self.transaction() as c:
            fax = self._one("lock_inbox_fax", {"id": inbox_id, "account_id": account_id}, cur=c)
            if fax is None or (faxbox_id is not None and fax["faxbox_id"] != faxbox_id):
                raise NotFound(f"fax {inbox_id} not found in the inbox")
            job = self.enqueue_job(account_id, doc, faxbox_id=faxbox_id or fax["faxbox_id"],
                                   source="forward", origin_id=inbox_id, cur=c)
            self._one("copy_inbox_fax_as_original",
                      {"inbox_id": inbox_id, "account_id": account_id, "new_id": job["id"]}, cur=c)
            if c.rowcount != 1:
                raise Conflict(f"fax {inbox_id} has no document left to forward (its attachments were deleted)")
            return job


def _stored(row: dict, created) -> Job:
    """A new job as the database now holds it (the column defaults of schema.sql)."""
    return Job(id=row["id"], account_id=row["account_id"], faxbox_id=row["faxbox_id"],
               status=JobStatus(row["status"]), source=row["source"], origin_id=row["origin_id"],
               to_number=row["to_number"], from_number=row["from_number"], to_name=row["to_name"],
               from_name=row["from_name"], retries=row["retries"], doc=row["doc"].adapted,
               created=created, modified=created)


_INSERT_COLUMNS = ("id", "account_id", "faxbox_id", "status", "source", "origin_id", "to_number",
                   "from_number", "to_name", "from_name", "retries", "doc", "run_after")
_INSERT_ROW = "(" + ", ".join(["%s"] * (len(_INSERT_COLUMNS) - 1)) + ", coalesce(%s::timestamptz, now()))"


class InsertBatcher:
    """Jobs queued at the same moment share one multi-row INSERT: one round trip, one commit.

    The first caller starts a flusher greenlet; callers that arrive while its INSERT is in
    flight are queued and go in the next statement, so nobody waits for a timer and a burst
    of N requests costs about one commit instead of N. A failed batch is retried row by
    row, so one bad row (say, a faxbox deleted meanwhile) fails only its own request.
    """

    def __init__(self, store, max_batch: int = 100):
        self._store = store
        self._max_batch = max_batch
        self._pending: list[tuple[dict, gevent.event.AsyncResult]] = []
        self._running = False
        self._group = gevent.pool.Group()
        self._statements: dict[int, str] = {}     # the INSERT of n rows

    def insert(self, row: dict):
        """Insert one jobs row; return its ``created`` time."""
        result = gevent.event.AsyncResult()
        self._pending.append((row, result))
        if not self._running:
            self._running = True
            self._group.spawn(self._flush)
        return result.get()

    def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
                try:
                    created = self._insert([row for row, _ in batch])
                except Exception:  # greenlet boundary: each waiter gets its own outcome below
                    for row, result in batch:
                        try:
                            result.set(self._insert([row])[row["id"]])
                        except Exception as e:
                            result.set_exception(e)
                else:
                    for row, result in batch:
                        result.set(created[row["id"]])
        finally:
            self._running = False

    def _insert(self, rows: list[dict]) -> dict:
        # One execute with every value as a parameter: psycopg2 formats them in C, where
        # execute_values would split the statement and format each row in Python.
        statement = self._statements.get(len(rows))
        if statement is None:
            values = ", ".join([_INSERT_ROW] * len(rows))
            statement = self._store.sql("insert_jobs").replace("VALUES %s", "VALUES " + values)
            if len(self._statements) < self._max_batch:
                self._statements[len(rows)] = statement
        with self._store.statement(dicts=False) as c:
            c.execute(statement, [row[k] for row in rows for k in _INSERT_COLUMNS])
            return dict(c.fetchall())


def _batcher(store) -> InsertBatcher:
    batcher = store.__dict__.get("_job_insert_batcher")
    if batcher is None:
        batcher = store.__dict__["_job_insert_batcher"] = InsertBatcher(store)
    return batcher


def _page_cache(store) -> PageCache:
    """The store's cache of job listing pages (clients poll their first outbox page)."""
    cache = store.__dict__.get("_job_page_cache")
    if cache is None:
        cache = store.__dict__["_job_page_cache"] = PageCache()
    return cache


def _in_scope(row: dict, folder: str | None, faxbox_id: str | None) -> bool:
    if faxbox_id is not None and row["faxbox_id"] != faxbox_id:
        return False
    if folder == "outbox":
        return row["status"] in OUTBOX_STATUSES
    if folder == "outgoing":
        return row["status"] in OUTGOING_STATUSES
    return True

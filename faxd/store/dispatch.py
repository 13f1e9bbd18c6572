"""Store methods of the job engine: claim, leases, progress, release; attaching; receptions.

Every state change is committed with what it describes: a job's final state, its attempt
record and its notifications go in one transaction; a reception's inbox row, documents and
notifications likewise.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg2
import psycopg2.errors
from psycopg2.extras import Json

from faxd import ids
from faxd.errors import DocumentKeyError
from faxd.models import Job, JobStatus
from faxd.store.db import execute_prepared
from faxd.store.group import Mergeable
from faxd.store.jobs import job_record

logger = logging.getLogger(__name__)

BLOCKED = "blocked"
# Seconds a job whose document this node cannot open waits before any node claims it again.
UNOPENED_RETRY = 30

_EVENTS = {JobStatus.COMPLETED: "outbound_success", JobStatus.FAILED: "outbound_failure",
           JobStatus.CANCELLED: "outbound_cancelled", JobStatus.PENDING: "outbound_queued"}


@dataclass(frozen=True)
class AttachResult:
    """A job's prepared document, to be stored by ``attach_done_many``."""
    job: Job
    tiff: bytes
    pdf: bytes
    pages: int
    width: int
    resolution: str
    fetched: tuple[bytes, str | None] | None = None   # the original fetched from document.url


class DispatchMixin:
    # --- outbound: claim and leases

    def claim_jobs(self, node: str, switch: str, max_channels: int, lease: float,
                   limit: int) -> list[Job] | str | None:
        """Claim up to ``limit`` runnable jobs within every limit, in one transaction.

        Returns the jobs in the order a dispatcher should start them (fairest first), or
        ``BLOCKED`` when due jobs wait only for a limit (a channel, the account's
        ``max_outbound``, a call to the same number), or None when nothing is due. Each job
        carries its attempt's ``call_id`` (recorded before dialling, so that a node taking over
        can find the call) and the ``fax_tiff`` bytes.
        """
        params = {"node": node, "switch": switch, "max_channels": max_channels, "lease": lease, "limit": limit}
        for _ in range(3):
            try:
                rows = self._all("claim_jobs", params)
            except psycopg2.errors.UniqueViolation:
                # Another writer put a call on one of the numbers between our check and our update
                # (the unique index is the last guard): the batch is undone; its next try sees
                # that call and passes over the number.
                continue
            if not rows:
                return None
            if rows[0]["id"] is None:
                return BLOCKED
            return self._opened_jobs(rows, node)
        return BLOCKED

    def _opened_jobs(self, rows: list[dict], node: str) -> list[Job]:
        """The claimed rows as jobs, their fax TIFFs decrypted. A job whose document this node
        cannot open (its key file lacks the key, or holds a wrong one) is not sent from here:
        it goes back to the queue, attempt not counted, for UNOPENED_RETRY seconds, and the
        others of the batch are sent; when none opens, DocumentKeyError says why."""
        jobs, unopened = [], []
        for row in rows:
            try:
                jobs.append(job_record(self.opened(row, "fax_tiff")))
            except DocumentKeyError as e:
                unopened.append(e)
                self.defer_job(row["id"], node, row["attempts"],
                               datetime.now(timezone.utc) + timedelta(seconds=UNOPENED_RETRY),
                               "Waiting for a node that can open its document")
                logger.error("job %s: back to the queue: this node cannot open its document: %s", row["id"], e)
        if unopened and not jobs:
            raise unopened[0]
        return jobs

    def claim_next_job(self, node: str, switch: str, max_channels: int, lease: float) -> Job | str | None:
        """One job (see :meth:`claim_jobs`), ``BLOCKED`` or None."""
        jobs = self.claim_jobs(node, switch, max_channels, lease, 1)
        return jobs[0] if isinstance(jobs, list) else jobs

    def count_final_jobs(self, account_id: str) -> int:
        return self._one("count_final_jobs", {"account_id": account_id})["n"]

    # The live calls' writes below are grouped (Database.grouped): under load many calls'
    # starts, progress, leases and ends share one commit, each kind one statement (Mergeable);
    # each returns once its group is durable.

    def attempt_started(self, job_id: str) -> None:
        """The call is placed: queue the 'processing' notifications (off the dialling path)."""
        self.grouped(job_id, Mergeable(self._attempts_started, job_id))

    def _attempts_started(self, cur, job_ids: list[str]) -> None:
        self.queue_job_notifications(cur, "outbound_processing", list(dict.fromkeys(job_ids)))

    def renew_lease(self, job_id: str, node: str, attempt: int, lease: float) -> tuple[bool, bool]:
        """(still ours, cancel requested)."""
        params = {"id": job_id, "node": node, "attempt": attempt, "lease": lease}
        row = self.grouped(job_id, Mergeable(self._renew_leases, params), one_statement=True)
        return (row is not None, bool(row and row["cancel_requested"]))

    def _renew_leases(self, cur, rows: list[dict]) -> list:
        """Each row's job (id, cancel_requested) when its lease was renewed, else None."""
        results: list = []
        for chunk in _one_per_job(rows):
            execute_prepared(cur, self.sql("renew_leases"), {
                "ids": [r["id"] for r in chunk], "nodes": [r["node"] for r in chunk],
                "attempts": [r["attempt"] for r in chunk], "leases": [float(r["lease"]) for r in chunk]})
            renewed = {row["id"]: row for row in cur.fetchall()}
            results += [renewed.get(r["id"]) for r in chunk]
        return results

    def record_progress(self, job_id: str, node: str, attempt: int, progress: dict) -> None:
        params = {"id": job_id, "node": node, "attempt": attempt, "progress": progress}
        self.grouped(job_id, Mergeable(self._record_progress_many, params), one_statement=True)

    def _record_progress_many(self, cur, rows: list[dict]) -> None:
        """Several calls' progress in as few statements as possible."""
        for chunk in _one_per_job(rows):
            execute_prepared(cur, self.sql("record_progress"), {
                "ids": [r["id"] for r in chunk], "nodes": [r["node"] for r in chunk],
                "attempts": [r["attempt"] for r in chunk], "progress": [json.dumps(r["progress"]) for r in chunk]})

    def release_job(self, job_id: str, node: str, attempt: int, *, status: JobStatus, outcome: str,
                    tx_result: dict, progress: dict, run_after: datetime | None = None,
                    force_audio: bool = False, not_fax_failures: int = 0, error: str | None = None,
                    notify: bool = True, force_no_ecm: bool | None = None, route: dict | None = None) -> bool:
        """End an attempt; False when the job was no longer ours (taken over, nothing written).

        ``notify=False`` skips the notification planning when the caller knows nobody listens.
        ``force_no_ecm`` None keeps the job's; ``route``: the route and settings of the attempt.
        """
        params = {"id": job_id, "node": node, "attempt": attempt, "status": str(status), "tx_result": tx_result,
                  "progress": progress, "run_after": run_after, "force_audio": force_audio,
                  "not_fax_failures": not_fax_failures, "error": error, "outcome": outcome,
                  "force_no_ecm": force_no_ecm, "route": route, "notify": notify}
        # Without notifications the job and its attempt row change in one statement.
        return self.grouped(job_id, Mergeable(self._release_jobs, params), one_statement=not notify)

    def _release_jobs(self, cur, rows: list[dict]) -> list[bool]:
        """End each row's attempt if it is still ours; True for those ended. The notifications
        of the jobs that ask for them are planned after their release, in the same transaction
        (one read per event for all of them)."""
        results: list[bool] = []
        for chunk in _one_per_job(rows):
            execute_prepared(cur, self.sql("release_jobs"), {
                "ids": [r["id"] for r in chunk], "nodes": [r["node"] for r in chunk],
                "attempts": [r["attempt"] for r in chunk], "statuses": [r["status"] for r in chunk],
                "outcomes": [r["outcome"] for r in chunk],
                "tx_results": [json.dumps(r["tx_result"]) for r in chunk],
                "progress": [json.dumps(r["progress"]) for r in chunk],
                "run_afters": [_text(r["run_after"]) for r in chunk],
                "force_audios": [_text(r["force_audio"]) for r in chunk],
                "force_no_ecms": [_text(r["force_no_ecm"]) for r in chunk],
                "not_fax_failures": [r["not_fax_failures"] for r in chunk],
                "errors": [r["error"] for r in chunk],
                "routes": [None if r["route"] is None else json.dumps(r["route"]) for r in chunk]})
            released = {row["id"] for row in cur.fetchall()}
            results += [r["id"] in released for r in chunk]
            by_event: dict[str, list[str]] = {}
            for r in chunk:
                if r["notify"] and r["id"] in released:
                    by_event.setdefault(_EVENTS[JobStatus(r["status"])], []).append(r["id"])
            for event, job_ids in by_event.items():
                self.queue_job_notifications(cur, event, job_ids)
        return results

    def take_expired_leases(self, node: str, lease: float, limit: int = 50) -> list[Job]:
        return [job_record(r) for r in self._all("take_expired_leases", {"node": node, "lease": lease, "limit": limit})]

    def defer_job(self, job_id: str, node: str, attempt: int, run_after: datetime,
                  text: str = "Waiting for the gap between calls to this number") -> None:
        """Back to the queue until ``run_after``, this attempt not counted (per-number spacing, a
        route's limits); ``text`` is the progress shown meanwhile."""
        with self.transaction() as c:
            self._one("defer_job", {"id": job_id, "node": node, "attempt": attempt, "run_after": run_after,
                                    "text": text}, cur=c)
            self._one("delete_attempt", {"job_id": job_id, "attempt": attempt}, cur=c)

    def number_call_ended(self, job_id: str) -> None:
        """Remember when the last call to this job's number ended (per-number spacing)."""
        self._one("number_call_ended", {"id": job_id})

    def number_last_call(self, number: str) -> datetime | None:
        row = self._one("number_last_call", {"number": number})
        return row["last_ended"] if row else None

    def return_job_to_pending(self, job_id: str, node: str, attempt: int) -> None:
        with self.transaction() as c:
            self._one("return_job_to_pending", {"id": job_id, "node": node, "attempt": attempt}, cur=c)
            self._one("delete_attempt", {"job_id": job_id, "attempt": attempt}, cur=c)

    def cancel_requested_jobs(self, node: str) -> list[str]:
        return [r["id"] for r in self._all("cancel_requested_jobs", {"node": node})]

    # --- attaching: fetch and convert, then pending

    def claim_attaching_jobs(self, node: str, lease: float, limit: int = 1) -> list[Job]:
        """Up to ``limit`` jobs to prepare, in turn between accounts (one round trip), each with the
        account's ``paper`` and its uploaded ``originals`` (bytes, in order) and their
        ``original_types``."""
        rows = self._all("claim_attaching_jobs", {"node": node, "lease": lease, "limit": limit})
        return [job_record(dict(row, originals=[self.opened({"data": d})["data"] for d in row["originals"] or []]))
                for row in rows]

    def claim_attaching_job(self, node: str, lease: float) -> Job | None:
        jobs = self.claim_attaching_jobs(node, lease, 1)
        return jobs[0] if jobs else None

    def attach_done(self, job: Job, node: str, *, tiff: bytes, pdf: bytes, pages: int, width: int,
                    resolution: str, fetched: tuple[bytes, str | None] | None = None) -> bool:
        return self.attach_done_many(node, [AttachResult(job, tiff=tiff, pdf=pdf, pages=pages, width=width,
                                                         resolution=resolution, fetched=fetched)])[0]

    def attach_done_many(self, node: str, results: list[AttachResult]) -> list[bool]:
        """Store prepared documents: each job ``pending`` with its fax TIFF and PDF (and the
        original fetched from ``document.url``), its 'queued' notifications, all in one
        transaction (one WAL flush for the lot). A job no longer leased to ``node`` is left as it
        is: False in its place."""
        if not results:
            return []
        cols: dict[str, list] = {k: [] for k in ("ids", "pages", "widths", "resolutions", "tiff_ids", "tiff_sizes",
                                                 "tiff_sha256s", "tiffs", "pdf_ids", "pdf_sizes", "pdf_sha256s",
                                                 "pdfs")}
        for r in results:
            cols["ids"].append(r.job.id)
            cols["pages"].append(r.pages)
            cols["widths"].append(r.width)
            cols["resolutions"].append(r.resolution)
            for role, data in (("tiff", r.tiff), ("pdf", r.pdf)):
                cols[f"{role}_ids"].append(ids.new_id())
                cols[f"{role}_sizes"].append(len(data))
                cols[f"{role}_sha256s"].append(hashlib.sha256(data).hexdigest())
                cols[f"{role}s"].append(psycopg2.Binary(self.seal(data)))
        with self.transaction() as c:
            done = {row["id"] for row in self._all("attach_done_many", dict(cols, node=node, key_id=self.key_id),
                                                    cur=c)}
            for r in results:
                if r.job.id in done and r.fetched is not None:
                    self.add_document(r.job.account_id, job_id=r.job.id, role="original", seq=0,
                                      content_type=r.fetched[1] or "application/octet-stream", data=r.fetched[0],
                                      filename=None, cur=c)
            self.queue_job_notifications(c, "outbound_queued", [r.job.id for r in results if r.job.id in done])
        return [r.job.id in done for r in results]

    def attach_failed(self, job: Job, node: str, error: str, tx_result: dict) -> bool:
        with self.transaction() as c:
            row = self._one("attach_failed", {"id": job.id, "node": node, "error": error,
                                              "tx_result": Json(tx_result)}, cur=c)
            if row is None:
                return False
            self._notify(c, "outbound_failure", job_id=job.id)
            return True

    def attach_release(self, job_id: str, node: str) -> None:
        self._one("attach_release", {"id": job_id, "node": node})

    # --- inbound

    def start_incoming(self, *, account_id: str, faxbox_id: str | None, call_id: str, node: str, switch: str,
                       from_number: str, from_name: str, to_number: str, lease: float) -> str:
        incoming_id = ids.new_id()
        self._one("start_incoming", {
            "id": incoming_id, "account_id": account_id, "faxbox_id": faxbox_id, "call_id": call_id,
            "node": node, "switch": switch, "from_number": from_number, "from_name": from_name,
            "to_number": to_number, "lease": lease,
            "progress": Json({"stage": "answer", "pages_received": 0, "fax_speed": 0, "text": "Answering"})})
        return incoming_id

    def update_incoming(self, incoming_id: str, progress: dict, lease: float) -> None:
        params = {"id": incoming_id, "progress": Json(progress), "lease": lease}
        self.grouped(incoming_id, lambda c: self._one_prepared("update_incoming", params, c), one_statement=True)

    def end_incoming(self, incoming_id: str) -> None:
        self._one("end_incoming", {"id": incoming_id})

    def save_reception(self, *, incoming_id: str | None, account_id: str, faxbox_id: str | None, call_id: str,
                       from_number: str, from_name: str, to_number: str, rx_result: dict, success: bool,
                       pages: int, tiff: bytes | None, pdf: bytes | None) -> str | None:
        """Inbox row (+ TIFF and PDF when a fax arrived) + notifications, in one transaction.

        A failed or zero-page reception keeps no document but leaves an inbox error record.
        Returns the inbox id (None when this call was already saved).
        """
        inbox_id = ids.new_id()
        with self.transaction() as c:
            row = self._one("insert_inbox", {
                "id": inbox_id, "account_id": account_id, "faxbox_id": faxbox_id, "call_id": call_id,
                "status": "received" if success else "failed", "from_number": from_number,
                "from_name": from_name, "to_number": to_number, "rx_result": Json(rx_result),
                "page_count": pages}, cur=c)
            if incoming_id:
                self._one("end_incoming", {"id": incoming_id}, cur=c)
            if row is None:
                return None
            if success and tiff is not None:
                self.add_document(account_id, inbox_id=inbox_id, role="fax_tiff", content_type="image/tiff",
                                  data=tiff, pages=pages, filename="fax.tif", cur=c)
                if pdf is not None:
                    self.add_document(account_id, inbox_id=inbox_id, role="pdf", content_type="application/pdf",
                                      data=pdf, pages=pages, filename="fax.pdf", cur=c)
            self._notify(c, "inbound_success" if success else "inbound_failure", inbox_id=inbox_id)
            return inbox_id

    def forget_dead_incoming(self) -> None:
        self._one("forget_dead_incoming")

    # --- notifications written with the change

    def _notify(self, cur, event: str, **ids_) -> None:
        self.queue_notifications(cur, event, **ids_)


def _one_per_job(rows: list[dict]):
    """``rows`` in order, cut where a job comes again: a merged statement (UPDATE ... FROM)
    changes each row once, so a job's second write goes in the next statement."""
    chunk: list[dict] = []
    seen: set[str] = set()
    for row in rows:
        if row["id"] in seen:
            yield chunk
            chunk, seen = [], set()
        chunk.append(row)
        seen.add(row["id"])
    if chunk:
        yield chunk


def _text(value) -> str | None:
    """A nullable value as text for an array parameter (cast back in the statement)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)

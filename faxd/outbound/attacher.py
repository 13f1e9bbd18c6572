"""Attacher: jobs in ``attaching_files`` -> fetch/convert -> fax TIFF + PDF -> ``pending``.

A document that cannot be fetched or converted fails its job at once with the pipeline's
message (a permanent failure: no retry), so no job stays in ``attaching_files``.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import gevent
import gevent.event
import gevent.pool

from faxd.documents import DocumentError
from faxd.documents import cover as covers
from faxd.documents.cover import Cover
from faxd import failures
from faxd.errors import StoreError, StoreUnavailable, public_text
from faxd.models import Job, JobStatus, TxResult
from faxd.service import Service
from faxd.store.dispatch import AttachResult

logger = logging.getLogger(__name__)

# Seconds between tries of a database write during an outage (about a minute in all: a
# failover's usual length); the lease covers the rest.
WRITE_RETRY = (0, 0.5, 1, 2, 4, 8, 15, 30)
# Most prepared documents stored in one transaction.
WRITE_BATCH = 64


def default_concurrency() -> int:
    """Two documents per CPU core this process may run on (at least 4): a conversion alternates
    between a converter's CPU and the database, and a fax-ready TIFF needs only the database."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(4, 2 * cores)


def cover_of(job: Job, doc: dict, store, now: datetime) -> Cover | None:
    """The job's cover page (``cover_page``), its template from the faxbox when it names one."""
    spec = doc.get("cover_page")
    if not isinstance(spec, dict):
        return None
    faxbox = store.get_faxbox(job.account_id, job.faxbox_id) if job.faxbox_id else None
    name = spec.get("template")
    template = None
    if name not in (None, "default"):
        template = ((faxbox or {}).get("cover_templates") or {}).get(name)
        if template is None:
            raise DocumentError(f"the cover page template {name!r} is no longer in the faxbox")
    try:
        local = now.astimezone(ZoneInfo(doc["fax_timezone"])) if doc.get("fax_timezone") else now
    except (ZoneInfoNotFoundError, ValueError):
        local = now
    limit = covers.DEFAULT_MAX_FIELD
    fields = {
        "to_name": covers.clean(spec.get("to_name") or doc.get("to_name"), limit),
        "to_number": covers.clean(doc.get("to_number"), limit),
        "from_name": covers.clean(spec.get("from_name") or doc.get("from_name"), limit),
        "from_number": covers.clean(doc.get("from_number"), limit),
        "subject": covers.clean(spec.get("subject") or doc.get("subject"), limit),
        "message": covers.clean(spec.get("message"), covers.MAX_FIELD["message"]),
        "date": f"{local.day} {local:%B %Y}",
        "faxbox_name": covers.clean((faxbox or {}).get("name"), limit),
    }
    return Cover(fields, template)


class Attacher(Service):
    name = "attacher"

    def __init__(self, config, store, pipeline, node: str, concurrency: int | None = None,
                 now=lambda: datetime.now(timezone.utc)):
        self.concurrency = concurrency or config.attach_concurrency or default_concurrency()
        # Every job in flight (drain waits for them, stop kills them); the slots are counted below.
        super().__init__(work=gevent.pool.Group())
        self._config = config
        self._store = store
        self._pipeline = pipeline
        self._node = node
        self._now = now
        self._current: set[str] = set()      # claimed and not finished
        self._preparing: set[str] = set()    # claimed and not yet handed to the writer: the slots in use
        # Prepared documents waiting for the writer, each with the event its job waits on.
        self._results: list[tuple[AttachResult, gevent.event.AsyncResult]] = []
        self._writer: gevent.Greenlet | None = None
        # A conversion plus a fetch must fit in the lease, or another node would start it again.
        self._lease = config.convert_timeout + config.fetch_timeout + 60

    def wake(self, payload=None) -> None:
        """NOTIFY payload: the job's new status; a job that is already pending needs no attaching."""
        if payload != JobStatus.PENDING:
            self.wakeup.set()

    def start(self):
        return self.spawn_loops(self._loop)

    def stop(self):
        super().stop()
        if self._writer is not None:
            self._writer.kill(block=True, timeout=self.work_kill_timeout)
        for job_id in list(self._current):
            try:
                self._store.attach_release(job_id, self._node)
            except StoreError:
                pass

    def _loop(self) -> None:
        while self.accepting:
            self.wakeup.clear()
            try:
                while self.accepting and self._free() > 0:
                    # Every free slot in one claim (one round trip, the turns kept within it).
                    jobs = self._store.claim_attaching_jobs(self._node, self._lease, self._free())
                    for job in jobs:
                        self._current.add(job.id)
                        self._preparing.add(job.id)
                        self.work.spawn(self._attach_guarded, job)
                    if not jobs:
                        break
            except StoreError as e:
                logger.warning("attacher: %s", e)
            self.wakeup.wait(timeout=self._config.dispatch_tick * 5)

    def _attach_guarded(self, job: Job) -> None:
        try:
            for delay in WRITE_RETRY:
                gevent.sleep(delay)
                try:
                    self.attach(job)
                    break
                except StoreUnavailable as e:   # the database is away (a failover): try again
                    logger.warning("job %s: document not prepared yet (%s); retrying", job.id, e)
        except Exception:
            logger.exception("job %s: attaching crashed", job.id)
            self._fail(job, "internal error while preparing the document")
        finally:
            self._current.discard(job.id)
            self._slot_free(job)

    def _free(self) -> int:
        """Slots free: ``concurrency`` documents fetched or converted at once. A document handed
        to the writer no longer holds one (the next claim goes on while it is stored), unless a
        full batch is already waiting there (the database is slower than the preparation)."""
        if len(self._current) - len(self._preparing) >= WRITE_BATCH:
            return 0
        return max(0, self.concurrency - len(self._preparing))

    def _slot_free(self, job: Job) -> None:
        self._preparing.discard(job.id)
        self.wakeup.set()

    def attach(self, job: Job) -> None:
        doc = job.doc
        spec = doc.get("document") if isinstance(doc.get("document"), dict) else {}
        fetched = None
        try:
            # The claim brings the uploaded originals (in order) and the account's paper.
            inputs = [(bytes(d), t) for d, t in zip(job.originals, job.original_types)]
            if not inputs and spec.get("url"):
                body, ctype = self._pipeline.fetch(spec["url"], method=spec.get("method", "get"),
                                                   content=spec.get("content"),
                                                   content_type=spec.get("content_type"),
                                                   host=spec.get("host"), referer=spec.get("referer"))
                fetched = (body, ctype)
                inputs = [fetched]
            if not inputs:
                raise DocumentError("the job has no document: give document.url or attach a file")
            paper = doc.get("paper") or job.paper
            fax = self._pipeline.convert(inputs, resolution=doc.get("resolution"), paper=paper,
                                         cover=cover_of(job, doc, self._store, self._now()))
            pdf = self._pipeline.tiff_to_pdf(fax.tiff)
        except DocumentError as e:
            logger.info("job %s: document refused: %s", job.id, e)
            self._fail(job, public_text(str(e)))
            return
        result = AttachResult(job, tiff=fax.tiff, pdf=pdf, pages=fax.pages, width=fax.width,
                              resolution=fax.resolution, fetched=fetched)
        self._slot_free(job)
        if self._written(job, lambda: self._store_result(result)):
            logger.info("job %s: document ready, %d pages", job.id, fax.pages)

    def _store_result(self, result: AttachResult) -> bool:
        """Hand the result to the writer and wait until it is stored (True) or found no longer
        ours (False); a database error is raised here, for this job's own retries."""
        done = gevent.event.AsyncResult()
        self._results.append((result, done))
        if self._writer is None or self._writer.dead:
            self._writer = gevent.spawn(self._write_results)
        return done.get()

    def _write_results(self) -> None:
        """Store the results that are ready, one transaction after the other. While fewer wait
        than twice the node's slots, each goes alone: its job is due at its own commit and the
        dispatcher claims the jobs as they come (jobs made due together are claimed one after
        the other, the last some claims later: a few faxes at once went from queued to dialled
        no sooner in batches, and from prepared to dialled 10-20 ms later). More waiting means
        the database is what limits preparation (a burst of fax-ready documents): then all that
        wait go together, up to ``WRITE_BATCH`` (a group commit: one commit, one statement)."""
        while self._results:
            backlog = len(self._results) >= 2 * self.concurrency
            n = min(len(self._results), WRITE_BATCH) if backlog else 1
            batch, self._results = self._results[:n], self._results[n:]
            try:
                stored = self._store.attach_done_many(self._node, [r for r, _ in batch])
            except StoreUnavailable as e:
                for _, done in batch:
                    done.set_exception(e)
                continue
            except StoreError as e:
                if len(batch) == 1:
                    batch[0][1].set_exception(e)
                    continue
                # What the database refused may be one job's result: each alone, so that the
                # others are stored and only that one fails.
                for result, done in batch:
                    try:
                        done.set(self._store.attach_done_many(self._node, [result])[0])
                    except StoreError as e1:
                        done.set_exception(e1)
                continue
            except Exception as e:
                for _, done in batch:
                    done.set_exception(e)
                continue
            for (_, done), ok in zip(batch, stored):
                done.set(ok)

    def _written(self, job: Job, write) -> bool:
        """Run ``write`` until the database takes it: a document converted during a database
        outage (a failover) is kept, not converted again once the lease expires minutes later."""
        for delay in WRITE_RETRY:
            gevent.sleep(delay)
            try:
                return bool(write())
            except StoreError as e:
                logger.warning("job %s: result not written yet (%s); retrying", job.id, e)
        logger.error("job %s: result not written; it is prepared again when its lease expires", job.id)
        return False

    def _fail(self, job: Job, message: str) -> None:
        elapsed = int((self._now() - job.created).total_seconds())
        result = failures.annotate(TxResult(error_message=message, time_elapsed=max(0, elapsed)))
        self._written(job, lambda: self._store.attach_failed(job, self._node, message, result.to_dict()))

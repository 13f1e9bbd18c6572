"""Transmission: one job, one attempt, straight-line, with a deadline per stage.

prepare -> originate -> negotiate -> pages -> release. The attempt's lease is renewed by a
companion greenlet; a lost lease (another node took over) stops this worker without writing.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import gevent
import gevent.queue

from faxd import failures, metrics, routes
from faxd.errors import StoreError
from faxd.logs import FaxAdapter
from faxd import notification_plan as notify_plan
from faxd.models import Job, JobStatus, Stage
from faxd.outbound.results import build_tx_result
from faxd.retry import NOT_A_FAX_CODES, RetryPolicy
from faxd.schedule import Schedule
from faxd.switch.base import Call, FaxOptions, OriginateRequest, OutboundSwitch, StagedDocument, t38_mode
from faxd.switch.events import Answered, FaxResult, Hangup, Negotiated, PageDone, Ringing, SwitchLost

logger = logging.getLogger(__name__)


# Seconds between two writes of a call's live progress.
PROGRESS_INTERVAL = 0.5


class StageTimeout(Exception):
    def __init__(self, stage: Stage):
        super().__init__(f"timed out in stage {stage.value}")
        self.stage = stage


class Expired(Exception):
    """The job's expires_at passed before this attempt could dial."""


class MissingDocument(Exception):
    """The job's fax TIFF is gone (its documents were deleted)."""


RING_GRACE = 5.0   # seconds the originate watchdog waits beyond the ring timeout


@dataclass
class Timeouts:
    originate: float = 90.0
    negotiate: float = 120.0
    page: float = 360.0
    hangup: float = 30.0
    lost: float = 60.0             # how long to wait for a call after the switch connection dropped

    @classmethod
    def from_config(cls, config) -> "Timeouts":
        return cls(originate=config.originate_timeout, negotiate=config.negotiate_timeout,
                   page=config.page_timeout)


@dataclass
class Engine:
    """What every Transmission needs; built once by the daemon."""
    config: object
    store: object
    switch: OutboundSwitch
    node: str
    policy: RetryPolicy
    timeouts: Timeouts
    switch_name: str = "software"
    now: object = field(default=lambda: datetime.now(timezone.utc))


def fax_options(config, doc: dict, faxbox: dict | None, force_audio: bool) -> FaxOptions:
    """The job's fax options: job document, then faxbox, then configuration."""
    faxbox = faxbox or {}
    media = (faxbox.get("media") or {})
    option = doc.get("media", {}).get("fax_option") if isinstance(doc.get("media"), dict) else None
    if option is None:
        option = media.get("fax_option")
    t38 = "off" if force_audio else t38_mode(option, config.t38)
    station = (doc.get("fax_identity_number") or faxbox.get("fax_identity") or doc.get("from_number")
               or config.station_id)
    header = doc.get("fax_header") or faxbox.get("fax_header") or doc.get("from_name") or ""
    return FaxOptions(station_id=str(station)[:20], header=str(header)[:50],
                      ecm=doc.get("fax_use_ecm", True) is not False, v17=True, t38=t38)


class Transmission:
    def __init__(self, engine: Engine, job: Job, resume_call: Call | None = None):
        self._e = engine
        self.job = job
        self.job_id = job.id
        self.attempt = job.attempts
        self._call: Call | None = resume_call
        self._cancelled = False
        self._aborted = False
        self._lost = False
        self._stage = Stage.PREPARE
        self._pages_total = job.page_count or 0
        self._progress = dict(stage=Stage.PREPARE.value, pages_sent=0, pages_total=self._pages_total,
                              fax_speed=0, text="Preparing the call")
        self._fax: FaxResult | None = None
        self._hangup: Hangup | None = None
        self._switch_lost = False          # the connection to the switch dropped during the call
        self._pages_confirmed = 0          # pages the switch reported done (the receiver's MCF)
        self._spool: StagedDocument | None = None    # the switch's copy of the outbound TIFF
        self.log = FaxAdapter(logger, {"job": self.job_id, "call": getattr(resume_call, "call_id", None),
                                       "account": job.account_id})
        self._missing_document = False
        self._deferred = False             # put back in the queue by per-number spacing or its route
        self._route: dict | None = None    # the route of this attempt (faxd/routes.py)
        self._learned: dict | None = None  # what was learned for the number
        self._force_no_ecm = False         # ECM failed on an earlier attempt
        self._route_record: dict | None = None
        self._last_write = 0.0
        self._flush: gevent.Greenlet | None = None
        self._call_started = time.monotonic() if resume_call is not None else None

    # --- control from the dispatcher

    def cancel(self) -> None:
        """Hang up (if on a call) and finish the job as cancelled."""
        if self._cancelled:
            return
        self._cancelled = True
        self.log.info("cancel requested")
        if self._call is not None:
            self._call.hangup("ORIGINATOR_CANCEL")

    def abort(self) -> None:
        """Shutdown: hang up and give the job back to the queue (attempt not counted)."""
        self._aborted = True
        if self._call is not None:
            try:
                self._call.hangup("NORMAL_CLEARING")
            except Exception:
                self.log.exception("hangup during shutdown failed")

    # --- the attempt

    def run(self) -> None:
        renewer = gevent.spawn(self._renew_lease)
        error = None
        try:
            if self._call is None:
                if self._schedule().expired(self._e.now()):
                    raise Expired("expired: not sent before its expires_at")
                if self._too_soon() or self._route_waits():
                    return
                self._prepare()
                self._originate()
            self._follow_call()
        except Expired as e:
            error = str(e)
            self.log.info("%s", error)
        except StageTimeout as e:
            error = f"timeout: no progress in stage {e.stage.value}"
            self.log.warning("%s", error)
            self._hang_up_and_wait()
        except MissingDocument as e:
            error = str(e)
            self._missing_document = True
        except gevent.GreenletExit:
            self._aborted = True
            raise
        finally:
            renewer.kill(block=False)
            if self._flush is not None:
                self._flush.kill(block=False)
            self._remove_spool()
            if self._aborted and not self._lost:
                self._return_to_queue()
        if not self._lost and not self._aborted and not self._deferred:
            self._release(error)

    def _too_soon(self) -> bool:
        """Per-number spacing (``number_min_gap``): a call to a number that had one less than the
        gap ago waits for the gap to pass, back in the queue, this attempt not counted."""
        gap = getattr(self._e.config, "number_min_gap", 0)
        if not gap:
            return False
        last = self._e.store.number_last_call(self.job.to_number)
        if last is None or self._e.now() >= last + timedelta(seconds=gap):
            return False
        self._deferred = True
        self._e.store.defer_job(self.job_id, self._e.node, self.attempt, last + timedelta(seconds=gap))
        self.log.info("deferred: the last call to %s ended less than %g s ago", self.job.to_number, gap)
        return True

    def _route_waits(self) -> bool:
        """Find the job's route and take a place on it (``max_calls``, ``min_gap``, ``switch``);
        when it has none free, back to the queue, this attempt not counted."""
        now = self._e.now()
        found, self._learned, self._force_no_ecm = self._e.store.routes_for_number(
            self.job.account_id, self.job.to_number, now, self.job_id)
        route = self._route = routes.choose(found, self.job.to_number)
        if route is None:
            return False
        busy = now + timedelta(seconds=getattr(self._e.config, "route_busy_wait", 5.0))
        if route.get("switch") and route["switch"] != self._e.switch_name:
            return self._defer(busy, f"Waiting for a node on switch {route['switch']} (its route {route['prefix']})")
        if route.get("max_calls") or route.get("min_gap"):
            when = self._e.store.admit_route(self.job_id, route, now)
            if when is not None:
                return self._defer(max(when, busy) if when <= now else when,
                                   f"Waiting for a free call on its route {route['prefix']}")
        return False

    def _defer(self, run_after: datetime, text: str) -> bool:
        self._deferred = True
        self._e.store.defer_job(self.job_id, self._e.node, self.attempt, run_after, text)
        self.log.info("deferred until %s: %s", run_after.isoformat(), text)
        return True

    def _prepare(self) -> None:
        self._stage = Stage.PREPARE
        tiff = self.job.fax_tiff
        if tiff is None:
            raise MissingDocument("the job has no fax document any more (its attachments were deleted)")
        name = f"tx-{self.job_id}-{self.attempt}.tif"
        self._spool = self._e.switch.stage_document(name, tiff)

    def _originate(self) -> None:
        self._stage = Stage.ORIGINATE
        job = self.job
        doc = job.doc
        call_id = job.call_id  # chosen and recorded by the claim
        self.log = FaxAdapter(logger, {"job": self.job_id, "call": call_id, "account": job.account_id})
        faxbox = None
        if job.faxbox_id:
            faxbox = {"fax_identity": job.faxbox_identity, "fax_header": job.faxbox_header,
                      "media": job.faxbox_media or {}}
        route = self._route or {}
        options = routes.options(fax_options(self._e.config, doc, faxbox, job.force_audio), self._route,
                                 self._learned, force_audio=job.force_audio, force_no_ecm=self._force_no_ecm)
        self._route_record = routes.record(self._route, options, self._learned)
        request = OriginateRequest(
            call_id=call_id, job_id=self.job_id, to_number=job.to_number,
            from_number=job.from_number, from_name=job.from_name or "",
            tiff_path=self._spool.path, options=options, ring_timeout=self._ring_timeout(doc),
            dial_string=route.get("dial_string") or "", gateway=route.get("gateway") or "")
        self.log.info("originate to %s (attempt %d)", request.to_number, self.attempt)
        self._call_started = time.monotonic()
        self._call = self._e.switch.originate(request)
        if self._cancelled:
            self._call.hangup("ORIGINATOR_CANCEL")
        # The claim already shows "Dialling"; the notifications wait until the call is placed,
        # and cost nothing when nobody listens for them.
        self._last_write = time.monotonic()
        if notify_plan.plan("outbound_processing", {"doc": doc, "status": JobStatus.PROCESSING,
                                                     "faxbox_notifications": job.faxbox_notifications}):
            gevent.spawn(self._attempt_started)

    def _ring_timeout(self, doc: dict) -> float:
        """The job's own ``ring_timeout`` (validated by the API), else ``originate_timeout``."""
        ring = doc.get("ring_timeout")
        if isinstance(ring, (int, float)) and not isinstance(ring, bool) and ring > 0:
            return float(ring)
        return self._e.timeouts.originate

    def _attempt_started(self) -> None:
        try:
            self._e.store.attempt_started(self.job_id)
        except StoreError as e:
            self.log.warning("processing notifications not queued: %s", e)

    def _next_event(self, timeout: float):
        """The next call event, or raise StageTimeout; a cancel wakes us at once."""
        if not self._call.events.empty():
            return self._call.events.get_nowait()   # events come in bursts: no timer needed
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StageTimeout(self._stage)
            try:
                return self._call.events.get(timeout=min(remaining, 1.0))
            except gevent.queue.Empty:
                continue

    def _follow_call(self) -> None:
        """Read events until Hangup, each stage with its own deadline."""
        # The switch gives up ringing after the ring timeout and says why (NO_ANSWER); the
        # watchdog waits a little longer so that the switch's own cause is what gets recorded.
        ring = self._ring_timeout(self.job.doc)
        stage_timeout = {Stage.ORIGINATE: ring + RING_GRACE, Stage.NEGOTIATE: self._e.timeouts.negotiate,
                         Stage.PAGES: self._e.timeouts.page, Stage.RELEASE: self._e.timeouts.hangup}
        if self._stage == Stage.PREPARE:
            self._stage = Stage.ORIGINATE
        while True:
            if self._cancelled and self._stage != Stage.RELEASE:
                self._stage = Stage.RELEASE
            timeout = stage_timeout.get(self._stage, self._e.timeouts.page)
            event = self._next_event(timeout)
            if isinstance(event, Ringing):
                self._set_progress(Stage.ORIGINATE, "Ringing")
            elif isinstance(event, Answered):
                self._set_progress(Stage.NEGOTIATE, "Answered: negotiating")
            elif isinstance(event, Negotiated):
                speed = event.bit_rate
                self._progress.update(fax_speed=speed, ecm=event.ecm, t38=event.t38,
                                      remote_station_id=event.remote_station_id)
                self._set_progress(Stage.PAGES, event.text)
            elif isinstance(event, PageDone):
                self._pages_confirmed = max(self._pages_confirmed, event.pages)
                self._progress.update(pages_sent=event.pages, fax_speed=event.bit_rate or self._progress["fax_speed"],
                                      bad_rows=event.bad_rows)
                total = event.pages_total or self._pages_total
                if total:
                    self._progress["pages_total"] = total
                self._set_progress(Stage.PAGES, f"Sent page {event.pages} of {total or '?'}")
            elif isinstance(event, FaxResult):
                self._fax = event
                self._set_progress(Stage.RELEASE, "Fax sent" if event.success else event.result_text,
                                   write=False)
            elif isinstance(event, SwitchLost):
                self._switch_lost = True
                self.log.warning("switch connection lost; waiting for the call to come back")
                stage_timeout[self._stage] = self._e.timeouts.lost
            elif isinstance(event, Hangup):
                self._hangup = event
                return

    def _hang_up_and_wait(self) -> None:
        if self._call is None:
            return
        try:
            self._call.hangup("RECOVERY_ON_TIMER_EXPIRE")
            deadline = time.monotonic() + self._e.timeouts.hangup
            while time.monotonic() < deadline:
                try:
                    event = self._call.events.get(timeout=deadline - time.monotonic())
                except gevent.queue.Empty:
                    break
                if isinstance(event, FaxResult):
                    self._fax = event
                if isinstance(event, Hangup):
                    self._hangup = event
                    break
        except Exception:
            self.log.exception("hangup after timeout failed")

    def _set_progress(self, stage: Stage, text: str, write: bool = True) -> None:
        """Update the live progress; written at most every PROGRESS_INTERVAL seconds.

        A real fax takes seconds per page, so every page shows; a burst of events (an
        unpaced software call) costs one write instead of one per event.
        """
        self._stage = stage
        self._progress.update(stage=stage.value, text=text)
        if not write:
            return
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_INTERVAL:
            self._write_progress()
        elif self._flush is None:
            self._flush = gevent.spawn_later(PROGRESS_INTERVAL - (now - self._last_write), self._write_progress)

    def _write_progress(self) -> None:
        self._flush = None
        self._last_write = time.monotonic()
        try:
            self._e.store.record_progress(self.job_id, self._e.node, self.attempt, dict(self._progress))
        except StoreError as e:
            self.log.warning("progress not recorded: %s", e)

    def _renew_lease(self) -> None:
        lease = self._e.config.lease_seconds
        while True:
            gevent.sleep(max(0.2, lease / 3))
            try:
                ours, cancel = self._e.store.renew_lease(self.job_id, self._e.node, self.attempt, lease)
            except StoreError as e:
                self.log.warning("lease not renewed: %s", e)
                continue
            if not ours:
                # Another node took the attempt over (and re-attaches to the call if the switch
                # still has it): follow the call to its end but write nothing.
                self.log.warning("lease lost: another node took this job over")
                self._lost = True
                return
            if cancel:
                self.cancel()

    # --- the end

    def _elapsed(self) -> int:
        created = self.job.created
        return int((self._e.now() - created).total_seconds())

    def _release(self, error: str | None) -> None:
        if self._cancelled:
            error = "cancelled by user"
        result = build_tx_result(fax=self._fax, hangup=self._hangup, elapsed=self._elapsed(),
                                 pages_total=self._pages_total, error=error)
        if self._missing_document:
            result.result_code, result.result_text = 41, "TIFF/F file cannot be opened"  # permanent
        self._delivered_before_loss(result)
        not_fax = self.job.not_fax_failures
        decision = routes.retry_policy(self._e.policy, self._route).decide(
            retries=self.job.retries, attempts=self.attempt, result=result, now=self._e.now(),
            force_audio=self.job.force_audio, not_fax_failures=not_fax,
            cancelled=self._cancelled, schedule=self._schedule(), force_no_ecm=self._force_no_ecm)
        if decision.reason == "expired" and not result.error_message.startswith("expired"):
            result.error_message = f"expired: not sent before its expires_at (last attempt: {result.error_message})"
        if result.result_code in NOT_A_FAX_CODES:
            not_fax += 1
        failures.annotate(result)
        progress = dict(self._progress, stage=Stage.RELEASE.value)
        progress["text"] = {
            JobStatus.COMPLETED: f"Sent {result.pages_sent} of {result.pages_total or result.pages_sent} pages",
            JobStatus.FAILED: f"Failed: {result.error_message}",
            JobStatus.CANCELLED: "Cancelled by user",
            JobStatus.PENDING: f"Attempt {self.attempt} failed ({result.error_message}); will retry",
        }[decision.status]
        self._write_release(decision, result, progress, not_fax)

    def _schedule(self) -> Schedule:
        return Schedule.of_job(self.job.doc, self.job.to_number)

    def _delivered_before_loss(self, result) -> None:
        """The switch was lost before its phase E report, after every page was confirmed: the
        receiver has the whole document (each page's MCF was reported as PageDone), so the
        attempt is a success; sending it again would deliver the fax twice."""
        if (result.success or self._fax is not None or not self._switch_lost or self._cancelled
                or not self._pages_total or self._pages_confirmed < self._pages_total):
            return
        result.success = True
        result.pages_sent = self._pages_confirmed
        result.error_message = ""
        result.result_text = "every page was confirmed before the connection to the switch was lost"
        self.log.warning("switch lost after the last page was confirmed: the fax counts as sent")

    def _write_release(self, decision, result, progress, not_fax) -> None:
        for delay in (0, 0.5, 1, 2, 4, 8, 15, 30):
            gevent.sleep(delay)
            try:
                written = self._e.store.release_job(
                    self.job_id, self._e.node, self.attempt, status=decision.status, outcome=decision.outcome,
                    tx_result=result.to_dict(), progress=progress, run_after=decision.run_after,
                    force_audio=decision.force_audio, not_fax_failures=not_fax,
                    error=None if result.success else result.error_message,
                    notify=self._listened(decision.status), force_no_ecm=decision.force_no_ecm,
                    route=self._route_record)
                if written:
                    self.log.info("attempt %d: %s (%s)", self.attempt, decision.status,
                                  result.error_message or "ok")
                    metrics.attempt_ended(self._e.node, "outbound", result, decision.status != "pending",
                                          None if self._call_started is None
                                          else time.monotonic() - self._call_started)
                    if getattr(self._e.config, "number_min_gap", 0) and self._call is not None:
                        self._e.store.number_call_ended(self.job_id)
                    self._learn(result.success)
                else:
                    self.log.warning("attempt %d ended but the job is no longer ours", self.attempt)
                return
            except StoreError as e:
                self.log.warning("result not written yet (%s); retrying", e)
        # The lease expires; the node that takes it over counts this attempt as interrupted.
        self.log.error("could not write the result of attempt %d", self.attempt)

    def _learn(self, success: bool) -> None:
        """A success in audio after this job's T.38 attempt failed (or without ECM after its ECM
        attempt failed): the number's next fax starts that way (``learn_days``)."""
        lesson = routes.lesson(success=success, force_audio=self.job.force_audio, force_no_ecm=self._force_no_ecm)
        days = getattr(self._e.config, "learn_days", 0)
        if not lesson or not days:
            return
        try:
            self._e.store.learn_number(self.job.account_id, self.job.to_number, t38_off=lesson.get("t38_off", False),
                                       ecm_off=lesson.get("ecm_off", False), now=self._e.now(), days=days)
            self.log.info("learned for %s: %s (for %d days)", self.job.to_number, ", ".join(lesson), days)
        except StoreError as e:
            self.log.warning("not learned for %s: %s", self.job.to_number, e)

    def _listened(self, status: JobStatus) -> bool:
        """Whether anyone (email, SMS, webhook) hears about this job reaching ``status``."""
        if not self.job.faxbox_joined:
            return True  # a job taken over from another node: let the store look it up
        event = {JobStatus.COMPLETED: "outbound_success", JobStatus.FAILED: "outbound_failure",
                 JobStatus.CANCELLED: "outbound_cancelled", JobStatus.PENDING: "outbound_queued"}[status]
        return bool(notify_plan.plan(event, {"doc": self.job.doc, "status": status,
                                             "faxbox_notifications": self.job.faxbox_notifications}))

    def _return_to_queue(self) -> None:
        try:
            self._e.store.return_job_to_pending(self.job_id, self._e.node, self.attempt)
            self.log.info("returned to the queue")
        except StoreError as e:
            self.log.warning("not returned to the queue (%s); its lease will expire", e)

    def _remove_spool(self) -> None:
        if self._spool is not None:
            self._spool.release()
            self._spool = None

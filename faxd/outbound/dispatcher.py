"""Dispatcher: NOTIFY (or the fallback tick) -> claim -> one Transmission greenlet per job.

Also takes over jobs whose lease expired (a node died): re-attach to the call when the switch
still has it, otherwise count the attempt as interrupted and let the retry policy decide.
"""
from __future__ import annotations

import logging
import time

import gevent
import gevent.pool

from faxd import failures
from faxd.errors import DocumentKeyError, StoreError
from faxd.metrics import DISPATCH
from faxd.models import Job, JobStatus, Stage
from faxd.outbound.results import build_tx_result
from faxd.outbound.transmission import Engine, Transmission
from faxd.schedule import Schedule
from faxd.service import Service
from faxd.store.dispatch import BLOCKED

logger = logging.getLogger(__name__)

# Seconds during which ended calls are gathered into one new claim.
COALESCE = 0.02
# Most jobs one claim takes: a claim holds its switch's turn and its accounts' rows until it
# commits, so a bigger batch makes other claims wait longer for little less cost per job.
CLAIM_BATCH = 20


class Dispatcher(Service):
    name = "dispatcher"

    work_kill_timeout = 10.0

    def __init__(self, engine: Engine):
        super().__init__(work=gevent.pool.Group())
        self._e = engine
        self._running: dict[str, Transmission] = {}
        self._pending_wake: gevent.Greenlet | None = None
        self._blocked = True               # until a claim says otherwise

    # --- wake-ups (called from the listener greenlet: cheap)

    def wake(self, payload=None) -> None:
        """A job became runnable (NOTIFY payload: its status; None: wake regardless)."""
        if payload != JobStatus.ATTACHING_FILES:
            self.wakeup.set()

    def _call_ended(self) -> None:
        """A channel (and maybe an account's or a number's turn) is free: claim again soon if
        the last claim saw due jobs waiting for a limit. (Nothing waiting: new work arrives by
        NOTIFY, delayed retries by the tick.) Calls that end within COALESCE of each other
        share one claim instead of one each.
        """
        if self._blocked and self._pending_wake is None:
            self._pending_wake = gevent.spawn_later(COALESCE, self._fire_wake)

    def _fire_wake(self) -> None:
        self._pending_wake = None
        self.wakeup.set()

    def cancel(self, job_id: str | None) -> None:
        if job_id is None:  # listener (re)connected: look for cancels we may have missed
            gevent.spawn(self._catch_up_cancels)
            return
        t = self._running.get(job_id)
        if t is not None:
            t.cancel()

    def _catch_up_cancels(self) -> None:
        try:
            for job_id in self._e.store.cancel_requested_jobs(self._e.node):
                self.cancel(job_id)
        except StoreError as e:
            logger.warning("cancel catch-up failed: %s", e)

    # --- service

    def start(self):
        return self.spawn_loops(self._claim_loop, self._recovery_loop)

    def stop(self):
        if self._pending_wake is not None:
            self._pending_wake.kill(block=False)
        self.stop_loops()
        for t in list(self._running.values()):
            t.abort()
        self.stop_work()

    @property
    def running(self) -> int:
        return len(self._running)

    # --- claiming

    def _claim_loop(self) -> None:
        """Claim until nothing is runnable, then wait for a NOTIFY, a finished call or the tick.

        The tick (``dispatch_tick``) is also the clock of delayed retries: a retry goes out
        within one tick of its ``run_after``.
        """
        while self.accepting:
            self.wakeup.clear()
            wait = self._e.config.dispatch_tick
            try:
                while self.accepting and self._claim():
                    pass
            except StoreError as e:
                logger.warning("dispatcher: %s", e)
                wait = min(2.0, max(wait, 0.5))
            except DocumentKeyError as e:
                # Every job claimed went back to the queue (the store says which and why).
                logger.error("dispatcher: no claimed document opens with this node's keys: %s", e)
                wait = min(2.0, max(wait, 0.5))
            self.wakeup.wait(timeout=wait)

    def _claim(self) -> bool:
        """Claim up to the free channels (at most CLAIM_BATCH) in one round trip and start them."""
        free = self._e.config.max_channels - len(self._running)
        jobs = self._e.store.claim_jobs(self._e.node, self._e.switch_name, self._e.config.max_channels,
                                        self._e.config.lease_seconds, max(1, min(CLAIM_BATCH, free)))
        if jobs is None or jobs == BLOCKED:
            self._blocked = jobs == BLOCKED
            return False
        for job in jobs:
            ready = job.run_after or job.created    # runnable since: converted, or the time asked for
            if job.attempts == 1 and ready is not None:
                claimed = job.claimed or self._e.now()
                DISPATCH.labels(self._e.node).observe(max(0.0, (claimed - ready).total_seconds()))
            self._spawn(Transmission(self._e, job))
            if job.cancel_requested:
                self._running[job.id].cancel()
        return True

    def _spawn(self, t: Transmission) -> None:
        self._running[t.job_id] = t

        def run():
            try:
                t.run()
            except gevent.GreenletExit:
                raise
            except Exception:
                # A fax greenlet that dies fails only its own fax: its lease expires and the
                # job is recovered as interrupted.
                t.log.exception("transmission crashed")
            finally:
                self._running.pop(t.job_id, None)
                self._call_ended()
        self.work.spawn(run)

    # --- recovery of other nodes' (or our own previous life's) jobs

    def _recovery_loop(self) -> None:
        """Take over the leases that expired (their node stopped), every third of a lease.

        After the database was unreachable (a restart, a failover), every node's leases may
        have expired at once, through no fault of theirs: for one lease period no lease is
        taken over, so that each node's workers renew their own first (they follow their calls
        on through the outage) instead of another node counting live calls as interrupted.
        """
        interval = max(0.5, self._e.config.lease_seconds / 3)
        quiet_until = 0.0
        while self.accepting:
            try:
                if time.monotonic() >= quiet_until:
                    for job in self._e.store.take_expired_leases(self._e.node, self._e.config.lease_seconds):
                        self._recover(job)
                self._e.store.forget_dead_incoming()
            except StoreError as e:
                logger.warning("recovery: %s", e)
                quiet_until = time.monotonic() + self._e.config.lease_seconds + interval
            gevent.sleep(interval)

    def _recover(self, job: Job) -> None:
        if job.id in self._running:
            # Our own worker missed renewals (database outage): the lease is ours again and
            # the worker carries on with its call.
            logger.info("job %s: lease renewed for our own running attempt", job.id)
            return
        call = None
        if job.call_id and job.switch == self._e.switch_name:
            try:
                call = self._e.switch.find_call(job.call_id)
            except Exception:
                logger.exception("job %s: looking for call %s failed", job.id, job.call_id)
        if call is not None:
            logger.info("job %s: re-attached to call %s", job.id, job.call_id)
            self._spawn(Transmission(self._e, job, resume_call=call))
            return
        logger.warning("job %s: its node stopped during attempt %d; counting it as interrupted",
                       job.id, job.attempts)
        result = build_tx_result(fax=None, hangup=None, pages_total=job.page_count or 0,
                                 elapsed=int((self._e.now() - job.created).total_seconds()),
                                 error="interrupted: the node running this fax stopped")
        result.hangup_cause = "INTERRUPTED"
        failures.annotate(result)
        decision = self._e.policy.decide(retries=job.retries, attempts=job.attempts, result=result,
                                         now=self._e.now(), force_audio=job.force_audio,
                                         not_fax_failures=job.not_fax_failures,
                                         cancelled=job.cancel_requested, interrupted=True,
                                         schedule=Schedule.of_job(job.doc, job.to_number))
        progress = dict(job.progress, stage=Stage.RELEASE.value,
                        text=f"Attempt {job.attempts} interrupted")
        self._e.store.release_job(job.id, self._e.node, job.attempts, status=decision.status,
                                  outcome=decision.outcome, tx_result=result.to_dict(), progress=progress,
                                  run_after=decision.run_after, force_audio=decision.force_audio,
                                  not_fax_failures=job.not_fax_failures, error=result.error_message)

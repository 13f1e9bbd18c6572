"""RetryPolicy: (job, attempt result) -> what happens next. Pure: no I/O, no clock of its own.

Kazoo's rules, with its gaps closed:
- ``retries`` is the maximum number of attempts; 0 and 1 both mean one attempt.
- Permanent failures are not retried: those the error taxonomy (faxd/failures.py,
  docs/errors.md) marks permanent (an invalid or unallocated number, a barred call, a document
  the far end or spandsp cannot take...), and a far end that is not a fax machine after
  ``not_fax_attempts`` tries.
- A T.38 attempt that fails before any page went through is retried once, at once, over
  audio (T.38 off), as an extra attempt; likewise an attempt whose error correction (ECM)
  failed is retried once, at once, without ECM.
- Otherwise wait ``retry_period`` (overridable per hangup cause or T.30 code) and try again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from faxd import failures, t30codes
from faxd.models import JobStatus, TxResult
from faxd.schedule import Schedule

# Hangup causes that no retry will fix: the permanent ones of the error taxonomy.
PERMANENT_CAUSES = frozenset(name for name, f in failures.CAUSES.items() if f.permanent)
# spandsp T.30 completion codes (faxd.t30codes).
NOT_A_FAX_CODES = t30codes.NOT_A_FAX
DOCUMENT_CODES = t30codes.DOCUMENT
CANCELLED_CAUSE = "ORIGINATOR_CANCEL"


@dataclass(frozen=True)
class Decision:
    status: JobStatus                 # completed | failed | pending | cancelled
    outcome: str                      # the attempt's outcome: completed | failed | interrupted | cancelled
    run_after: datetime | None = None
    force_audio: bool = False
    reason: str = ""
    force_no_ecm: bool = False        # ECM failed: the next attempt goes without

    @property
    def final(self) -> bool:
        return self.status.final


def parse_overrides(text: str) -> dict[str, int]:
    """``"USER_BUSY=60, NO_ANSWER=900, 49=120"`` -> {"USER_BUSY": 60, ...}."""
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit() or not key.strip():
            raise ValueError(f"{item!r} is not CAUSE=SECONDS")
        out[key.strip().upper()] = int(value)
    return out


@dataclass(frozen=True)
class RetryPolicy:
    retry_period: int = 300
    overrides: dict[str, int] = field(default_factory=dict)
    not_fax_attempts: int = 2

    def max_attempts(self, retries: int | None) -> int:
        return max(1, retries or 0)

    def period_for(self, result: TxResult) -> int:
        for key in (result.hangup_cause, str(result.result_code) if result.result_code is not None else None):
            if key and key.upper() in self.overrides:
                return self.overrides[key.upper()]
        return self.retry_period

    def decide(self, *, retries: int | None, attempts: int, result: TxResult, now: datetime,
               force_audio: bool = False, not_fax_failures: int = 0, cancelled: bool = False,
               interrupted: bool = False, schedule: Schedule | None = None,
               force_no_ecm: bool = False) -> Decision:
        """``attempts`` includes the one that just ended; ``not_fax_failures`` counts earlier ones.
        ``schedule``: the job's expiry and send window; a retry waits for the window, and a
        job past its expiry is not tried again."""
        decision = self._decide(retries=retries, attempts=attempts, result=result, now=now,
                                force_audio=force_audio, not_fax_failures=not_fax_failures,
                                cancelled=cancelled, interrupted=interrupted, force_no_ecm=force_no_ecm)
        if schedule is None or decision.status != JobStatus.PENDING:
            return decision
        if schedule.expired(now):
            return Decision(JobStatus.FAILED, decision.outcome, force_audio=decision.force_audio, reason="expired",
                            force_no_ecm=decision.force_no_ecm)
        return Decision(JobStatus.PENDING, decision.outcome, run_after=schedule.next_run(decision.run_after or now),
                        force_audio=decision.force_audio, reason=decision.reason, force_no_ecm=decision.force_no_ecm)

    def _decide(self, *, retries, attempts, result, now, force_audio, not_fax_failures, cancelled,
                interrupted, force_no_ecm=False) -> Decision:
        if cancelled:
            return Decision(JobStatus.CANCELLED, "cancelled", reason="cancelled")
        if result.success:
            return Decision(JobStatus.COMPLETED, "completed")
        outcome = "interrupted" if interrupted else "failed"
        failure = failures.classify(result)
        if failure is not None and failure.permanent:   # docs/errors.md: what no retry will fix
            return Decision(JobStatus.FAILED, outcome, reason=f"permanent: {failure.error_code}")
        if result.result_code in NOT_A_FAX_CODES and not_fax_failures + 1 >= self.not_fax_attempts:
            return Decision(JobStatus.FAILED, outcome, reason="the far end is not a fax machine")
        if result.t38_used and not force_audio and result.pages_sent == 0 and not interrupted:
            return Decision(JobStatus.PENDING, outcome, run_after=now, force_audio=True,
                            reason="T.38 failed: retrying over audio")
        if (failure is not None and failure.error_code == "ecm_failed" and result.fax_error_correction and not force_no_ecm
                and not interrupted):
            return Decision(JobStatus.PENDING, outcome, run_after=now, force_audio=force_audio, force_no_ecm=True,
                            reason="ECM failed: retrying without ECM")
        # The T.38 and ECM fallback attempts do not use up one of the job's own attempts.
        used = attempts - (1 if force_audio else 0) - (1 if force_no_ecm else 0)
        if used >= self.max_attempts(retries):
            return Decision(JobStatus.FAILED, outcome, force_audio=force_audio, reason="no attempts left",
                            force_no_ecm=force_no_ecm)
        return Decision(JobStatus.PENDING, outcome, force_audio=force_audio,
                        run_after=now + timedelta(seconds=self.period_for(result)),
                        reason="retry", force_no_ecm=force_no_ecm)

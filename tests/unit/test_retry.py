"""The retry policy, as a table of cases."""
from datetime import datetime, timedelta, timezone

import pytest

from faxd.models import TxResult
from faxd.retry import RetryPolicy, parse_overrides

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
policy = RetryPolicy(retry_period=300, overrides={"USER_BUSY": 60, "49": 120})


def failed(**kw):
    base = dict(success=False, result_code=None, hangup_cause="", t38_used=False, pages_sent=0)
    base.update(kw)
    return TxResult(**base)


def test_success_completes():
    d = policy.decide(retries=3, attempts=1, result=TxResult(success=True, result_code=0), now=NOW)
    assert (d.status, d.outcome, d.final) == ("completed", "completed", True)


@pytest.mark.parametrize("retries, attempts, status", [
    (0, 1, "failed"), (1, 1, "failed"), (2, 1, "pending"), (2, 2, "failed"), (4, 3, "pending"), (4, 4, "failed"),
])
def test_retries_is_the_maximum_number_of_attempts(retries, attempts, status):
    d = policy.decide(retries=retries, attempts=attempts, result=failed(hangup_cause="NO_ANSWER"), now=NOW)
    assert d.status == status


def test_period_default_and_overrides_by_cause_and_code():
    assert policy.decide(retries=3, attempts=1, result=failed(hangup_cause="NO_ANSWER"), now=NOW).run_after \
        == NOW + timedelta(seconds=300)
    assert policy.decide(retries=3, attempts=1, result=failed(hangup_cause="USER_BUSY"), now=NOW).run_after \
        == NOW + timedelta(seconds=60)
    assert policy.decide(retries=3, attempts=1, result=failed(result_code=49), now=NOW).run_after \
        == NOW + timedelta(seconds=120)


@pytest.mark.parametrize("result", [
    failed(hangup_cause="UNALLOCATED_NUMBER"), failed(hangup_cause="INVALID_NUMBER_FORMAT"),
    failed(result_code=41), failed(result_code=11), failed(result_code=12),
])
def test_permanent_failures_are_not_retried(result):
    d = policy.decide(retries=4, attempts=1, result=result, now=NOW)
    assert d.status == "failed" and d.reason.startswith("permanent")


def test_not_a_fax_machine_gives_up_after_n_tries():
    first = policy.decide(retries=4, attempts=1, result=failed(result_code=2), now=NOW, not_fax_failures=0)
    assert first.status == "pending"
    second = policy.decide(retries=4, attempts=2, result=failed(result_code=2), now=NOW, not_fax_failures=1)
    assert second.status == "failed" and second.reason == "the far end is not a fax machine"


def test_t38_failure_is_retried_once_over_audio_at_once_as_an_extra_attempt():
    d = policy.decide(retries=1, attempts=1, result=failed(result_code=20, t38_used=True), now=NOW)
    assert (d.status, d.force_audio, d.run_after) == ("pending", True, NOW)
    # The audio attempt failing ends the job: retries=1 and the fallback was extra.
    d2 = policy.decide(retries=1, attempts=2, result=failed(result_code=20), now=NOW, force_audio=True)
    assert d2.status == "failed"


def test_t38_failure_after_pages_is_an_ordinary_failure():
    d = policy.decide(retries=2, attempts=1, result=failed(result_code=49, t38_used=True, pages_sent=1), now=NOW)
    assert d.status == "pending" and not d.force_audio and d.run_after == NOW + timedelta(seconds=120)


def test_cancel_and_interruption():
    assert policy.decide(retries=3, attempts=1, result=failed(), now=NOW, cancelled=True).status == "cancelled"
    d = policy.decide(retries=3, attempts=1, result=failed(hangup_cause="SWITCH_LOST"), now=NOW, interrupted=True)
    assert (d.status, d.outcome) == ("pending", "interrupted")


def test_parse_overrides():
    assert parse_overrides(" user_busy=60, 49=120 ,") == {"USER_BUSY": 60, "49": 120}
    with pytest.raises(ValueError):
        parse_overrides("USER_BUSY:60")

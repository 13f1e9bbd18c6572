"""The error taxonomy (faxd/failures.py): every spandsp completion code and every hangup cause
has a class, a stable code and advice; docs/errors.md prints exactly these tables; the retry
policy gives up on exactly the permanent ones."""
from __future__ import annotations

import os
import re

import pytest

from faxd import failures, t30codes
from faxd.models import TxResult
from faxd.retry import RetryPolicy
from faxd.switch import causes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
T30_H = "/usr/include/spandsp/t30.h"


def test_every_completion_code_of_spandsp_is_classified():
    # Counted from the library's own header: T30_ERR_OK = 0, the rest in order.
    with open(T30_H) as f:
        enum = f.read().split("T30_ERR_OK = 0", 1)[1].split("};", 1)[0]
    names = re.findall(r"^\s*(T30_ERR_\w+)", enum, re.M)
    assert len(names) == max(t30codes.TEXTS) == 61
    assert set(failures.T30) == set(range(1, len(names) + 1))


def test_every_hangup_cause_is_classified_with_advice():
    for name in set(causes.Q850) | set(causes.FREESWITCH_ONLY) | {causes.SWITCH_LOST}:
        f = failures.for_cause(name)
        assert f.error_class in failures.CLASSES and re.fullmatch(r"[a-z_]+", f.error_code), name
        assert f.advice.endswith(".") and len(f.advice) > 20, name


def test_docs_errors_md_is_the_table_the_code_uses():
    with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as f:
        doc = f.read()
    assert failures.tables() in doc, "docs/errors.md differs from faxd.failures.tables(): regenerate it"


@pytest.mark.parametrize("result, cls, code", [
    (TxResult(success=True), None, None),
    (TxResult(hangup_cause="USER_BUSY", error_message="USER_BUSY: the line was busy"), "destination", "busy"),
    (TxResult(hangup_cause="UNALLOCATED_NUMBER"), "destination", "unallocated_number"),
    (TxResult(result_code=2, hangup_cause="NORMAL_CLEARING"), "far_end", "not_a_fax"),
    (TxResult(result_code=49, hangup_cause="NORMAL_CLEARING"), "line", "dropped_mid_page"),
    (TxResult(result_code=16), "protocol", "ecm_failed"),
    (TxResult(error_message="cancelled by user", hangup_cause="ORIGINATOR_CANCEL"), "canceled", "cancelled"),
    (TxResult(error_message="expired: not sent before its expires_at (last attempt: busy)",
              hangup_cause="USER_BUSY"), "expired", "expired"),
    (TxResult(error_message="Ghostscript could not read the PDF"), "document", "conversion_failed"),
    (TxResult(error_message="timeout: no progress in stage pages"), "line", "stage_timeout"),
    (TxResult(hangup_cause="INTERWORKING"), "protocol", "network_protocol_error"),   # by its Q.850 class
    (TxResult(hangup_cause="SWITCH_LOST"), "line", "switch_lost"),
])
def test_results_are_classified(result, cls, code):
    failures.annotate(result)
    assert (result.error_class or None, result.error_code or None) == (cls, code)
    assert bool(result.error_advice) == (cls is not None)
    assert {"error_class", "error_code", "error_advice"} <= set(result.to_dict())


def test_the_retry_policy_gives_up_on_exactly_the_permanent_failures():
    from datetime import datetime, timezone
    policy, now = RetryPolicy(), datetime(2026, 1, 1, tzinfo=timezone.utc)
    for code, f in failures.T30.items():
        if code in t30codes.NOT_A_FAX:
            continue   # not a fax: given up after not_fax_attempts (test_retry.py)
        d = policy.decide(retries=3, attempts=1, result=TxResult(result_code=code), now=now)
        assert (d.status == "failed") == f.permanent, code
    for name in set(causes.Q850) - {"NORMAL_CLEARING"}:
        d = policy.decide(retries=3, attempts=1, result=TxResult(hangup_cause=name), now=now)
        assert (d.status == "failed") == failures.for_cause(name).permanent, name

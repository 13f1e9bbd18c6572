"""faxd/routes.py (pure): longest prefix, the account's routes before the server's, settings
over the job's, what was learned, retry periods; and what each backend's commands make of them."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from faxd import routes
from faxd.models import TxResult
from faxd.retry import RetryPolicy
from faxd.switch.asterisk import commands as ami
from faxd.switch.base import FaxOptions, OriginateRequest
from faxd.switch.freeswitch import commands as esl

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def r(id, prefix, account="acct", **kw):
    return {"id": id, "prefix": prefix, "account_id": account, **kw}


def test_longest_prefix_of_the_account_then_of_the_server():
    table = [r("all", "+"), r("us", "+1"), r("dc", "+1202"), r("srv-dc5", "+12025", account=None),
             r("srv-uk", "+44", account=None), r("srv-all", "+", account=None)]
    assert routes.choose(table, "+12025550100")["id"] == "dc"        # the account's own, though shorter
    assert routes.choose(table, "+13035550100")["id"] == "us"
    assert routes.choose(table, "+442079460000")["id"] == "all"      # the account's catch-all first
    assert routes.choose(table[3:], "+442079460000")["id"] == "srv-uk"
    assert routes.choose(table[3:], "+33123456789")["id"] == "srv-all"
    assert routes.choose([r("dc", "+1202")], "+13035550100") is None


def test_settings_over_the_job_then_learned_then_the_jobs_fallbacks():
    base = FaxOptions(t38="accept", ecm=True)
    assert routes.options(base, None, None) == base
    o = routes.options(base, {"t38": "request", "max_speed": 9600}, None)
    assert (o.t38, o.ecm, o.max_speed, o.v17) == ("request", True, 9600, False)
    o = routes.options(base, {"t38": "request", "ecm": True}, {"t38_off": True, "ecm_off": False})
    assert (o.t38, o.ecm) == ("off", True)
    o = routes.options(base, {"ecm": True}, None, force_audio=True, force_no_ecm=True)
    assert (o.t38, o.ecm) == ("off", False)


def test_route_retry_periods_over_the_servers():
    policy = RetryPolicy(retry_period=300, overrides={"USER_BUSY": 60, "NO_ANSWER": 900})
    assert routes.retry_policy(policy, None) is policy
    p = routes.retry_policy(policy, {"retry_period": 30, "retry_overrides": {"USER_BUSY": 5}})
    assert p.retry_period == 30 and p.overrides == {"USER_BUSY": 5, "NO_ANSWER": 900}
    busy = TxResult(success=False, hangup_cause="USER_BUSY")
    d = p.decide(retries=3, attempts=1, result=busy, now=NOW)
    assert (d.run_after - NOW).total_seconds() == 5


def test_lessons():
    assert routes.lesson(success=True, force_audio=True, force_no_ecm=False) == {"t38_off": True}
    assert routes.lesson(success=True, force_audio=False, force_no_ecm=True) == {"ecm_off": True}
    assert routes.lesson(success=False, force_audio=True, force_no_ecm=True) == {}
    assert routes.lesson(success=True, force_audio=False, force_no_ecm=False) == {}


def test_an_ecm_failure_is_retried_once_at_once_without_ecm():
    policy = RetryPolicy()
    ecm_failed = TxResult(success=False, result_code=16, fax_error_correction=True, pages_sent=1)
    d = policy.decide(retries=1, attempts=1, result=ecm_failed, now=NOW)
    assert (d.status, d.force_no_ecm, d.run_after) == ("pending", True, NOW)
    # the fallback attempt is an extra one, and does not repeat
    d = policy.decide(retries=1, attempts=2, result=ecm_failed, now=NOW, force_no_ecm=True)
    assert d.status == "failed" and d.force_no_ecm


def _req(**kw):
    return OriginateRequest(call_id="c", job_id="j", to_number="+12025550100", from_number="+1", from_name="",
                            tiff_path="/s/x.tif", **kw)


@pytest.mark.parametrize("speed, v17_off, maxrate", [(14400, "false", None), (9600, "true", "9600"),
                                                     (4800, "true", "4800")])
def test_speed_on_each_backend(speed, v17_off, maxrate):
    opts = FaxOptions(max_speed=speed)
    assert esl.fax_variables(opts, sending=True)["fax_disable_v17"] == v17_off
    assert dict(ami.faxopt_variables(opts, sending=True)).get("FAXOPT(maxrate)") == maxrate


def test_dial_string_and_gateway_on_each_backend():
    line = esl.originate(_req(gateway="carrier2"), "sofia/gateway/default/{number}")
    assert "}sofia/gateway/carrier2/+12025550100 &txfax(" in line
    line = esl.originate(_req(dial_string="sofia/external/{digits}@10.0.0.1"), "sofia/gateway/default/{number}")
    assert "}sofia/external/12025550100@10.0.0.1 &txfax(" in line
    assert dict(ami.originate(_req(gateway="carrier2"), "PJSIP/{number}@trunk"))["Channel"] == "PJSIP/+12025550100@carrier2"
    assert dict(ami.originate(_req(), "PJSIP/{number}@trunk"))["Channel"] == "PJSIP/+12025550100@trunk"

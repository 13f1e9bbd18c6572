"""When a job may be dialled (faxd/schedule.py): send_at, expiry, send windows in the
recipient's own hours, and retries that wait for the window. Times are given, never read."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from faxd.models import TxResult, gregorian
from faxd.retry import RetryPolicy
from faxd.schedule import Schedule, ScheduleError, normalize, parse_days, parse_window, recipient_zone

UTC = timezone.utc
TOKYO = "+81312345678"
NEW_YORK = "+12025550100"
OFFICE = {"days": "mon-fri", "from": "08:00", "to": "20:00", "timezone": "recipient"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_a_number_in_plus_81_gets_tokyo_hours():
    window = parse_window(OFFICE, TOKYO)
    assert window.zone == ZoneInfo("Asia/Tokyo")
    # Friday 22:00 in Tokyo (13:00 UTC): closed until Monday 08:00 Tokyo time.
    assert Schedule(window=window).next_run(at("2026-12-04T13:00:00+00:00")) == at("2026-12-07T08:00:00+09:00")
    # Monday 10:00 in Tokyo is inside: at once.
    assert Schedule(window=window).next_run(at("2026-12-07T01:00:00+00:00")) == at("2026-12-07T01:00:00+00:00")


def test_the_same_moment_is_inside_new_yorks_hours_and_outside_tokyos():
    moment = at("2026-12-04T15:00:00+00:00")    # Friday 10:00 in New York, Saturday 00:00 in Tokyo
    assert parse_window(OFFICE, NEW_YORK).contains(moment)
    assert not parse_window(OFFICE, TOKYO).contains(moment)


def test_a_named_zone_and_daylight_saving_time():
    window = parse_window({"days": "daily", "from": "09:00", "to": "17:00", "timezone": "Europe/Paris"}, TOKYO)
    # 2026-03-29: Paris moves to UTC+2 overnight; 09:00 that morning is 07:00 UTC.
    assert Schedule(window=window).next_run(at("2026-03-28T20:00:00+00:00")) == at("2026-03-29T07:00:00+00:00")


def test_a_window_across_midnight():
    window = parse_window({"days": "fri", "from": "20:00", "to": "06:00", "timezone": "UTC"}, NEW_YORK)
    assert window.contains(at("2026-12-04T21:00:00+00:00"))      # Friday evening
    assert window.contains(at("2026-12-05T05:59:00+00:00"))      # the morning after
    assert not window.contains(at("2026-12-05T06:00:00+00:00"))
    assert not window.contains(at("2026-12-05T21:00:00+00:00"))  # Saturday evening: not a listed day
    assert Schedule(window=window).next_run(at("2026-12-05T07:00:00+00:00")) == at("2026-12-11T20:00:00+00:00")


@pytest.mark.parametrize("text, days", [
    ("mon-fri", {0, 1, 2, 3, 4}), ("sat-sun", {5, 6}), ("fri-mon", {4, 5, 6, 0}), ("mon,wed,fri", {0, 2, 4}),
    ("daily", set(range(7))), (["Tuesday", "thu"], {1, 3}),
])
def test_days(text, days):
    assert parse_days(text) == days


def test_send_at_then_the_window_then_the_expiry():
    window = parse_window(OFFICE, NEW_YORK)
    s = Schedule(send_at=at("2026-12-04T23:30:00-05:00"), window=window)   # Friday 23:30 New York
    assert s.next_run(at("2026-12-04T12:00:00+00:00")) == at("2026-12-07T08:00:00-05:00")
    capped = Schedule(send_at=s.send_at, window=window, expires_at=at("2026-12-06T00:00:00+00:00"))
    assert capped.next_run(at("2026-12-04T12:00:00+00:00")) == capped.expires_at   # claimed then, fails as expired
    assert capped.expired(capped.expires_at) and not capped.expired(capped.expires_at - timedelta(seconds=1))


def test_a_number_spanning_several_zones_gets_a_fixed_middle_one():
    assert recipient_zone("+18884732963") == recipient_zone("+18884732963")   # toll-free: 40 zones
    assert recipient_zone("+not a number") == ZoneInfo("UTC")


def test_normalize_stores_gregorian_seconds_and_turns_ttl_into_an_expiry():
    now = at("2026-12-03T12:00:00+00:00")
    doc = {"send_at": "2026-12-03T13:00:00Z", "ttl": 7200}
    normalize(doc, NEW_YORK, now)
    assert doc["send_at"] == gregorian(at("2026-12-03T13:00:00+00:00"))
    assert doc["expires_at"] == gregorian(at("2026-12-03T14:00:00+00:00"))
    assert Schedule.of_job(doc, NEW_YORK).send_at == at("2026-12-03T13:00:00+00:00")
    again = {"send_at": doc["send_at"]}   # Gregorian seconds are accepted as they are stored
    normalize(again, NEW_YORK, now)
    assert again["send_at"] == doc["send_at"]


@pytest.mark.parametrize("fields, field", [
    ({"send_at": "soon"}, "send_at"),
    ({"send_at": "2026-12-03T13:00:00"}, "send_at"),              # no UTC offset
    ({"expires_at": "2026-12-03T11:00:00Z"}, "expires_at"),        # in the past
    ({"send_at": "2026-12-05T00:00:00Z", "ttl": 3600}, "expires_at"),
    ({"send_window": OFFICE, "ttl": 3600}, "expires_at"),          # Thursday 07:00 NY: opens at 08:00, too late
    ({"ttl": 0}, "ttl"), ({"ttl": True}, "ttl"),
    ({"send_window": {"days": "caturday"}}, "send_window.days"),
    ({"send_window": {"from": "25:00"}}, "send_window.from"),
    ({"send_window": {"from": "08:00", "to": "08:00"}}, "send_window.to"),
    ({"send_window": {"timezone": "Mars/Olympus"}}, "send_window.timezone"),
    ({"send_window": "office hours"}, "send_window"),
])
def test_unusable_schedules_name_their_field(fields, field):
    with pytest.raises(ScheduleError) as e:
        normalize(dict(fields), NEW_YORK, at("2026-12-03T12:00:00+00:00"))
    assert e.value.field == field


def test_retries_wait_for_the_window_and_stop_at_the_expiry():
    policy = RetryPolicy(retry_period=300)
    busy = TxResult(success=False, hangup_cause="USER_BUSY", error_message="busy")
    window = parse_window(OFFICE, TOKYO)
    late = at("2026-12-04T19:58:00+09:00")     # Friday 19:58 in Tokyo: a retry in 5 minutes is after hours
    d = policy.decide(retries=3, attempts=1, result=busy, now=late, schedule=Schedule(window=window))
    assert (d.status, d.run_after) == ("pending", at("2026-12-07T08:00:00+09:00"))
    without = policy.decide(retries=3, attempts=1, result=busy, now=late)
    assert without.run_after == late + timedelta(seconds=300)
    expiring = Schedule(window=window, expires_at=late + timedelta(seconds=1))
    assert policy.decide(retries=3, attempts=1, result=busy, now=late + timedelta(seconds=1),
                         schedule=expiring).reason == "expired"
    assert policy.decide(retries=3, attempts=1, result=TxResult(success=True), now=late,
                         schedule=expiring).status == "completed"

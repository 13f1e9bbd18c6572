"""When a job may be dialled: ``send_at``, ``expires_at`` and a send window. Pure: every
function takes the time it works on; nothing here reads a clock or the database.

A send window says on which days and between which local times a fax may go out, in a named
time zone or in the recipient's own (``"timezone": "recipient"``: the zone the destination
number is in, from phonenumbers' time-zone data), so a fax to a business is not sent at 3 a.m.
its time. ``from`` later than ``to`` is a window across midnight (``20:00``-``06:00``: evenings
of the listed days and the following mornings).

The dispatcher's claim only looks at ``jobs.run_after``: a job is given the first moment it
may go (:meth:`Schedule.next_run`), at submission and again at each retry, so jobs waiting
for their window or ``send_at`` cost the claim nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from faxd.models import from_gregorian, gregorian

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
RECIPIENT = "recipient"
# A window is looked for this many days ahead (a week covers every combination of days).
HORIZON_DAYS = 8


class ScheduleError(ValueError):
    """A field of the schedule is not usable: ``field`` names it, the text says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Window:
    days: frozenset[int]        # 0 = Monday
    start: time
    end: time
    zone: ZoneInfo

    def contains(self, t: datetime) -> bool:
        local = t.astimezone(self.zone)
        now, day = local.time(), local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        # across midnight: the evening of a listed day, or the morning after one
        return (day in self.days and now >= self.start) or ((day - 1) % 7 in self.days and now < self.end)

    def next_open(self, t: datetime) -> datetime:
        """``t`` when it is inside the window, else the moment the window next opens."""
        if self.contains(t):
            return t
        local = t.astimezone(self.zone)
        for ahead in range(HORIZON_DAYS):
            day = local.date() + timedelta(days=ahead)
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start, tzinfo=self.zone)
            if opens >= local:
                return opens.astimezone(timezone.utc)
        raise AssertionError("a window with at least one day opens within a week")


@dataclass(frozen=True)
class Schedule:
    send_at: datetime | None = None
    expires_at: datetime | None = None
    window: Window | None = None

    @property
    def empty(self) -> bool:
        return self.send_at is None and self.expires_at is None and self.window is None

    def next_run(self, t: datetime) -> datetime:
        """The first moment at or after ``t`` the job may be dialled. A job whose next chance
        is past its expiry is given its expiry instead: it is claimed then and fails as expired."""
        if self.send_at is not None and t < self.send_at:
            t = self.send_at
        if self.window is not None:
            t = self.window.next_open(t)
        if self.expires_at is not None and t > self.expires_at:
            return self.expires_at
        return t

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    @classmethod
    def of_job(cls, doc: dict, to_number: str) -> "Schedule":
        """The schedule stored in a validated job document (see :func:`normalize`)."""
        window = doc.get("send_window")
        return cls(send_at=_stored_time(doc.get("send_at")), expires_at=_stored_time(doc.get("expires_at")),
                   window=parse_window(window, to_number) if isinstance(window, dict) else None)


def _stored_time(value) -> datetime | None:
    return from_gregorian(value) if isinstance(value, int) and not isinstance(value, bool) else None


def parse_time(field: str, value) -> datetime:
    """ISO 8601 with a UTC offset (``2026-12-04T09:00:00+01:00``, ``...Z``) or Gregorian seconds
    (Kazoo's timestamps: seconds since year 0)."""
    if isinstance(value, bool):
        raise ScheduleError(field, "must be an ISO 8601 time with a UTC offset or Gregorian seconds")
    if isinstance(value, int):
        try:
            return from_gregorian(value)
        except (OverflowError, OSError, ValueError):
            raise ScheduleError(field, "is not a time faxd can represent") from None
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ScheduleError(field, "must be an ISO 8601 time with a UTC offset or Gregorian seconds") from None
        if t.tzinfo is None:
            raise ScheduleError(field, "needs a UTC offset (e.g. 2026-12-04T09:00:00+01:00 or ...Z)")
        return t.astimezone(timezone.utc)
    raise ScheduleError(field, "must be an ISO 8601 time with a UTC offset or Gregorian seconds")


def parse_days(value) -> frozenset[int]:
    """``"mon-fri"``, ``"mon,wed,fri"``, ``"sat-sun"``, ``"fri-mon"``, ``"daily"`` or a list of names."""
    if value is None or value == "daily":
        return frozenset(range(7))
    items = value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else None
    if not items:
        raise ScheduleError("send_window.days", 'must be like "mon-fri", "mon,wed,fri", "daily" or a list of day names')
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise ScheduleError("send_window.days", "day names are strings (mon, tue, ...)")
        first, _, last = item.strip().lower().partition("-")
        a, b = _day(first, item), _day(last, item) if last else None
        b = a if b is None else b
        d = a
        while True:
            days.add(d)
            if d == b:
                break
            d = (d + 1) % 7
    return frozenset(days)


FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str, item: str) -> int:
    name = name.strip()
    for i, (short, full) in enumerate(zip(DAY_NAMES, FULL_DAY_NAMES)):
        if name in (short, full):
            return i
    raise ScheduleError("send_window.days", f"{item.strip()!r} is not a day (mon, tue, wed, thu, fri, sat, sun)")


def _clock(field: str, value) -> time:
    m = _TIME.match(value) if isinstance(value, str) else None
    if m is None:
        raise ScheduleError(field, "must be a time of day as HH:MM (00:00 to 23:59)")
    return time(int(m.group(1)), int(m.group(2)))


def parse_window(value, to_number: str) -> Window:
    if not isinstance(value, dict):
        raise ScheduleError("send_window", 'must be an object: {"days": "mon-fri", "from": "08:00", "to": "20:00", '
                                           '"timezone": "recipient"}')
    start, end = _clock("send_window.from", value.get("from", "00:00")), _clock("send_window.to", value.get("to", "23:59"))
    if start == end:
        raise ScheduleError("send_window.to", "must differ from send_window.from")
    name = value.get("timezone", RECIPIENT)
    if not isinstance(name, str):
        raise ScheduleError("send_window.timezone", 'must be "recipient" or a time zone name such as "Europe/Paris"')
    return Window(days=parse_days(value.get("days")), start=start, end=end,
                  zone=recipient_zone(to_number) if name == RECIPIENT else _zone(name))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError("send_window.timezone", f"{name!r} is not a time zone (e.g. Europe/Paris, America/New_York)") from None


@lru_cache(maxsize=4096)
def recipient_zone(number: str) -> ZoneInfo:
    """The destination's time zone. A number whose prefix spans several zones (toll-free
    numbers, mobiles in large countries) gets the middle one by UTC offset; a number of no
    known zone gets UTC."""
    import phonenumbers
    from phonenumbers import timezone as number_zones
    try:
        names = [n for n in number_zones.time_zones_for_number(phonenumbers.parse(number)) if n != "Etc/Unknown"]
    except phonenumbers.NumberParseException:
        names = []
    zones = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:
            continue
    if not zones:
        return ZoneInfo("UTC")
    reference = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
    zones.sort(key=lambda z: (reference.astimezone(z).utcoffset(), z.key))
    return zones[(len(zones) - 1) // 2]


def normalize(doc: dict, to_number: str, now: datetime) -> Schedule:
    """Validate and store the schedule fields of a job document in place: ``send_at`` and
    ``expires_at`` become Gregorian seconds, ``ttl`` (seconds) becomes an ``expires_at``;
    ``send_window`` is checked. Raises ScheduleError naming the field."""
    send_at = parse_time("send_at", doc["send_at"]) if doc.get("send_at") is not None else None
    expires_at = parse_time("expires_at", doc["expires_at"]) if doc.get("expires_at") is not None else None
    ttl = doc.get("ttl")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 1 <= ttl <= 90 * 86400:
            raise ScheduleError("ttl", "must be a number of seconds from 1 to 7776000 (90 days)")
        by_ttl = now + timedelta(seconds=ttl)
        expires_at = by_ttl if expires_at is None else min(expires_at, by_ttl)
    window = parse_window(doc["send_window"], to_number) if doc.get("send_window") is not None else None
    schedule = Schedule(send_at=send_at, expires_at=expires_at, window=window)
    if expires_at is not None:
        if expires_at <= now:
            raise ScheduleError("expires_at", "is in the past")
        if Schedule(send_at=send_at, window=window).next_run(now) >= expires_at:
            raise ScheduleError("expires_at", "comes before the job could first be sent (send_at, send_window)")
    for name, value in (("send_at", send_at), ("expires_at", expires_at)):
        if value is not None:
            doc[name] = gregorian(value)
    return schedule

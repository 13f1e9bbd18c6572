"""Routes per destination and what faxd learned per number. Pure: no I/O, no clock of its own.

A route gives the numbers that start with its ``prefix`` their settings: the switch and dial
string (or gateway), T.38 (``off``/``accept``/``request``), ECM, the highest modem speed
(14,400 V.17, 9,600 V.29, 4,800 V.27ter), a limit of calls at once, a minimum gap between
calls, and retry periods. The longest matching prefix of the account's own routes wins; with
none, the longest of the server's defaults (``account_id`` NULL). A setting a route leaves out
(null) follows the job, its faxbox and the configuration.

Learning: a number that failed in T.38 and then went through in audio (or failed with ECM and
went through without) is remembered for ``learn_days``; its next fax starts that way.
"""
from __future__ import annotations

import re
from dataclasses import replace

from faxd.errors import FaxdError
from faxd.retry import RetryPolicy
from faxd.switch.base import FaxOptions

SPEEDS = (14400, 9600, 4800)
T38_MODES = ("off", "accept", "request")
SWITCHES = ("software", "freeswitch", "asterisk")
# Settings only a super-admin may set: they reach the telephone network as they are.
NETWORK_FIELDS = ("switch", "dial_string", "gateway")
FIELDS = ("prefix", "name", *NETWORK_FIELDS, "t38", "ecm", "max_speed", "max_calls", "min_gap",
          "retry_period", "retry_overrides")
_PREFIX = re.compile(r"^\+[0-9]{0,15}$")
_GATEWAY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_DIAL_FORBIDDEN = set("\r\n,{}'\"` ")


class RouteError(FaxdError):
    """An invalid route document: ``errors`` is the API's {field: {rule: {"message": ...}}}."""

    def __init__(self, errors: dict):
        super().__init__("invalid fax route")
        self.errors = errors


def _err(field: str, rule: str, message: str, **extra) -> RouteError:
    return RouteError({field: {rule: {"message": message, **extra}}})


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(doc, *, super_admin: bool) -> dict:
    """A route document (create or replace) -> its columns; RouteError names the field and rule."""
    if not isinstance(doc, dict):
        raise _err("data", "type", "a fax route is a JSON object")
    unknown = sorted(set(doc) - set(FIELDS) - {"id", "account_id", "created", "modified"})
    if unknown:
        raise _err(unknown[0], "unknown", f"{unknown[0]} is not a fax route setting", target=list(FIELDS))
    out: dict = {name: None for name in FIELDS}
    prefix = doc.get("prefix")
    if prefix is None:
        raise _err("prefix", "required", "Field is required but missing")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix.replace(" ", "")):
        raise _err("prefix", "pattern", "prefix is '+' and up to 15 digits of E.164 (\"+\" matches every number)",
                   value=prefix)
    out["prefix"] = prefix.replace(" ", "")
    name = doc.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 128):
        raise _err("name", "type", "name is a string of at most 128 characters")
    out["name"] = name
    for field in NETWORK_FIELDS:
        if doc.get(field) is not None and not super_admin:
            raise _err(field, "forbidden", f"only a super-admin can set {field}: it reaches the telephone "
                                           f"network as it is")
    switch = doc.get("switch")
    if switch is not None and switch not in SWITCHES:
        raise _err("switch", "enum", "Value not found in enumerated list of values", target=list(SWITCHES))
    out["switch"] = switch
    dial = doc.get("dial_string")
    if dial is not None:
        if not isinstance(dial, str) or "{number}" not in dial or len(dial) > 256 \
                or any(c in _DIAL_FORBIDDEN for c in dial.replace("{number}", "").replace("{digits}", "")):
            raise _err("dial_string", "pattern", "dial_string is a dial string with {number} in it, without "
                                                 "spaces, quotes, commas or braces other than {number}",
                       value=dial)
        out["dial_string"] = dial
    gateway = doc.get("gateway")
    if gateway is not None:
        if not isinstance(gateway, str) or not _GATEWAY.match(gateway):
            raise _err("gateway", "pattern", "gateway is a gateway (trunk) name: letters, digits, '_', '.', '-'",
                       value=gateway)
        if dial is not None:
            raise _err("gateway", "conflict", "give dial_string or gateway, not both")
        out["gateway"] = gateway
    t38 = doc.get("t38")
    if t38 is not None and t38 not in T38_MODES:
        raise _err("t38", "enum", "Value not found in enumerated list of values", target=list(T38_MODES))
    out["t38"] = t38
    ecm = doc.get("ecm")
    if ecm is not None and not isinstance(ecm, bool):
        raise _err("ecm", "type", "ecm is true or false")
    out["ecm"] = ecm
    speed = doc.get("max_speed")
    if speed is not None and (not _int(speed) or speed not in SPEEDS):
        raise _err("max_speed", "enum", "max_speed is 14400 (V.17), 9600 (V.29) or 4800 (V.27ter)",
                   target=list(SPEEDS))
    out["max_speed"] = speed
    calls = doc.get("max_calls")
    if calls is not None and (not _int(calls) or not 1 <= calls <= 100000):
        raise _err("max_calls", "minimum", "max_calls is a whole number of calls at once, at least 1")
    out["max_calls"] = calls
    gap = doc.get("min_gap")
    if gap is not None and (isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0 <= gap <= 86400):
        raise _err("min_gap", "minimum", "min_gap is seconds between two calls through the route, 0 to 86400")
    out["min_gap"] = float(gap) if gap is not None else None
    period = doc.get("retry_period")
    if period is not None and (not _int(period) or not 1 <= period <= 86400):
        raise _err("retry_period", "minimum", "retry_period is seconds between attempts, 1 to 86400")
    out["retry_period"] = period
    overrides = doc.get("retry_overrides")
    if overrides is not None:
        if not isinstance(overrides, dict) or not all(
                isinstance(k, str) and k.strip() and _int(v) and 0 <= v <= 86400 for k, v in overrides.items()):
            raise _err("retry_overrides", "type", "retry_overrides maps a hangup cause or T.30 code to seconds, "
                                                  "e.g. {\"USER_BUSY\": 60, \"49\": 120}")
        out["retry_overrides"] = {k.strip().upper(): v for k, v in overrides.items()}
    return out


def view(row: dict) -> dict:
    """A route as the API shows it (unset settings left out)."""
    out = {"id": row["id"], "prefix": row["prefix"]}
    if row.get("account_id") is None:
        out["server_default"] = True
    for name in FIELDS[1:]:
        if row.get(name) is not None:
            out[name] = row[name]
    return out


def _covers(prefix: str, number: str) -> bool:
    return number.startswith(prefix)


def choose(routes: list[dict], number: str) -> dict | None:
    """The route for ``number``: the longest matching prefix of the account's own routes, else
    the longest of the server's defaults (``account_id`` None)."""
    best = None
    for r in routes:
        if not _covers(r["prefix"], number):
            continue
        key = (r.get("account_id") is not None, len(r["prefix"]))
        if best is None or key > (best.get("account_id") is not None, len(best["prefix"])):
            best = r
    return best


def options(base: FaxOptions, route: dict | None, learned: dict | None, *, force_audio: bool = False,
            force_no_ecm: bool = False) -> FaxOptions:
    """The call's FaxOptions: the route's settings over ``base`` (job, faxbox, configuration),
    then what was learned for the number, then this job's own fallbacks (T.38 or ECM failed)."""
    route, learned = route or {}, learned or {}
    out = base
    if route.get("t38") is not None:
        out = replace(out, t38=route["t38"])
    if route.get("ecm") is not None:
        out = replace(out, ecm=bool(route["ecm"]))
    if route.get("max_speed") is not None:
        speed = int(route["max_speed"])
        out = replace(out, max_speed=min(out.max_speed, speed), v17=out.v17 and speed >= 14400)
    if learned.get("t38_off") or force_audio:
        out = replace(out, t38="off")
    if learned.get("ecm_off") or force_no_ecm:
        out = replace(out, ecm=False)
    return out


def retry_policy(policy: RetryPolicy, route: dict | None) -> RetryPolicy:
    """The route's retry periods over the server's."""
    if not route or (route.get("retry_period") is None and not route.get("retry_overrides")):
        return policy
    overrides = dict(policy.overrides)
    overrides.update(route.get("retry_overrides") or {})
    return replace(policy, retry_period=route.get("retry_period") or policy.retry_period, overrides=overrides)


def record(route: dict | None, opts: FaxOptions, learned: dict | None) -> dict:
    """What an attempt's ``attempt_history`` entry says about its route and settings."""
    out: dict = {"id": None, "prefix": None}
    if route:
        out.update(id=route["id"], prefix=route["prefix"])
        for name in ("switch", "dial_string", "gateway"):
            if route.get(name):
                out[name] = route[name]
    out["settings"] = {"t38": opts.t38, "ecm": opts.ecm, "max_speed": opts.max_speed}
    if learned and (learned.get("t38_off") or learned.get("ecm_off")):
        out["learned"] = {k: True for k in ("t38_off", "ecm_off") if learned.get(k)}
    return out


def lesson(*, success: bool, force_audio: bool, force_no_ecm: bool) -> dict:
    """What to remember about a number after an attempt: a success in audio after this job's
    T.38 attempt failed, or without ECM after its ECM attempt failed."""
    if not success:
        return {}
    return {k: True for k, v in (("t38_off", force_audio), ("ecm_off", force_no_ecm)) if v}

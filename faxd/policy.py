"""Fraud and abuse controls: where an account may send faxes, and how many it may queue.

One entry point for every way a job is created (API, resubmit, forward, email):
:func:`check_submission` answers a :class:`Decision` after

1. the destination policy (pure, :func:`destination_refusal`): prefixes, countries, number
   types (phonenumbers' metadata: PREMIUM_RATE, SHARED_COST, ...) and international calls;
2. the account's submission rate and daily quota, counted in PostgreSQL (one UPDATE of the
   account's counter row per submission, so the limits hold across every faxd node).

An account's ``fax_policy`` holds only its overrides; every key it leaves out follows the
server's defaults in :mod:`faxd.config`. Only super-admins change policies.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType

from faxd.errors import FaxdError, NotFound

# phonenumbers' number types, by the names the API uses.
NUMBER_TYPES = {
    "fixed_line": PhoneNumberType.FIXED_LINE,
    "mobile": PhoneNumberType.MOBILE,
    "fixed_line_or_mobile": PhoneNumberType.FIXED_LINE_OR_MOBILE,
    "toll_free": PhoneNumberType.TOLL_FREE,
    "premium_rate": PhoneNumberType.PREMIUM_RATE,
    "shared_cost": PhoneNumberType.SHARED_COST,
    "voip": PhoneNumberType.VOIP,
    "personal_number": PhoneNumberType.PERSONAL_NUMBER,
    "pager": PhoneNumberType.PAGER,
    "uan": PhoneNumberType.UAN,
    "voicemail": PhoneNumberType.VOICEMAIL,
    "unknown": PhoneNumberType.UNKNOWN,
}
_TYPE_NAMES = {v: k for k, v in NUMBER_TYPES.items()}
_TYPE_PHRASES = {
    "premium_rate": "premium-rate", "shared_cost": "shared-cost", "personal_number": "personal numbers",
    "toll_free": "toll-free", "voip": "VoIP numbers", "uan": "universal access numbers",
    "pager": "pagers", "voicemail": "voicemail numbers", "mobile": "mobile numbers",
    "fixed_line": "fixed lines", "fixed_line_or_mobile": "fixed lines or mobiles",
    "unknown": "of no known type",
}
MAX_LIST = 1000

# Every key of a fax_policy, with its type: what the API accepts and shows.
POLICY_KEYS = ("submit_rate_limit", "submit_daily_quota", "home_region", "allow_international",
               "allowed_countries", "denied_countries", "blocked_number_types",
               "allowed_prefixes", "denied_prefixes", "retention_documents_days", "retention_purge_days")
RETENTION_KEYS = ("retention_documents_days", "retention_purge_days")
MAX_RETENTION_DAYS = 36500


class PolicyError(FaxdError):
    """Invalid fax policy."""

    def __init__(self, errors: dict):
        super().__init__("invalid fax policy")
        self.errors = errors  # {field: {rule: {"message": ...}}}


@dataclass(frozen=True)
class Decision:
    """What :func:`check_submission` answers."""
    allowed: bool
    reason: str = "allowed"       # allowed | destination_refused | rate_limited | quota_exceeded
    rule: str | None = None       # the rule that refused: premium_rate, international, denied_prefix ...
    message: str = ""
    retry_after: int | None = None  # seconds, for rate_limited and quota_exceeded
    limit: int | None = None

    @property
    def permanent(self) -> bool:
        """A refused destination stays refused; a rate or quota refusal passes with time."""
        return self.reason == "destination_refused"


class SubmissionRefused(FaxdError):
    """The submission was refused by the account's fax policy or limits."""

    def __init__(self, decision: Decision, destination: str):
        super().__init__(decision.message)
        self.decision = decision
        self.destination = destination


# --- the destination policy (pure)

@dataclass(frozen=True)
class Policy:
    """An account's effective policy: its overrides over the server's defaults."""
    submit_rate_limit: int
    submit_daily_quota: int
    home_region: str
    allow_international: bool
    allowed_countries: tuple[str, ...] = ()
    denied_countries: tuple[str, ...] = ()
    blocked_number_types: tuple[str, ...] = ()
    allowed_prefixes: tuple[str, ...] = ()
    denied_prefixes: tuple[str, ...] = ()
    retention_documents_days: int = -1
    retention_purge_days: int = -1
    defaulted: tuple[str, ...] = field(default=(), compare=False)  # keys that follow the server

    @classmethod
    def effective(cls, config, overrides: dict | None) -> "Policy":
        defaults = server_defaults(config)
        overrides = {k: v for k, v in (overrides or {}).items() if k in POLICY_KEYS and v is not None}
        values = {**defaults, **overrides}
        for k in ("allowed_countries", "denied_countries", "blocked_number_types",
                  "allowed_prefixes", "denied_prefixes"):
            values[k] = tuple(values[k])
        return cls(**values, defaulted=tuple(k for k in POLICY_KEYS if k not in overrides))

    def view(self) -> dict:
        out: dict[str, Any] = {k: getattr(self, k) for k in POLICY_KEYS}
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        out["defaults"] = list(self.defaulted)
        return out


def server_defaults(config) -> dict:
    return {
        "submit_rate_limit": config.submit_rate_limit,
        "submit_daily_quota": config.submit_daily_quota,
        "home_region": config.default_region.upper(),
        "allow_international": config.allow_international,
        "allowed_countries": [], "denied_countries": [],
        "blocked_number_types": list(config.blocked_number_types),
        "allowed_prefixes": [], "denied_prefixes": [],
        "retention_documents_days": config.retention_documents_days,
        "retention_purge_days": config.retention_purge_days,
    }


@dataclass(frozen=True)
class Destination:
    e164: str
    region: str | None        # ISO 3166 (or "001" for non-geographic); None when unknown
    country_code: int
    number_type: str
    prefix: str               # "+1 900": the country code and the area/destination code


@functools.lru_cache(maxsize=8192)
def classify(e164: str) -> Destination:
    """What phonenumbers' metadata says of a number (cached: the same numbers come back)."""
    n = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(n)
    ndc = phonenumbers.length_of_national_destination_code(n)
    prefix = f"+{n.country_code}" + (f" {national[:ndc]}" if ndc else "")
    return Destination(e164=e164, region=phonenumbers.region_code_for_number(n), country_code=n.country_code,
                       number_type=_TYPE_NAMES.get(phonenumbers.number_type(n), "unknown"), prefix=prefix)


def _country(d: Destination) -> str:
    if d.region == "001":
        return "a non-geographic service (+%d)" % d.country_code
    if not d.region:
        return f"an unknown region of country code +{d.country_code}"
    from phonenumbers import geocoder  # loaded on the first refusal only
    name = geocoder.country_name_for_number(phonenumbers.parse(d.e164, None), "en")
    return f"{name} ({d.region})" if name else d.region


def destination_refusal(policy: Policy, e164: str) -> tuple[str, str] | None:
    """(rule, message) when ``policy`` refuses ``e164``; None when it may be dialled.

    Order: the longest matching prefix of allowed_prefixes/denied_prefixes decides alone
    (deny wins a tie); else a denied country, a blocked number type, then the international rule
    (a country in allowed_countries is allowed despite allow_international false).
    """
    best, verdict = -1, None
    for p in policy.allowed_prefixes:
        if e164.startswith(p) and len(p) > best:
            best, verdict = len(p), ("allow", p)
    for p in policy.denied_prefixes:
        if e164.startswith(p) and len(p) >= best:
            best, verdict = len(p), ("deny", p)
    if verdict is not None:
        if verdict[0] == "allow":
            return None
        return "denied_prefix", (f"{e164} matches {verdict[1]}, a prefix this account's fax policy denies; "
                                 f"a super-admin can change it")
    d = classify(e164)
    if d.region and d.region in policy.denied_countries:
        return "denied_country", (f"{e164} is in {_country(d)}, a country this account's fax policy "
                                  f"denies; a super-admin can change it")
    if d.number_type in policy.blocked_number_types:
        return d.number_type, (f"{d.prefix} numbers are {_TYPE_PHRASES[d.number_type]} and blocked for this "
                               f"account; a super-admin can allow them")
    home = policy.home_region
    domestic = d.region == home or (
        d.region is None and d.country_code == phonenumbers.country_code_for_region(home))
    if not domestic and not policy.allow_international and d.region not in policy.allowed_countries:
        return "international", (f"{e164} is in {_country(d)}, outside this account's home country "
                                 f"{home}: international faxes are blocked for this account; "
                                 f"a super-admin can allow them")
    return None


# --- checking a submission

_policies: dict[tuple, Policy] = {}


def _effective(config, text: str) -> Policy:
    """Policy.effective of a stored fax_policy, kept by its JSON text (accounts share a few
    policies, and building one costs more than the rest of the check in Python)."""
    key = (text, config.default_region, config.allow_international, config.blocked_number_types,
           config.submit_rate_limit, config.submit_daily_quota)
    policy = _policies.get(key)
    if policy is None:
        if len(_policies) >= 1024:
            _policies.clear()
        policy = _policies[key] = Policy.effective(config, json.loads(text))
    return policy

def check_submission(store, config, account_id: str, destination: str) -> Decision:
    """May ``account_id`` queue a fax to ``destination`` (E.164) now?

    An allowed submission is counted at once (the caller then creates the job); a refused one
    is not counted. One UPDATE ... RETURNING in the common case, shared by the account's
    submissions of the same moment: it takes them and brings back the account's policy.
    """
    row = store.take_submission(account_id, rate_limit=config.submit_rate_limit,
                                daily_quota=config.submit_daily_quota, window=config.submit_rate_window)
    if row is None:
        raise NotFound(f"account {account_id} not found")
    policy = _effective(config, row["fax_policy_text"])
    refusal = destination_refusal(policy, destination)
    if refusal is not None:
        if row["granted"]:
            store.give_back_submissions(account_id, row["granted"], row["window_start"], row["day"])
        rule, message = refusal
        return Decision(False, "destination_refused", rule, message)
    if row["granted"]:
        return Decision(True)
    rate, quota = row["rate_limit"], row["daily_quota"]
    if 0 <= quota and row["day_count"] >= quota:
        wait = max(1, math.ceil(row["day_left"]))
        return Decision(False, "quota_exceeded", "submit_daily_quota",
                        f"Daily fax quota reached: this account may queue {quota} faxes per day (UTC); "
                        f"retry in {wait} s, or ask a super-admin to raise submit_daily_quota",
                        retry_after=wait, limit=quota)
    wait = max(1, math.ceil(row["window_left"]))
    window = config.submit_rate_window
    return Decision(False, "rate_limited", "submit_rate_limit",
                    f"Too many faxes: this account may queue {rate} faxes per {window:g} seconds; "
                    f"retry in {wait} s", retry_after=wait, limit=rate)


def require_submission(store, config, account_id: str, destination: str) -> None:
    """:func:`check_submission`, raising :class:`SubmissionRefused` when refused."""
    decision = check_submission(store, config, account_id, destination)
    if not decision.allowed:
        raise SubmissionRefused(decision, destination)


def require_submissions(store, config, account_id: str, destinations: list[str]) -> None:
    """A broadcast: every destination allowed and counted, or none (SubmissionRefused)."""
    row = store.take_submissions(account_id, len(destinations), rate_limit=config.submit_rate_limit,
                                 daily_quota=config.submit_daily_quota, window=config.submit_rate_window)
    if row is None:
        raise NotFound(f"account {account_id} not found")
    policy = _effective(config, row["fax_policy_text"])
    for destination in destinations:
        refusal = destination_refusal(policy, destination)
        if refusal is not None:
            if row["granted"]:
                store.give_back_submissions(account_id, row["granted"], row["window_start"], row["day"])
            rule, message = refusal
            raise SubmissionRefused(Decision(False, "destination_refused", rule, message), destination)
    if row["granted"] == len(destinations):
        return
    if row["granted"]:
        store.give_back_submissions(account_id, row["granted"], row["window_start"], row["day"])
    rate, quota = row["rate_limit"], row["daily_quota"]
    if 0 <= quota and row["day_count"] - row["granted"] + len(destinations) > quota:
        wait = max(1, math.ceil(row["day_left"]))
        raise SubmissionRefused(Decision(
            False, "quota_exceeded", "submit_daily_quota",
            f"Daily fax quota: this broadcast of {len(destinations)} faxes does not fit in what is left of "
            f"today's {quota}; send fewer recipients, retry in {wait} s, or ask a super-admin to raise "
            "submit_daily_quota", retry_after=wait, limit=quota), destinations[0])
    wait = max(1, math.ceil(row["window_left"]))
    raise SubmissionRefused(Decision(
        False, "rate_limited", "submit_rate_limit",
        f"Too many faxes: this account may queue {rate} faxes per {config.submit_rate_window:g} seconds and this "
        f"broadcast has {len(destinations)}; retry in {wait} s or send fewer recipients per request",
        retry_after=wait, limit=rate), destinations[0])


def retention_problem(value) -> str | None:
    """Why ``value`` is not a number of retention days (-1: kept), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= MAX_RETENTION_DAYS:
        return f"a whole number of days from 0 to {MAX_RETENTION_DAYS}, or -1 to keep"
    return None


# --- validating a fax_policy document (the API's POST/PATCH)

def validate_policy(doc: Any) -> dict:
    """The overrides of a fax_policy document: every key checked; null means "the default".

    Raises PolicyError naming every bad field and its rule at once.
    """
    if not isinstance(doc, dict):
        raise PolicyError({"data": {"type": {"message": "the fax policy must be a JSON object"}}})
    errors: dict = {}
    out: dict = {}

    def bad(key, rule, message, **extra):
        errors[key] = {rule: {"message": message, **extra}}

    for key, value in doc.items():
        if key in ("defaults", "id"):
            continue  # read-only, shown by GET
        if key not in POLICY_KEYS:
            bad(key, "unknown", "not a fax policy setting", target=list(POLICY_KEYS))
            continue
        if value is None:
            continue
        if key in RETENTION_KEYS:
            problem = retention_problem(value)
            if problem:
                bad(key, "type", problem, value=value)
            else:
                out[key] = value
        elif key in ("submit_rate_limit", "submit_daily_quota"):
            if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= 10_000_000:
                bad(key, "type", "an integer from -1 (no limit) to 10000000", value=value)
            else:
                out[key] = value
        elif key == "allow_international":
            if not isinstance(value, bool):
                bad(key, "type", "Value did not match type(s): boolean")
            else:
                out[key] = value
        elif key == "home_region":
            region = value.upper() if isinstance(value, str) else None
            if region not in phonenumbers.SUPPORTED_REGIONS:
                bad(key, "enum", "an ISO 3166 region code phonenumbers knows, e.g. US, GB, DE")
            else:
                out[key] = region
        else:
            items = _string_list(value)
            if items is None or len(items) > MAX_LIST:
                bad(key, "type", f"a list of at most {MAX_LIST} strings")
                continue
            if key in ("allowed_countries", "denied_countries"):
                items = [i.upper() for i in items]
                wrong = [i for i in items if i not in phonenumbers.SUPPORTED_REGIONS and i != "001"]
                if wrong:
                    bad(key, "enum", "ISO 3166 region codes (001: non-geographic services)", value=wrong[:10])
                    continue
            elif key == "blocked_number_types":
                items = [i.lower() for i in items]
                wrong = [i for i in items if i not in NUMBER_TYPES]
                if wrong:
                    bad(key, "enum", "phonenumbers number types", target=list(NUMBER_TYPES), value=wrong[:10])
                    continue
            else:
                items = [p.replace(" ", "") for p in items]
                wrong = [p for p in items if not (p.startswith("+") and p[1:].isdigit() and 2 <= len(p) <= 16)]
                if wrong:
                    bad(key, "format", "E.164 prefixes: + and 1 to 15 digits, e.g. +1900", value=wrong[:10])
                    continue
            out[key] = sorted(set(items))
    if errors:
        raise PolicyError(errors)
    return out


def _string_list(value) -> list[str] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        return None
    return [i.strip() for i in value if i.strip()]

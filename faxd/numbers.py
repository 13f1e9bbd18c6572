"""Phone numbers: parse what people write and keep E.164.

A number is accepted when phonenumbers calls it IS_POSSIBLE (not merely "possible local
only", which formats to garbage such as +15551234); ``is_valid_number`` is advice only,
because test DIDs (+1 555 ...) are possible but not valid and the metadata lags real
allocations. Numbers with an extension are refused: a fax call cannot dial one.
"""
from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from faxd.errors import FaxdError


class InvalidNumber(FaxdError):
    """Not a phone number that can be dialled."""

    def __init__(self, number: object, reason: str):
        super().__init__(f"{number!r} is not a valid phone number: {reason}")
        self.number = number
        self.reason = reason


_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number: include the area code",
    ValidationResult.INVALID_LENGTH: "wrong length",
}

_MAX_INPUT = 64


@functools.lru_cache(maxsize=8192)
def _normalize_text(text: str, region: str | None) -> str:
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as e:
        raise InvalidNumber(text, _parse_reason(e)) from None
    if parsed.extension:
        raise InvalidNumber(text, "extensions cannot be dialled by a fax call")
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason != ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(text, _REASONS.get(reason, "not a possible number"))
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize(number: object, region: str | None = "US") -> str:
    """Return ``number`` in E.164 (``+18884732963``); raise InvalidNumber otherwise.

    Numbers without a leading ``+`` are read in ``region`` (ISO 3166 code, e.g. "US").
    """
    if not isinstance(number, str):
        raise InvalidNumber(number, "expected a string")
    text = number.strip()
    if not text:
        raise InvalidNumber(number, "empty")
    if len(text) > _MAX_INPUT:
        raise InvalidNumber(number, "too long")
    try:
        return _normalize_text(text, region)
    except InvalidNumber as e:
        raise InvalidNumber(number, e.reason) from None


def is_valid(e164: str) -> bool:
    """Advice: True when the number is allocated according to phonenumbers' metadata."""
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
    except NumberParseException:
        return False


def _parse_reason(e: NumberParseException) -> str:
    return {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown country code or no default region",
        NumberParseException.NOT_A_NUMBER: "not a phone number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }.get(e.error_type, "not a phone number")

"""E.164 normalisation (faxd.numbers): what people write -> +E.164, or a reason."""
from __future__ import annotations

import pytest

from faxd.numbers import InvalidNumber, is_valid, normalize


@pytest.mark.parametrize("text,region,e164", [
    ("18884732963", "US", "+18884732963"),
    ("8884732963", "US", "+18884732963"),
    ("+1 (888) 473-2963", "US", "+18884732963"),
    ("tel:+18884732963", "US", "+18884732963"),
    ("011442079460000", "US", "+442079460000"),
    ("+442079460000", "US", "+442079460000"),
    ("020 7946 0000", "GB", "+442079460000"),
    ("+1 555 123 4567", "US", "+15551234567"),      # possible, not valid: accepted (test DIDs)
])
def test_accepted(text, region, e164):
    assert normalize(text, region) == e164


@pytest.mark.parametrize("text,reason", [
    ("5551234", "local"), ("911", "short"), ("12345", "short"), ("abc", "not a phone number"),
    ("001 888 473 2963", "long"), ("+1-888-473-2963 ext. 12", "extension"), ("", "empty"),
    ("1" * 100, "long"), (18884732963, "string"), (None, "string"),
])
def test_refused_with_a_reason(text, reason):
    with pytest.raises(InvalidNumber) as e:
        normalize(text, "US")
    assert reason in e.value.reason
    assert e.value.number == text


def test_no_region_needs_a_plus():
    assert normalize("+18884732963", None) == "+18884732963"
    with pytest.raises(InvalidNumber):
        normalize("8884732963", None)


def test_validity_is_advice():
    assert is_valid("+18884732963") and not is_valid("+15551234567")

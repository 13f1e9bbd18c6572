"""faxd.t30codes against the spandsp faxd is linked with (t30_completion_code_to_str)."""
from __future__ import annotations

from faxd import t30codes
from faxd.spandsp.stats import completion_text


def test_texts_are_spandsps():
    assert sorted(t30codes.TEXTS) == list(range(62))
    for code, text in t30codes.TEXTS.items():
        assert completion_text(code) == text, code


def test_named_codes_and_groups():
    assert completion_text(t30codes.CALLDROPPED) == "The call dropped prematurely"
    assert completion_text(t30codes.T0_EXPIRED) == "Timed out waiting for initial communication"
    assert completion_text(t30codes.FILEERROR) == "TIFF/F file cannot be opened"
    assert completion_text(t30codes.NOMEM) == "Cannot allocate memory for more pages"
    assert completion_text(t30codes.INCOMPATIBLE) == "Far end is not compatible"
    assert t30codes.CODES[t30codes.TEXTS[49]] == 49
    assert all("TIFF" in t30codes.TEXTS[c] or "image" in t30codes.TEXTS[c] or "pages" in t30codes.TEXTS[c]
               for c in t30codes.DOCUMENT)
    assert t30codes.NOT_A_FAX == {1, 2, 3}

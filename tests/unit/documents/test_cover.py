"""Cover pages: the default design and a faxbox's template read back by OCR as a person reads
them, and templates that try to read a file or run code refused before they are stored."""
from __future__ import annotations

import pytest

from faxd.documents.cover import FIELDS, Cover, TemplateError, check_template, clean, render
from faxd.documents.geometry import Geometry
from tests import reading

FIELDS_OF_A_FAX = {"to_name": "Dr. Ada Lovelace", "to_number": "+12025550123", "from_name": "ACME Billing",
                   "from_number": "+12025550100", "subject": "Quarterly invoice 4711",
                   "message": "Please find the invoice attached and call us back at your convenience.",
                   "date": "3 December 2026", "faxbox_name": "Billing desk"}


@pytest.mark.parametrize("resolution", ["fine", "normal"])
def test_the_default_cover_page_reads_back(resolution):
    g = Geometry.of("a4", resolution)
    page = render(Cover(FIELDS_OF_A_FAX, None).with_pages(3), g)
    assert (page.mode, page.size) == ("1", (g.width, g.height))
    text = reading.ocr(reading.square(page.convert("L"), 204, g.yres))
    for sentence in ("FAX", "Dr. Ada Lovelace", "ACME Billing", "Quarterly invoice 4711", "3 December 2026",
                     "3 (this page included)", "Please find the invoice attached"):
        reading.assert_reads(text, sentence, f"cover page at {resolution}")
    assert 0.01 < reading.black_share(page.convert("L")) < 0.12   # ink, not a black page


def test_a_faxbox_template_reads_back_with_its_fields():
    template = "# Fax from $faxbox_name\nFor: $to_name\nRegarding: $subject\nTotal: $pages pages, costs $$0"
    check_template(template)
    page = render(Cover(FIELDS_OF_A_FAX, template).with_pages(2), Geometry.of("letter", "fine"))
    text = reading.ocr(page.convert("L"))
    for sentence in ("Fax from Billing desk", "For: Dr. Ada Lovelace", "Regarding: Quarterly invoice 4711",
                     "Total: 2 pages, costs $0"):
        reading.assert_reads(text, sentence, "template cover page")


@pytest.mark.parametrize("template, says", [
    ("{{ open('/etc/passwd').read() }}", "not part of faxd's template language"),
    ("{% include '/etc/passwd' %}", "not part of faxd's template language"),
    ("${__import__('os').system('id')}", "a $ must start a field name"),
    ("$__class__", "unknown field $__class__"),
    ("$to_name.__globals__", None),        # the attribute is plain text after the field, never looked up
    ("<%= File.read('/etc/passwd') %>", "not part of faxd's template language"),
    ("price: 5 $", "a $ must start a field name"),
    ("x" * 4001, "at most 4000 characters"),
])
def test_templates_that_are_more_than_text_with_fields_are_refused(template, says):
    if says is None:
        check_template(template)
        page = render(Cover({**FIELDS_OF_A_FAX}, template).with_pages(1), Geometry.of("a4", "fine"))
        reading.assert_reads(reading.ocr(page.convert("L")), "Dr. Ada Lovelace.__globals__", "literal text")
        return
    with pytest.raises(TemplateError) as e:
        check_template(template)
    assert says in str(e.value)


def test_every_documented_field_can_be_used():
    check_template(" ".join(f"${name}" for name in FIELDS))


def test_field_values_lose_control_characters_and_are_cut():
    assert clean("a\x1b[2Jb\x00c\nd", 200) == "a[2Jbc\nd"
    assert clean("x" * 500, 200) == "x" * 200 and clean(None, 10) == ""


def test_a_message_longer_than_the_page_ends_in_an_ellipsis_on_one_page():
    long = {**FIELDS_OF_A_FAX, "message": "All work and no play makes a dull fax. " * 60}
    page = render(Cover(long, None).with_pages(1), Geometry.of("a4", "fine"))
    assert page.size == (1728, Geometry.of("a4", "fine").height)

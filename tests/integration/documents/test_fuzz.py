"""Mutated documents: conversion either succeeds or raises a DocumentError, nothing else.

Deterministic by default; FUZZ_EXAMPLES=N runs N random examples instead.
"""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxd.documents import DocumentError, FaxDocument
from tests.integration.documents.helpers import make_pipeline
from tests.unit.documents import corpus

SEEDS = {
    "png": corpus.encode(corpus.text_image((300, 200)), "PNG"),
    "tiff": corpus.encode(corpus.text_image((300, 200)), "TIFF", compression="tiff_lzw"),
    "g4": corpus.encode(corpus.text_image((300, 200)).convert("1"), "TIFF", compression="group4"),
    "jpeg": corpus.encode(corpus.text_image((300, 200)), "JPEG"),
    "gif": corpus.encode(corpus.text_image((300, 200)), "GIF"),
}


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(1, len(data)))]
    return bytes(data)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return make_pipeline(tmp_path_factory.mktemp("fuzz"))


EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "80"))


@settings(max_examples=EXAMPLES, deadline=None, derandomize="FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated())
def test_mutated_images(pipeline, data):
    p, work = pipeline
    try:
        doc = p.convert([(data, None)])
        assert isinstance(doc, FaxDocument) and doc.width == 1728
    except DocumentError as e:
        assert str(e)
    assert list(work.iterdir()) == []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.binary(min_size=0, max_size=64))
def test_tiff_parser_never_crashes(data):
    from faxd.documents import tiff
    try:
        tiff.pages(b"II*\x00" + data)
    except DocumentError:
        pass


PDF_SEED = corpus.pdf(2, lines=5)


@st.composite
def mutated_pdf(draw):
    data = bytearray(PDF_SEED)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.sampled_from(b"0123456789 /<>[]()RobjendstreamxrefEOF\n\x00\xff"))
    return bytes(data)


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")), deadline=None,
          derandomize="FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated_pdf())
def test_mutated_pdfs(pipeline, data):
    p, work = pipeline
    try:
        doc = p.convert([(data, "application/pdf")])
        assert 1 <= doc.pages <= 2
    except DocumentError as e:
        assert str(e)
    assert list(work.iterdir()) == []

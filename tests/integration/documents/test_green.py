"""Conversion inside the gevent process: the hub keeps running while a big image converts."""
import time

import gevent

from tests.integration.documents.helpers import make_pipeline
from tests.unit.documents import corpus


def test_hub_is_not_blocked_by_a_big_conversion(tmp_path):
    pipeline, _ = make_pipeline(tmp_path)
    big = corpus.encode(corpus.photo((4000, 5600)), "JPEG")   # ~1-2 s of Pillow work
    stamps = [time.perf_counter()]

    def ticker():
        while True:
            gevent.sleep(0.005)
            stamps.append(time.perf_counter())

    t = gevent.spawn(ticker)
    gevent.sleep(0)
    try:
        started = time.perf_counter()
        doc = pipeline.convert([(big, "image/jpeg"), (corpus.pdf(2), None)])
        took = time.perf_counter() - started
    finally:
        stamps.append(time.perf_counter())
        t.kill()
    assert doc.pages == 3
    worst = max(b - a for a, b in zip(stamps, stamps[1:]))
    # Run on the hub, the image step alone would stall every other greenlet for about a second.
    assert took > 0.3 and worst < 0.75, (took, worst)

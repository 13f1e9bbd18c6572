"""ESL event decoding: the CPU a FreeSWITCH event costs faxd before any routing.

Every event of every recorded call (``text/event-plain``, as faxd subscribes) is decoded with
``parse_event`` and read as a call does (Unique-ID, Event-Name and one URL-encoded value), over
several rounds; the best round's cost per event is reported. Baseline in the same run: the same
calls recorded as ``text/event-json`` decoded by the same function, whose header parsing is
CPython's C JSON decoder.

    python -m bench esl_parse [--rounds 30]
"""
from __future__ import annotations

import argparse
import time

from faxd.switch.freeswitch.esl import FrameReader, parse_event


def _events(suffix: str) -> list:
    from tests.data.captures import freeswitch, freeswitch_names
    out = []
    for name in freeswitch_names():
        if name.endswith(suffix):
            out += [m for m in FrameReader().feed(freeswitch(name))
                    if m.headers.get("Content-Type") in ("text/event-plain", "text/event-json")]
    return out


def _cost(messages: list, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(rounds):
            for m in messages:
                e = parse_event(m)
                e.get("Unique-ID"), e.get("Event-Name"), e.get("Event-Date-Local")
        best = min(best, (time.perf_counter() - t) / rounds / len(messages))
    return best


def main(argv) -> int:
    p = argparse.ArgumentParser(prog="python -m bench esl_parse")
    p.add_argument("--rounds", type=int, default=30)
    args = p.parse_args(argv)
    plain, js = _events(".plain.txt"), _events(".json.txt")
    cost_plain, cost_json = _cost(plain, args.rounds), _cost(js, args.rounds)
    size = sum(len(m.body) for m in plain) / len(plain)
    print(f"text/event-plain: {len(plain)} events, {size:.0f} bytes each on average: "
          f"{cost_plain * 1e6:.1f} us an event (best of 5 rounds of {args.rounds})")
    print(f"text/event-json (baseline, C JSON decoder): {len(js)} events: {cost_json * 1e6:.1f} us an event")
    print(f"plain / json: {cost_plain / cost_json:.2f}x; at 2,000 events/s (8,000 calls) plain costs "
          f"{cost_plain * 2000:.3f} of a core")
    return 0

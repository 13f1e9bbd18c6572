"""How many AMI events per second one Asterisk connection's reader parses and routes.

The stream is the recorded ``sendfax-local-success`` call (101 messages: both Local
channels, every VarSet pass, FAXStatus, ReceiveFAX/SendFAX, Hangups) replayed for N
concurrent calls with their own Uniqueids, interleaved message by message, the way a busy
Asterisk mixes them. Two measurements, interleaved run by run in the same process:

- ``parse``: FrameParser alone over the bytes (the floor: framing cost);
- ``route``: FrameParser + AsteriskBackend's reader routing (Uniqueid lookup, FaxChannel
  state, neutral events into each call's queue), i.e. all the reader greenlet does.

Usage: python -m bench ami [--calls N] [--runs R]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from faxd.config import Config
from faxd.switch.asterisk.ami import FrameParser, Message, parse_stream
from faxd.switch.asterisk.backend import AsteriskBackend, AsteriskCall

RECORDING = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "asterisk", "sendfax-local-success.ami.txt")


def build_stream(calls: int) -> tuple[bytes, int]:
    with open(RECORDING, "rb") as f:
        _, msgs = parse_stream(f.read())
    msgs = [m for m in msgs if m.is_event and m.uniqueid]
    uid1 = msgs[0].uniqueid
    per_call = []
    for i in range(calls):
        ours = f"{i:08x}-0000-4000-8000-000000000000"

        def sub(v: str) -> str:
            return v.replace(uid1 + ";2", ours + ";2").replace(uid1, ours).replace(
                uid1.rsplit(".", 1)[0] + ".1", ours + ";2")
        per_call.append([Message([(k, sub(v)) for k, v in m.headers]).encode() for m in msgs])
    out = bytearray()
    count = 0
    for j in range(len(msgs)):
        for i in range(calls):
            out += per_call[i][j]
            count += 1
    return bytes(out), count


def run_parse(data: bytes) -> int:
    p = FrameParser(expect_banner=False)
    n = 0
    for i in range(0, len(data), 65536):
        for _ in p.feed(data[i:i + 65536]):
            n += 1
    return n


def run_route(data: bytes, calls: int) -> int:
    config = Config.load(env={}, home="/tmp/faxd-bench-ami", ami_url=("ami://faxd:faxd@127.0.0.1:1",))
    backend = AsteriskBackend(config)
    link = backend._links[0]
    registered = []
    for i in range(calls):
        cid = f"{i:08x}-0000-4000-8000-000000000000"
        call = AsteriskCall(backend, link, cid, "outbound", cid)
        backend._calls[cid] = call
        backend._by_uid[cid] = call
        registered.append(call)
    p = FrameParser(expect_banner=False)
    n = 0
    for i in range(0, len(data), 65536):
        for msg in p.feed(data[i:i + 65536]):
            backend._on_event(link, msg)
            n += 1
    done = sum(1 for c in registered if c.done)
    assert done == calls, f"only {done} of {calls} calls ended"
    return n


def main(argv) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench ami")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    data, count = build_stream(args.calls)
    parse_t, route_t = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        assert run_parse(data) == count
        parse_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert run_route(data, args.calls) == count
        route_t.append(time.perf_counter() - t)
    p, r = statistics.median(parse_t), statistics.median(route_t)
    print(f"{args.calls} concurrent calls, {count} events, {len(data) / 1e6:.1f} MB, {args.runs} runs (medians)")
    print(f"  parse only      {count / p:10.0f} events/s  ({p * 1e6 / count:.1f} us/event)")
    print(f"  parse + route   {count / r:10.0f} events/s  ({r * 1e6 / count:.1f} us/event)")
    per_call = count // args.calls
    print(f"  routing costs   {r / p:.2f}x the framing alone; one fax call = {per_call} events"
          f" -> {r / args.calls * 1e3:.2f} ms of reader time per call")
    return 0

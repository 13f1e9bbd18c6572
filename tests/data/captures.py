"""The FreeSWITCH event-socket captures, each stored once.

The captures the ESL emulator replays ship with faxd's testing package, gzipped, in
``faxd/testing/esl/recordings/``; the others (the ``.json`` variants, what the client sent)
are in ``tests/data/freeswitch/``. Both are unedited captures described in
``tests/data/freeswitch/README.md``. Tests read them by file name through this module,
whichever directory holds them.
"""
from __future__ import annotations

import gzip
import os

FREESWITCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "freeswitch")
PACKAGED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "faxd", "testing", "esl", "recordings")


def freeswitch_names() -> list[str]:
    """Every FreeSWITCH capture's name (``txfax-audio-success.plain.txt``, ...), sorted."""
    names = {n for n in os.listdir(FREESWITCH) if n.endswith(".txt")}
    names |= {n[:-len(".gz")] for n in os.listdir(PACKAGED) if n.endswith(".txt.gz")}
    return sorted(names)


def freeswitch(name: str) -> bytes:
    """The bytes of one FreeSWITCH capture, by name."""
    packaged = os.path.join(PACKAGED, name + ".gz")
    if os.path.exists(packaged):
        with gzip.open(packaged, "rb") as f:
            return f.read()
    with open(os.path.join(FREESWITCH, name), "rb") as f:
        return f.read()

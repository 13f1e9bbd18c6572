"""Recorded FreeSWITCH traffic as scripts the emulator replays with new ids, times and fax values.

Each recording (``recordings/*.plain.txt.gz``, copied unedited from a FreeSWITCH 1.10.12 with
mod_spandsp) becomes a :class:`Script`: the events in the order FreeSWITCH sent them, each
with its role (``a``: the originated channel that runs txfax, ``b``: the answering channel,
``None``: API and BACKGROUND_JOB), its headers in order (decoded) and its body.
"""
from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass, field

from faxd.switch.freeswitch.esl import FrameReader, parse_event

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recordings")

# Scenario name -> recording (inbound ESL, ``event plain ALL``).
SCENARIOS = {
    "audio": "txfax-audio-success",
    "t38": "txfax-t38-success",
    "remote_hangup": "txfax-failure-remote-hangup",
    "no_fax": "txfax-failure-no-fax-answer",
    "no_route": "originate-failure-no-route",
    "no_answer": "originate-failure-no-answer",
    "socket": "outbound-socket-inbound-view",
}
# Timer-driven events that are not part of a call's story.
NOISE = ("HEARTBEAT", "RE_SCHEDULE")


@dataclass
class Entry:
    role: str | None
    name: str
    key: str                      # Event-Subclass for CUSTOM, else Event-Name
    app: str                      # Application of CHANNEL_EXECUTE(_COMPLETE), else ""
    headers: list[tuple[str, str]]
    body: str = ""
    timestamp: int = 0            # Event-Date-Timestamp (µs)

    def get(self, name: str, default: str = "") -> str:
        for k, v in self.headers:
            if k == name:
                return v
        return default


@dataclass
class Script:
    name: str
    entries: list[Entry]
    a_uuid: str
    b_uuid: str
    core_uuid: str
    job_uuid: str
    originate_arg: str
    start_us: int
    facts: dict = field(default_factory=dict)   # recorded values to substitute (numbers, paths...)


def read_frames(path: str):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    return list(FrameReader().feed(data))


@functools.lru_cache(maxsize=None)
def load(name: str) -> Script:
    """The script of scenario ``name`` (a key of SCENARIOS)."""
    path = os.path.join(HERE, SCENARIOS[name] + ".plain.txt.gz")
    entries: list[Entry] = []
    a_uuid = b_uuid = job_uuid = core = arg = ""
    for msg in read_frames(path):
        if msg.content_type == "command/reply" and "Job-UUID" in msg.headers:
            job_uuid = msg.headers["Job-UUID"]
        if msg.content_type != "text/event-plain":
            continue
        ev = parse_event(msg)
        name_ = ev.name
        if name_ in NOISE:
            continue
        core = core or ev.get("Core-UUID")
        uid = ev.unique_id
        if uid and not a_uuid:
            a_uuid = uid
        elif uid and uid != a_uuid and not b_uuid:
            b_uuid = uid
        role = None if not uid else ("a" if uid == a_uuid else "b")
        if name_ == "BACKGROUND_JOB":
            arg = ev.get("Job-Command-Arg")
        headers = []
        for line in msg.body.split(b"\n\n", 1)[0].split(b"\n"):
            k, _, v = line.partition(b": ")
            if k:
                from faxd.switch.freeswitch.esl import url_decode_bytes
                headers.append((k.decode("latin-1"), url_decode_bytes(v)))
        app = ev.get("Application") if name_ in ("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE") else ""
        entries.append(Entry(role, name_, ev.key, app, headers, ev.body,
                             int(ev.get("Event-Date-Timestamp") or 0)))
    start = entries[0].timestamp if entries else 0
    script = Script(name, entries, a_uuid, b_uuid, core, job_uuid, arg, start)
    script.facts = _facts(script)
    return script


# (role, header) -> the fact its first value is; and the applications whose data is a path.
_HEADER_FACTS = {
    ("a", "Caller-Caller-ID-Number"): "a_cid_number",
    ("a", "Caller-Caller-ID-Name"): "a_cid_name",
    ("a", "Caller-Destination-Number"): "a_dest",
    ("a", "Channel-Name"): "a_channel",
    ("b", "Channel-Name"): "b_channel",
    ("b", "Caller-Destination-Number"): "b_dest",
    ("a", "variable_fax_ident"): "a_ident",
    ("b", "variable_fax_ident"): "b_ident",
    ("a", "variable_fax_filename"): "tx_path",
    ("b", "variable_fax_filename"): "rx_path",
    ("b", "Caller-Caller-ID-Number"): "b_cid_number",
}
_APPLICATION_FACTS = {"rxfax": "rx_path", "txfax": "tx_path"}


def _facts(script: Script) -> dict:
    """Recorded values the emulator replaces: caller id, fax idents, file paths, numbers."""
    facts: dict[str, str] = {}
    for e in script.entries:
        for k, v in e.headers:
            fact = _HEADER_FACTS.get((e.role, k))
            if fact is not None:
                facts.setdefault(fact, v)
        if e.name == "CHANNEL_EXECUTE" and e.app in _APPLICATION_FACTS:
            facts.setdefault(_APPLICATION_FACTS[e.app], e.get("Application-Data"))
    return facts


@functools.lru_cache(maxsize=None)
def connect_reply() -> list[tuple[str, str]]:
    """FreeSWITCH's reply to ``connect`` on the outbound socket, headers in order."""
    path = os.path.join(HERE, "outbound-socket-connect.txt.gz")
    with gzip.open(path, "rb") as f:
        data = f.read()
    from faxd.switch.freeswitch.esl import url_decode_bytes
    headers = []
    for line in data.split(b"\n\n", 1)[0].split(b"\n"):
        k, _, v = line.partition(b": ")
        if k:
            headers.append((k.decode("latin-1"), url_decode_bytes(v)))
    return headers

"""Replay a recorded client against the emulator and compare both server streams."""
from __future__ import annotations

import os
import re
import socket

import gevent

from faxd.switch.asterisk.ami import FrameParser, Message, parse_stream

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "asterisk")
RECORDED_TX = "/var/lib/astfax/tx/"
RECORDED_RX = "/var/lib/astfax/rx/"

# Values that differ between any two runs of a real Asterisk: times, addresses, session ids.
VOLATILE = {"Uptime", "LastReload", "EventTV", "SessionTV", "SessionID", "LocalAddress", "RemoteAddress",
            "Timestamp"}


def read(name: str) -> bytes:
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def recorded(scenario: str) -> tuple[str, list[Message]]:
    return parse_stream(read(f"{scenario}.ami.txt"))


def client_actions(scenario: str) -> list[Message]:
    _, msgs = parse_stream(read(f"{scenario}.client-sent.txt"), expect_banner=False)
    return msgs


class Normalizer:
    """Replace ids, channel numbers and paths by their order of first appearance."""

    def __init__(self, tx_dir: str, rx_dir: str):
        self.tx_dir, self.rx_dir = tx_dir, rx_dir
        self.ids: dict[str, str] = {}
        self.chans: dict[str, str] = {}

    def _id(self, uid: str) -> str:
        if uid not in self.ids:
            self.ids[uid] = f"U{len(self.ids)}"
        return self.ids[uid]

    def value(self, key: str, value: str) -> str:
        if key in VOLATILE:
            return "*"
        value = value.replace(self.tx_dir, "TX/").replace(self.rx_dir, "RX/")
        value = re.sub(r"\d{9,}\.\d+(;2)?", lambda m: self._id(m.group(0)), value)
        value = re.sub(r"[0-9a-f]{32}(;2)?", lambda m: self._id(m.group(0)), value)

        def chan(m):
            k = m.group(0)
            if k not in self.chans:
                self.chans[k] = f"-C{len(self.chans)}"
            return self.chans[k]
        value = re.sub(r"-[0-9a-f]{8}(?=;|$|\b)", chan, value)
        return value

    def message(self, msg: Message) -> tuple:
        rtp = msg.get("Variable").startswith("RTPAUDIOQOS")
        # res_fax numbers its sessions since Asterisk started: an id like the others.
        session = msg.get("Variable") == "FAXOPT(sessionid)"

        def norm(k, v):
            if k == "Value" and rtp:
                return "*"
            if k == "Value" and session:
                return self._id("fax-session-" + v)
            return self.value(k, v)
        return tuple((k, norm(k, v)) for k, v in msg.headers)


def run_client(port: int, actions: list[Message], tx_dir: str, timeout: float = 60.0) -> tuple[str, list[Message]]:
    """Do what the recording client did: login, events, the actions, wait for the calls to end, logoff."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    parser = FrameParser()
    banner = ""
    got: list[Message] = []

    def pump(until, limit=timeout):
        nonlocal banner
        with gevent.Timeout(limit):
            while not until():
                data = sock.recv(65536)
                if not data:
                    return False
                for item in parser.feed(data):
                    if isinstance(item, str):
                        banner = item
                    else:
                        got.append(item)
        return True

    def answered(aid):
        return lambda: any(m.action_id == aid and not m.is_event for m in got)

    def finished():
        if not any(m.event == "OriginateResponse" for m in got):
            return False
        made = {m.uniqueid for m in got if m.event == "Newchannel"}
        gone = {m.uniqueid for m in got if m.event == "Hangup"}
        return made <= gone

    def live_name(recorded_name: str) -> str:
        """The emulator's channel that the recording's channel name stands for."""
        key = re.sub(r"-[0-9a-f]{8}", "", recorded_name)
        for m in got:
            if m.event == "Newchannel" and re.sub(r"-[0-9a-f]{8}", "", m.get("Channel")) == key:
                return m.get("Channel")
        return recorded_name

    logoff = None
    getvars = any(m.get("Action") == "Getvar" for m in actions)
    originated = False
    for msg in actions:
        if msg.get("Action") == "Logoff":
            logoff = msg
            continue
        if msg.get("Action") == "Getvar":
            msg = Message([(k, live_name(v) if k == "Channel" else v) for k, v in msg.headers])
        data = msg.encode().replace(RECORDED_TX.encode(), tx_dir.encode())
        sock.sendall(data)
        if msg.get("Action") == "Login":
            if not pump(answered(msg.action_id)):
                sock.close()
                return banner, got
        if msg.get("Action") == "Originate":
            originated = True
            if getvars:
                # The recording client asked once both fax events had come (channels held).
                pump(lambda: {"SendFAX", "ReceiveFAX"} <= {m.event for m in got})
            else:
                pump(finished)
        else:
            pump(answered(msg.action_id))
    if originated and getvars:
        pump(finished)
    if logoff is not None:
        sock.sendall(logoff.encode())
        pump(lambda: False)
    sock.close()
    return banner, got


def split_originate_response(msgs: list[Message]) -> tuple[list[Message], list[Message]]:
    """OriginateResponse comes when the far end answers: its place among the VarSets around it
    is a race in Asterisk (it differs between recordings), so it is compared on its own."""
    return ([m for m in msgs if m.event != "OriginateResponse"],
            [m for m in msgs if m.event == "OriginateResponse"])

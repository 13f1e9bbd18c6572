"""The emulator speaks the Event Socket as the recordings and the reference show it."""
import socket

import gevent
import pytest

from faxd.switch.freeswitch.esl import FrameReader, parse_event
from faxd.testing.esl import recording
from tests.data import captures


class Raw:
    """A bare client: bytes in, frames out."""

    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=10)
        self.reader = FrameReader()
        self.pending = []

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def frame(self):
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.pending.extend(self.reader.feed(data))
        return self.pending.pop(0)

    def closed(self) -> bool:
        try:
            while True:
                self.frame()
        except EOFError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture
def raw(emulator):
    clients = []

    def connect(emu, login=True):
        c = Raw(emu.address)
        clients.append(c)
        assert c.frame().headers == {"Content-Type": "auth/request"}
        if login:
            c.send("auth ClueCon\n\n")
            assert c.frame().headers == {"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}
        return c
    yield connect
    for c in clients:
        c.close()


def test_wrong_password_gets_err_invalid_then_goodbye(emulator, raw):
    c = raw(emulator(), login=False)
    c.send("auth nope\n\n")
    assert c.frame().headers == {"Content-Type": "command/reply", "Reply-Text": "-ERR invalid"}
    bye = c.frame()
    assert bye.headers == {"Content-Type": "text/disconnect-notice", "Content-Length": "67"}
    assert bye.body == b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    assert c.closed()


def test_commands_before_auth_and_unknown_commands(emulator, raw):
    c = raw(emulator(), login=False)
    c.send("event plain ALL\n\n")
    assert c.frame().headers["Reply-Text"] == "-ERR command not found"
    c.send("auth ClueCon\r\n\r\n")                      # CRLF is accepted too
    assert c.frame().headers["Reply-Text"] == "+OK accepted"
    c.send("frobnicate\n\n")
    assert c.frame().headers["Reply-Text"] == "-ERR command not found"


def test_subscriptions_api_and_bgapi_replies(emulator, raw):
    c = raw(emulator())
    c.send("event plain CHANNEL_ANSWER CUSTOM spandsp::txfaxresult\n\n")
    assert c.frame().headers["Reply-Text"] == "+OK event listener enabled plain"
    c.send("event json BACKGROUND_JOB\n\n")
    assert c.frame().headers["Reply-Text"] == "+OK event listener enabled json"
    c.send("event plain\n\n")
    assert c.frame().headers["Reply-Text"] == "-ERR no keywords supplied"
    c.send("filter Unique-ID\n\n")
    assert c.frame().headers["Reply-Text"] == "-ERR invalid syntax"
    c.send("api nosuch\n\n")
    m = c.frame()
    assert m.headers == {"Content-Type": "api/response", "Content-Length": str(len(m.body))}
    assert m.body == b"-ERR nosuch Command not found!\n"
    c.send("api uuid_exists 00000000-0000-0000-0000-000000000000\n\n")
    assert c.frame().body == b"false"
    c.send("api uuid_kill 00000000-0000-0000-0000-000000000000\n\n")
    assert c.frame().body == b"-ERR No such channel!\n"
    c.send("bgapi status\nJob-UUID: 7f8b6c3e-0000-4000-8000-000000000001\n\n")
    r = c.frame()
    assert r.headers == {"Content-Type": "command/reply",
                         "Reply-Text": "+OK Job-UUID: 7f8b6c3e-0000-4000-8000-000000000001",
                         "Job-UUID": "7f8b6c3e-0000-4000-8000-000000000001"}
    bg = c.frame()
    assert bg.headers["Content-Type"] == "text/event-json"
    e = parse_event(bg)
    assert e.name == "BACKGROUND_JOB" and e["Job-UUID"] == "7f8b6c3e-0000-4000-8000-000000000001"
    assert e["Job-Command"] == "status" and "is ready" in e.body
    c.send("exit\n\n")
    assert c.frame().headers["Reply-Text"] == "+OK bye"
    assert c.frame().headers["Content-Type"] == "text/disconnect-notice"
    assert c.closed()


def test_event_frames_put_content_length_first(emulator, raw, docs):
    emu = emulator(routes={"*": "busy"})
    c = raw(emu)
    c.send("event plain ALL\n\n")
    c.frame()
    c.send(f"bgapi originate {{origination_uuid=11111111-2222-4333-8444-555555555555}}sofia/gateway/gw/5 &txfax({docs['1p']})\n\n")
    c.frame()
    raw_bytes = b""
    while b"BACKGROUND_JOB" not in raw_bytes:
        raw_bytes += c.sock.recv(65536)
    first = raw_bytes.split(b"\n\n", 1)[0]
    assert first.startswith(b"Content-Length: ") and first.endswith(b"\nContent-Type: text/event-plain")
    assert b"Unique-ID: 11111111-2222-4333-8444-555555555555\n" in raw_bytes
    assert b"Event-Subclass" not in raw_bytes


# Each recording and the emulator route that reproduces it.
SCENARIOS = {
    "audio": ({"rx1": "receive"}, "{origination_caller_id_number=1000,origination_caller_id_name=FaxTest,"
              "fax_ident=TX-1000,fax_header=FreeSWITCH_txfax_test}loopback/rx1/fax/XML"),
    "t38": ({"rx2": "receive"}, "{origination_caller_id_number=2000,origination_caller_id_name=FaxTest,"
            "fax_ident=TX-2000,fax_header=FreeSWITCH_t38_test,fax_enable_t38=true,fax_enable_t38_request=true,"
            "ignore_early_media=true}sofia/external/rx2@127.0.0.1:5090"),
    "remote_hangup": ({"rxfail": "hangup_after:0"}, "{origination_caller_id_number=3000,"
                      "origination_caller_id_name=FaxTest,fax_ident=TX-3000}sofia/external/rxfail@127.0.0.1:5090"),
    "no_fax": ({"nofax": "no_fax"}, "{origination_caller_id_number=3001,origination_caller_id_name=FaxTest,"
               "fax_ident=TX-3001}sofia/external/nofax@127.0.0.1:5090"),
    "no_route": ({}, "{origination_caller_id_number=3002,origination_caller_id_name=FaxTest,"
                 "fax_ident=TX-3002}sofia/external/nosuch@127.0.0.1:5090"),
    "no_answer": ({"ringonly": "no_answer"}, "{origination_caller_id_number=3003,origination_caller_id_name=FaxTest,"
                  "fax_ident=TX-3003,originate_timeout=6}sofia/external/ringonly@127.0.0.1:5090"),
}


def shape(events) -> list:
    """(event, leg, header names) per event: what must match, ids and times aside."""
    legs: dict[str, str] = {}
    out = []
    for e in events:
        if e.name in recording.NOISE:
            continue
        uid = e.unique_id
        if uid and uid not in legs:
            legs[uid] = "ab"[len(legs)] if len(legs) < 2 else "?"
        out.append((e.key, legs.get(uid, "-"), tuple(n for n in e.names if n != "Content-Length")))
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_emulated_call_matches_the_recording(name, emulator, raw, docs, tmp_path):
    routes, originate = SCENARIOS[name]
    recorded = [parse_event(m) for m in FrameReader().feed(captures.freeswitch(recording.SCENARIOS[name] + ".plain.txt"))
                if m.content_type == "text/event-plain"]
    emu = emulator(routes=routes)
    c = raw(emu)
    c.send("event plain ALL\n\n")
    c.frame()
    c.send(f"bgapi originate {originate} &txfax({docs['3p']})\n\n")
    c.frame()
    got = []
    with gevent.Timeout(30):
        while True:
            m = c.frame()
            got.append(parse_event(m))
            if emu.calls and emu.calls[0].done.is_set() and not c.pending:
                gevent.sleep(0.05)
                if not c.pending:
                    c.sock.settimeout(0.2)
                    try:
                        c.pending.extend(c.reader.feed(c.sock.recv(1 << 20)))
                    except OSError:
                        break
                    if not c.pending:
                        break
    want, have = shape(recorded), shape(got)
    assert [w[:2] for w in want] == [h[:2] for h in have]
    for i, (w, h) in enumerate(zip(want, have)):
        assert w[2] == h[2], (i, w[0], w[1], sorted(set(w[2]) ^ set(h[2])))


def test_outbound_socket_session_matches_the_recording(emulator, docs, tmp_path):
    """Drive the emulator's outbound socket exactly as the recorded listener did."""
    import gevent.server
    sent = captures.freeswitch("outbound-socket-rxfax-session.client-sent.txt")
    commands = [c.replace("/var/spool/faxd/rx/", f"{tmp_path}/") for c in sent.decode().split("\n\n") if c]
    frames = []
    finished = gevent.event.Event()

    def listener(sock, addr):
        reader = FrameReader()
        pending = []

        def frame():
            while not pending:
                data = sock.recv(65536)
                if not data:
                    raise EOFError
                pending.extend(reader.feed(data))
            return pending.pop(0)
        try:
            for cmd in commands:
                sock.sendall((cmd + "\n\n").encode())
                app = next((line.split(": ", 1)[1] for line in cmd.split("\n") if line.startswith("execute-app-name")), None)
                while True:
                    m = frame()
                    frames.append(m)
                    if app is None and m.content_type == "command/reply":
                        break
                    if app and m.content_type == "text/event-plain":
                        e = parse_event(m)
                        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e["Application"] == app:
                            break
            while True:                              # the rest, up to the linger notice
                m = frame()
                frames.append(m)
                if m.content_type == "text/disconnect-notice":
                    break
        finally:
            finished.set()
            sock.close()

    server = gevent.server.StreamServer(("127.0.0.1", 0), listener)
    server.start()
    try:
        emu = emulator(routes={"sock": "socket"}, socket_target=server.address[:2])
        c = Raw(emu.address)
        c.frame()
        c.send("auth ClueCon\n\n")
        c.frame()
        c.send("bgapi originate {origination_caller_id_number=4000,origination_caller_id_name=FaxTest,"
               f"fax_ident=TX-4000}}sofia/external/sock@127.0.0.1:5090 &txfax({docs['3p']})\n\n")
        assert finished.wait(30)
        c.close()
    finally:
        server.stop()
    recorded = list(FrameReader().feed(captures.freeswitch("outbound-socket-rxfax-session.plain.txt")))

    def view(msgs):
        out = []
        for m in msgs:
            if m.content_type == "text/event-plain":
                out.append(("event",) + shape([parse_event(m)])[0][::2])
            elif "Event-Name" in m.headers:             # the connect reply: the channel, then the reply
                out.append(("connect", tuple(m.headers)))
            else:
                out.append((m.content_type, m.headers.get("Reply-Text"), m.headers.get("Content-Disposition")))
        return out
    want, have = view(recorded), view(frames)
    assert [w[:2] for w in want] == [h[:2] for h in have]
    for i, (w, h) in enumerate(zip(want, have)):
        assert w == h, (i, w[:2], sorted(set(w[-1]) ^ set(h[-1])) if w[0] in ("event", "connect") else h)

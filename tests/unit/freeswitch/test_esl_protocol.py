"""The ESL framing and encoding against the bytes a real FreeSWITCH sent."""
import json

import pytest

from faxd.switch.freeswitch.esl import (
    FrameReader, Message, ProtocolError, encode_command, parse_event, url_decode, url_encode,
)

from tests.data.captures import freeswitch as recording
from tests.data.captures import freeswitch_names

PLAIN = [f for f in freeswitch_names() if f.endswith(".plain.txt")]
JSON = [f for f in freeswitch_names() if f.endswith(".json.txt")]


def frames(data: bytes, chunk: int | None = None) -> list[Message]:
    reader = FrameReader()
    if chunk is None:
        return list(reader.feed(data))
    out = []
    for i in range(0, len(data), chunk):
        out.extend(reader.feed(data[i:i + chunk]))
    return out


@pytest.mark.parametrize("name", PLAIN + JSON)
def test_every_byte_of_a_recording_is_framed(name):
    data = recording(name)
    msgs = frames(data)
    consumed = 0
    for m in msgs:
        consumed += len(m.body)
    assert msgs, name
    # Every frame is a known kind; every event decodes; bodies are exactly Content-Length bytes.
    kinds = {m.content_type for m in msgs}
    assert kinds <= {"auth/request", "command/reply", "text/event-plain", "text/event-json",
                     "text/disconnect-notice", ""}, kinds
    for m in msgs:
        if "Content-Length" in m.headers:
            assert len(m.body) == int(m.headers["Content-Length"])
        if m.content_type.startswith("text/event"):
            ev = parse_event(m)
            assert ev.name


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_framing_does_not_depend_on_how_tcp_splits_the_stream(chunk):
    data = recording("txfax-failure-remote-hangup.plain.txt")
    whole = frames(data)
    split = frames(data, chunk)
    assert [(m.headers, m.body) for m in split] == [(m.headers, m.body) for m in whole]


def test_outbound_connect_reply_is_one_block_without_length():
    data = recording("outbound-socket-connect.txt")
    (msg,) = frames(data)
    assert msg.body == b""
    assert msg.headers["Event-Name"] == "CHANNEL_DATA"
    assert msg.headers["Reply-Text"] == "+OK\n"          # %2BOK%0A decoded
    assert msg.headers["Socket-Mode"] == "async" and msg.headers["Control"] == "full"
    assert msg.headers["Caller-Destination-Number"] == "sock"


def test_background_job_body_is_read_by_the_inner_content_length():
    msgs = frames(recording("originate-failure-no-route.plain.txt"))
    bg = [parse_event(m) for m in msgs if m.content_type == "text/event-plain"
          and parse_event(m).name == "BACKGROUND_JOB"]
    assert [e.body for e in bg] == ["-ERR NO_ROUTE_DESTINATION\n"]
    assert bg[0]["Job-Command"] == "originate"
    assert bg[0]["Job-Command-Arg"].startswith("{origination_caller_id_number=3002,")


def test_json_events_decode_to_the_same_headers_as_plain_ones():
    msgs = [m for m in frames(recording("txfax-audio-success.json.txt")) if m.content_type == "text/event-json"]
    ev = parse_event(msgs[0])
    assert ev.name == "CODEC"
    bg = [parse_event(m) for m in msgs if parse_event(m).name == "BACKGROUND_JOB"]
    assert bg[0].body.startswith("+OK ")
    result = [parse_event(m) for m in msgs if parse_event(m).subclass == "spandsp::txfaxresult"]
    assert result[0]["fax-result-code"] == "0"


@pytest.mark.parametrize("name", PLAIN)
def test_url_encoding_reproduces_freeswitch_bytes(name):
    """Decoding and re-encoding every recorded header value gives back the recorded bytes."""
    checked = 0
    for m in frames(recording(name)):
        if m.content_type != "text/event-plain":
            continue
        block = m.body.split(b"\n\n", 1)[0]
        for line in block.split(b"\n"):
            k, _, raw = line.partition(b": ")
            raw = raw.decode()
            assert url_encode(url_decode(raw)) == raw, (k, raw)
            checked += 1
    assert checked > 100


def test_url_encoding_rules():
    assert url_encode("spandsp::txfaxresult") == "spandsp%3A%3Atxfaxresult"
    assert url_encode("+4930123456") == "%2B4930123456"
    assert url_encode("2026-08-21 17:10:14") == "2026-08-21%2017%3A10%3A14"
    assert url_encode("100%25 sure") == "100%25%20sure"        # an existing %XX is not encoded again
    assert url_encode("a!$'()*,-./_~z") == "a!$'()*,-./_~z"
    assert url_decode("a+b%2Bc") == "a+b+c"                    # '+' is not a space


def test_commands_are_one_line_then_headers_then_blank_line():
    assert encode_command("auth ClueCon") == b"auth ClueCon\n\n"
    assert encode_command("bgapi status", {"Job-UUID": "x"}) == b"bgapi status\nJob-UUID: x\n\n"
    assert encode_command("sendmsg", {"call-command": "execute"}, "abc") == \
        b"sendmsg\ncall-command: execute\nContent-Length: 3\n\nabc"
    with pytest.raises(ValueError):
        encode_command("auth x\nevent plain ALL")
    with pytest.raises(ValueError):
        encode_command("sendmsg", {"execute-app-arg": "a\nb"})


def test_bad_content_length_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        list(FrameReader().feed(b"Content-Length: x\nContent-Type: text/event-plain\n\n"))


def test_a_block_without_content_type_does_not_stop_the_reader():
    msgs = list(FrameReader().feed(b"Foo: bar\n\nContent-Type: command/reply\nReply-Text: +OK\n\n"))
    assert [m.content_type for m in msgs] == ["", "command/reply"]
    assert json.dumps(msgs[1].headers)


def _event(block: bytes):
    body = block + b"\n\n"
    return parse_event(Message({"Content-Type": "text/event-plain"}, body))


def test_header_values_are_decoded_once_on_access_whatever_they_hold():
    ev = _event(b"Event-Name: CUSTOM\nCaller-Caller-ID-Name: M%C3%BCller%20%26%20Co\n"
                b"variable_fax_result_text: 100%25%20sure\nRaw-UTF8: Gr\xc3\xbc\xc3\x9fe\nPlain: abc")
    # %XX as UTF-8, a literal '%' (sent as %25) decoded once however often it is read,
    # raw UTF-8 bytes as UTF-8, an ASCII value without '%' as it came.
    for _ in range(2):
        assert ev["Caller-Caller-ID-Name"] == "Müller & Co"
        assert ev["variable_fax_result_text"] == "100% sure"
        assert ev["Raw-UTF8"] == "Grüße"
        assert ev["Plain"] == "abc"
    assert dict(ev.headers.items())["variable_fax_result_text"] == "100% sure"
    assert ev.headers.copy() == {"Event-Name": "CUSTOM", "Caller-Caller-ID-Name": "Müller & Co",
                                 "variable_fax_result_text": "100% sure", "Raw-UTF8": "Grüße", "Plain": "abc"}
    ev.headers["Set-Later"] = "50%25"               # a value set here is final, not decoded
    assert ev["Set-Later"] == "50%25"


def test_header_lines_with_crlf_without_a_space_or_a_colon_parse_as_before():
    ev = _event(b"Event-Name: CUSTOM\r\nNo-Space:value\r\nEmpty-Value: \r\nnot a header line\r\n"
                b"Hangup-Cause: NORMAL_CLEARING\r\nHangup-Cause: NORMAL_CLEARING\r\nColon-In-Value: a: b")
    assert ev["No-Space"] == "value" and ev["Empty-Value"] == "" and ev["Colon-In-Value"] == "a: b"
    assert "not a header line" not in ev.headers
    # Names in arrival order, duplicates included (the emulator's wire tests compare them).
    assert ev.names == ["Event-Name", "No-Space", "Empty-Value", "Hangup-Cause", "Hangup-Cause", "Colon-In-Value"]

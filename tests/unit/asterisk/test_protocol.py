"""AMI framing, action builders and the mapping tables."""
from __future__ import annotations

import pytest

from faxd.switch.asterisk import commands
from faxd.switch.asterisk.ami import FrameParser, Message, ProtocolError, encode_action, parse_block
from faxd.switch.asterisk.events import map_fax_error, resolution_dpi
from faxd.switch.base import FaxOptions, OriginateRequest


def test_parser_handles_split_reads_and_empty_values():
    data = (b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: a-1\r\nMessage: ok\r\n\r\n"
            b"Event: VarSet\r\nAccountCode: \r\nValue: \r\nFileName: /a\r\nFileName: /b\r\n\r\n")
    for step in (1, 3, 7, len(data)):
        p = FrameParser()
        items = []
        for i in range(0, len(data), step):
            items.extend(p.feed(data[i:i + step]))
        assert items[0] == "Asterisk Call Manager/11.0.0"
        resp, event = items[1:]
        assert resp.is_response and resp.action_id == "a-1"
        assert event.is_event and event.get("AccountCode") == "" and event.get("Value") == ""
        assert event.getall("FileName") == ["/a", "/b"]


def test_parser_rejects_what_is_not_ami():
    with pytest.raises(ProtocolError):
        list(FrameParser().feed(b"SSH-2.0-OpenSSH_9.2\r\n"))
    with pytest.raises(ProtocolError):
        parse_block(b"Response: Success\r\nno colon here")


def test_originate_response_is_an_event_not_a_response():
    m = parse_block(b"Event: OriginateResponse\r\nActionID: x\r\nResponse: Failure")
    assert m.is_event and not m.is_response


def test_encode_refuses_header_injection():
    assert encode_action("Ping", [], "p-1") == b"Action: Ping\r\nActionID: p-1\r\n\r\n"
    with pytest.raises(ValueError):
        encode_action("Setvar", [("Value", "x\r\nAction: Hangup")])


def test_originate_builder():
    req = OriginateRequest(call_id="c0ffee" * 5 + "00", job_id="j", to_number="+15551230001",
                           from_number="+15550000", from_name='ACME "Fax"', tiff_path="/spool/j.tif",
                           options=FaxOptions(station_id="+1 555 0000", header="ACME, Inc.", ecm=False,
                                              v17=False, t38="request"), ring_timeout=45)
    h = commands.originate(req, "PJSIP/{number}@trunk")
    d = Message(h)
    assert d.get("Channel") == "PJSIP/+15551230001@trunk"
    assert d.get("Application") == "SendFAX"
    assert d.get("Data") == "/spool/j.tif,dz"
    assert d.getall("Variable") == ["FAXOPT(ecm)=no", "FAXOPT(localstationid)=+1 555 0000",
                                    "FAXOPT(headerinfo)=ACME\\, Inc.", "FAXOPT(maxrate)=9600"]
    assert commands.unescape_app_arg("ACME\\, Inc.") == "ACME, Inc."
    assert d.get("CallerID") == '"ACME Fax" <+15550000>'
    assert d.get("Timeout") == "45000"
    assert d.get("ChannelId") == req.call_id
    assert d.get("Async") == "true"
    assert commands.sendfax_options(FaxOptions(t38="off")) == "dF"
    assert commands.sendfax_options(FaxOptions(t38="accept")) == "d"
    assert commands.receivefax_options(FaxOptions(t38="off")) == "dF"
    with pytest.raises(ValueError):
        commands.dial_string("PJSIP/{number}@trunk", "123&Local/x@y")


def test_fax_error_mapping():
    assert map_fax_error("SUCCESS", "HANGUP", "OK", True) == (0, "OK")
    assert map_fax_error("FAILED", "The call dropped prematurely", "The call dropped prematurely", True) == (
        49, "The call dropped prematurely")
    assert map_fax_error("FAILED", "Timed out waiting for initial communication", "x", False)[0] == 2
    assert map_fax_error("FAILED", "T38_NEG_ERROR", "error negotiating T.38", True) == (49, "error negotiating T.38")
    assert map_fax_error("FAILED", "T38_NEG_ERROR", "error negotiating T.38", False) == (8, "error negotiating T.38")
    assert map_fax_error("FAILED", "FILE_ERROR", "error reading file", False)[0] == 41
    assert resolution_dpi("8031x7700") == "204x196"
    assert resolution_dpi("8031x3850") == "204x98"
    assert resolution_dpi("0x0") == ""


def test_hangup_cause_numbers():
    assert commands.hangup("PJSIP/x-1", "CALL_REJECTED") == [("Channel", "PJSIP/x-1"), ("Cause", "21")]
    assert commands.cause_number("UNALLOCATED_NUMBER") == 1
    assert commands.cause_number("ORIGINATOR_CANCEL") == 16
    assert commands.cause_number("RECOVERY_ON_TIMER_EXPIRE") == 102
    assert commands.cause_number("NORMAL_TEMPORARY_FAILURE") == 41
    assert commands.cause_number("SOMETHING_ELSE") == 16

"""Replay every recording through the event translation: the call ids, results and tx_result
figures must be the ones FreeSWITCH's own channel variables state in the same recording."""
import pytest

from faxd.switch import events as ev
from faxd.switch.freeswitch.esl import FrameReader, parse_event
from faxd.switch.freeswitch.events import CallTranslator, q850, resolution_dpi

from tests.data.captures import freeswitch as recording

INBOUND = [
    # recording, expected cause, success, result code, pages
    ("txfax-audio-success", "NORMAL_CLEARING", True, 0, 3),
    ("txfax-t38-success", "NORMAL_CLEARING", True, 0, 3),
    ("txfax-failure-remote-hangup", "NORMAL_CLEARING", False, 49, 0),
    ("txfax-failure-no-fax-answer", "NORMAL_CLEARING", False, 2, 0),
    ("originate-failure-no-route", "NO_ROUTE_DESTINATION", None, None, 0),
    ("originate-failure-no-answer", "NO_ANSWER", None, None, 0),
]


def events_of(name: str) -> list:
    return [parse_event(m) for m in FrameReader().feed(recording(name))
            if m.content_type.startswith("text/event")]


def originated_call(events) -> tuple[str, str]:
    """(Unique-ID of the txfax channel, Job-UUID) as a client learns them."""
    job = next(e for e in events if e.name == "BACKGROUND_JOB")
    first = next(e for e in events if e.name == "CHANNEL_OUTGOING")
    return first.unique_id, job["Job-UUID"]


def translate(events, call_id: str, job_uuid: str, drop=()) -> list:
    t = CallTranslator(call_id)
    out = []
    for e in events:
        if e.key in drop:
            continue
        if e.name == "BACKGROUND_JOB" and e["Job-UUID"] == job_uuid:
            out += t.background_job(e.body)
        elif e.unique_id == call_id:
            out += t.feed(e)
    return out


@pytest.mark.parametrize("fmt", ["plain", "json"])
@pytest.mark.parametrize("name,cause,success,code,pages", INBOUND)
def test_translation_agrees_with_freeswitch_variables(name, cause, success, code, pages, fmt):
    events = events_of(f"{name}.{fmt}.txt")
    call_id, job = originated_call(events)
    out = translate(events, call_id, job)
    final = next(e for e in events if e.name == "CHANNEL_HANGUP_COMPLETE" and e.unique_id == call_id)
    bg = next(e for e in events if e.name == "BACKGROUND_JOB")

    # Hangup last, once, with FreeSWITCH's cause and Q.850 number.
    assert isinstance(out[-1], ev.Hangup) and sum(isinstance(x, ev.Hangup) for x in out) == 1
    assert out[-1].cause == final.variable("hangup_cause") == cause
    assert out[-1].q850 == int(final.variable("hangup_cause_q850"))
    assert all(x.call_id == call_id for x in out)
    if bg.body.startswith("+OK"):
        assert bg.body.split()[1] == call_id          # the id the API reports is the channel we followed
    else:
        assert bg.body.strip() == f"-ERR {cause}"

    results = [x for x in out if isinstance(x, ev.FaxResult)]
    if success is None:
        assert results == [] and "variable_fax_result_code" not in final
        assert not any(isinstance(x, (ev.Answered, ev.Negotiated, ev.PageDone)) for x in out)
        return
    (r,) = results
    assert out.index(r) == len(out) - 2                # FaxResult right before Hangup
    assert r.success is (final.variable("fax_success") == "1") is success
    assert r.result_code == int(final.variable("fax_result_code")) == code
    assert r.result_text == final.variable("fax_result_text")
    assert r.pages == int(final.variable("fax_document_transferred_pages", "0")) == pages
    assert r.bit_rate == int(final.variable("fax_transfer_rate", "0"))
    assert r.ecm is (final.variable("fax_ecm_used") == "on")
    assert r.t38 is (final.variable("fax_t38_status") == "negotiated")
    assert r.remote_station_id == final.variable("fax_remote_station_id")
    assert r.bad_rows == int(final.variable("fax_bad_rows", "0"))
    assert any(isinstance(x, ev.Answered) for x in out)
    page_events = [x for x in out if isinstance(x, ev.PageDone)]
    assert [p.pages for p in page_events] == list(range(1, pages + 1))
    if pages:
        assert all(p.pages_total == 3 for p in page_events)
        n = next(x for x in out if isinstance(x, ev.Negotiated))
        assert (n.bit_rate, n.ecm) == (14400, True) and n.remote_station_id == r.remote_station_id
        assert r.resolution == "204x196"


def test_t38_recording_reports_t38():
    events = events_of("txfax-t38-success.plain.txt")
    call_id, job = originated_call(events)
    r = next(x for x in translate(events, call_id, job) if isinstance(x, ev.FaxResult))
    assert r.t38 and r.success and r.pages == 3 and r.remote_station_id == "RX-2"


@pytest.mark.parametrize("name", ["txfax-audio-success", "txfax-failure-remote-hangup", "txfax-failure-no-fax-answer"])
def test_without_the_result_event_the_channel_variables_give_the_same_result(name):
    events = events_of(f"{name}.plain.txt")
    call_id, job = originated_call(events)
    with_event = next(x for x in translate(events, call_id, job) if isinstance(x, ev.FaxResult))
    without = translate(events, call_id, job, drop={"spandsp::txfaxresult"})
    from_vars = next(x for x in without if isinstance(x, ev.FaxResult))
    for f in ("success", "result_code", "result_text", "pages", "pages_total", "bit_rate", "ecm", "t38",
              "remote_station_id", "bad_rows", "resolution"):
        assert getattr(from_vars, f) == getattr(with_event, f), f
    assert isinstance(without[-1], ev.Hangup)


def test_receiving_side_of_the_outbound_socket_session():
    events = events_of("outbound-socket-rxfax-session.plain.txt")
    connect = next(m for m in FrameReader().feed(recording("outbound-socket-connect.txt")))
    call_id = connect.headers["Unique-ID"]
    t = CallTranslator(call_id)
    t.created = True
    out = []
    for e in events:
        assert e.unique_id == call_id               # myevents: only this channel
        out += t.feed(e)
    done = next(e for e in events if e.name == "CHANNEL_EXECUTE_COMPLETE" and e["Application"] == "rxfax")
    r = next(x for x in out if isinstance(x, ev.FaxResult))
    assert r.success and r.result_code == int(done.variable("fax_result_code")) == 0
    assert r.pages == int(done.variable("fax_document_transferred_pages")) == 3
    assert [p.pages for p in out if isinstance(p, ev.PageDone)] == [1, 2, 3]
    assert r.remote_station_id == done.variable("fax_remote_station_id") == "TX-4000"
    assert isinstance(out[-1], ev.Hangup) and out[-1].cause == "NORMAL_CLEARING"


def test_failed_originate_without_a_channel_ends_at_the_background_job():
    t = CallTranslator("x")
    (h,) = t.background_job("-ERR INVALID_GATEWAY\n")
    assert h.cause == "INVALID_GATEWAY" and h.q850 == q850("INVALID_GATEWAY") == 16
    assert t.background_job("-ERR INVALID_GATEWAY\n") == []


def test_resolution_in_dpi():
    assert resolution_dpi("8040x7700") == "204x196"
    assert resolution_dpi("8040x3850") == "204x98"
    assert resolution_dpi("") == ""
    assert resolution_dpi("0x0") == ""      # no page negotiated: unknown, as the other switches say

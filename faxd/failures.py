"""Why a fax failed, in words a sender can act on: every final result gets an ``error_class``,
a stable ``error_code`` and a sentence (``error_advice``) that says what to do, next to Kazoo's
fields. Pure: a TxResult in, its three fields out.

The tables cover every spandsp T.30 completion code (faxd/t30codes.py) and every hangup cause
of faxd/switch/causes.py; docs/errors.md prints them and tests/unit/test_failures.py holds the
document and this module to each other. ``permanent`` failures are not retried (faxd/retry.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from faxd.models import TxResult
from faxd.switch import causes
from faxd.t30codes import TEXTS as T30_TEXTS

CLASSES = ("document", "destination", "line", "protocol", "far_end", "canceled", "expired", "internal")


@dataclass(frozen=True)
class Failure:
    error_class: str
    error_code: str
    advice: str
    permanent: bool = False


def _f(cls, code, advice, permanent=False) -> Failure:
    assert cls in CLASSES
    return Failure(cls, code, advice, permanent)


NOT_A_FAX = _f("far_end", "not_a_fax", "The number answered but is not a fax machine: check the number.")
TRAINING = _f("line", "training_failed", "The line was too poor for fax at any speed: try again later, "
                                         "or with a lower highest speed or ECM off.")
HUNG_UP = _f("far_end", "far_end_hung_up", "The receiving fax machine ended the call before the fax was "
                                           "complete: check it has paper and memory, then send again.")
ECM = _f("protocol", "ecm_failed", "Error correction (ECM) failed with this fax machine: send again, "
                                   "or with ECM off.")
UNEXPECTED = _f("protocol", "unexpected_message", "The fax machines did not understand each other: send again; "
                                                  "if it keeps failing, try without T.38 or ECM.")
STOPPED = _f("far_end", "far_end_stopped_responding", "The receiving fax machine stopped answering during the "
                                                      "fax: send again.")
NOT_ACCEPTED = _f("far_end", "not_accepted", "The receiving fax machine refused this sender's identification, "
                                             "password or address: check them with the recipient.")
DOCUMENT = _f("document", "document_unreadable", "faxd could not read the fax document it prepared: send the "
                                                 "document again; if it fails again, report it.", True)

# Every spandsp T.30 completion code (t30.h's T30_ERR_*), by number.
T30: dict[int, Failure] = {
    1: NOT_A_FAX, 2: NOT_A_FAX, 3: NOT_A_FAX,
    4: _f("protocol", "operator_timeout", "The other end waited for an operator who never came: send again."),
    5: _f("line", "carrier_error", "The line's signal broke up: try again later."),
    6: TRAINING,
    7: _f("far_end", "operator_intervention_failed", "The other end asked for an operator and none answered: "
                                                      "call the recipient."),
    # Not permanent: with T.38 it is the T.38 negotiation that failed, and audio may work.
    8: _f("far_end", "incompatible", "The receiving fax machine cannot take a fax in any way faxd can send: "
                                     "check the number."),
    9: _f("far_end", "cannot_receive", "The fax machine says it cannot receive now (out of paper or memory?): "
                                       "try again later."),
    10: _f("far_end", "cannot_send", "The other end has nothing to send (polling): check with the recipient."),
    11: _f("document", "resolution_unsupported", "The receiving fax machine cannot print this resolution: send "
                                                 "the document at normal resolution.", True),
    12: _f("document", "page_size_unsupported", "The receiving fax machine cannot print this page size: send "
                                                "the document on A4 or Letter.", True),
    13: UNEXPECTED,
    14: TRAINING,
    15: HUNG_UP,
    16: ECM,
    17: HUNG_UP,
    18: _f("protocol", "invalid_response", "The receiving fax machine answered a page in a way faxd does not "
                                           "understand: send again."),
    19: UNEXPECTED,
    20: TRAINING,
    21: _f("line", "no_response_after_page", "Nothing came back after a page (the line or the machine dropped "
                                             "out): send again."),
    22: ECM,
    23: ECM,
    24: UNEXPECTED, 25: UNEXPECTED,
    26: _f("line", "carrier_lost", "The signal was lost while the fax came in: ask the sender to send again."),
    27: _f("line", "image_data_lost", "The page data stopped arriving: send again."),
    28: _f("line", "image_data_lost", "The page data stopped arriving: send again."),
    29: STOPPED, 30: STOPPED, 31: STOPPED, 32: STOPPED, 33: STOPPED, 34: STOPPED,
    35: HUNG_UP, 36: HUNG_UP, 37: HUNG_UP, 38: HUNG_UP, 39: HUNG_UP, 40: HUNG_UP,
    41: DOCUMENT, 42: DOCUMENT, 43: DOCUMENT, 44: DOCUMENT, 45: DOCUMENT, 46: DOCUMENT,
    47: _f("internal", "out_of_memory", "faxd ran out of memory for the pages: report it.", True),
    48: _f("line", "retries_exhausted", "Pages failed again and again (a noisy line): try again later, or with "
                                        "a lower highest speed."),
    49: _f("line", "dropped_mid_page", "The call dropped during the fax: send again."),
    **{code: NOT_ACCEPTED for code in range(50, 62)},
}

BUSY = _f("destination", "busy", "The number was busy: faxd tries again; send later if it stays busy.")
NO_ANSWER = _f("destination", "no_answer", "Nobody answered: check the number and that the fax machine is on.")
UNALLOCATED = _f("destination", "unallocated_number", "The number does not exist: check the number.", True)
INVALID = _f("destination", "invalid_number", "The number is not valid: check the number and its country "
                                              "code.", True)
REJECTED = _f("destination", "rejected", "The call was refused by the number or its network: check the number, "
                                         "or ask the recipient to accept calls from yours.")
UNREACHABLE = _f("destination", "unreachable", "The number cannot be reached now: try again later.")
CONGESTION = _f("line", "network_congestion", "The telephone network was congested: faxd tries again.")
NETWORK = _f("line", "network_failure", "The telephone network failed to place the call: faxd tries again; "
                                        "if it persists, ask your operator.")
NOT_ALLOWED = _f("line", "call_not_allowed", "Your line is not allowed to make this call (barred or not "
                                             "subscribed): ask your operator.", True)
PROTOCOL = _f("protocol", "network_protocol_error", "The telephone network reported a protocol error: try again; "
                                                    "if it persists, ask your operator.")

# Hangup causes by FreeSWITCH name (faxd's neutral name); the rest follow their Q.850 class.
CAUSES: dict[str, Failure] = {
    "USER_BUSY": BUSY,
    "NO_ANSWER": NO_ANSWER, "NO_USER_RESPONSE": NO_ANSWER, "SUBSCRIBER_ABSENT": UNREACHABLE,
    "UNALLOCATED_NUMBER": UNALLOCATED, "NUMBER_CHANGED": UNALLOCATED,
    "NO_ROUTE_TRANSIT_NET": _f("destination", "no_route", "No route leads to this number: check the number.", True),
    "NO_ROUTE_DESTINATION": _f("destination", "no_route", "No route leads to this number: check the number.", True),
    "INVALID_NUMBER_FORMAT": INVALID,
    "INCOMPATIBLE_DESTINATION": _f("destination", "not_a_fax_line", "The number cannot take this kind of call "
                                                                    "(not a fax line?): check the number.", True),
    "CALL_REJECTED": REJECTED, "FACILITY_REJECTED": REJECTED,
    "DESTINATION_OUT_OF_ORDER": _f("destination", "out_of_order", "The number is out of order: try again later."),
    "OUTGOING_CALL_BARRED": NOT_ALLOWED, "INCOMING_CALL_BARRED": NOT_ALLOWED,
    "BEARERCAPABILITY_NOTAUTH": NOT_ALLOWED, "FACILITY_NOT_SUBSCRIBED": NOT_ALLOWED,
    "NORMAL_CIRCUIT_CONGESTION": CONGESTION, "SWITCH_CONGESTION": CONGESTION,
    "NORMAL_TEMPORARY_FAILURE": NETWORK, "NETWORK_OUT_OF_ORDER": NETWORK,
    "RECOVERY_ON_TIMER_EXPIRE": _f("line", "call_timed_out", "The call could not be set up in time: faxd tries "
                                                             "again."),
    causes.SWITCH_LOST: _f("line", "switch_lost", "The connection to the telephone switch was lost during the "
                                                  "call: faxd tries again."),
    "INTERRUPTED": _f("internal", "interrupted", "The faxd node running this fax stopped: faxd tries again."),
    "ORIGINATOR_CANCEL": _f("canceled", "cancelled", "The fax was cancelled."),
    # FreeSWITCH's causes of its own (reported with Q.850 16)
    "BUSY_EVERYWHERE": BUSY, "NO_PICKUP": NO_ANSWER,
    "DECLINE": REJECTED, "UNWANTED": REJECTED, "REJECT_ALL": REJECTED,
    "DOES_NOT_EXIST_ANYWHERE": UNALLOCATED, "USER_NOT_REGISTERED": UNREACHABLE,
    # Not permanent: a refused T.38 offer ends this way, and the retry over audio may work.
    "NOT_ACCEPTABLE": _f("far_end", "incompatible", "The receiving end cannot take a fax call faxd can make: "
                                                    "check the number."),
    "GATEWAY_DOWN": _f("line", "gateway_unavailable", "The gateway to the telephone network is down: faxd tries "
                                                      "again; ask the operator of the fax server."),
    "INVALID_GATEWAY": _f("internal", "switch_configuration", "The switch's gateway or profile for this call "
                                                             "does not exist: ask the operator of the fax server."),
    "MEDIA_TIMEOUT": _f("line", "media_timeout", "The call's audio stopped: faxd tries again."),
}
for _name in ("INVALID_PROFILE", "INVALID_URL"):
    CAUSES[_name] = CAUSES["INVALID_GATEWAY"]
for _name in ("PROGRESS_TIMEOUT", "ALLOTTED_TIMEOUT"):
    CAUSES[_name] = CAUSES["RECOVERY_ON_TIMER_EXPIRE"]
for _name in ("SYSTEM_SHUTDOWN", "CRASH", "MANAGER_REQUEST"):
    CAUSES[_name] = _f("line", "switch_shutdown", "The telephone switch ended the call as it shut down or was "
                                                  "told to: faxd tries again.")
for _name in ("LOSE_RACE", "PICKED_OFF", "BLIND_TRANSFER", "ATTENDED_TRANSFER", "BOWOUT", "SUCCESS"):
    CAUSES[_name] = _f("line", "call_diverted", "The switch moved the call elsewhere before the fax: check the "
                                                "switch's dialplan for this number.")
for _name in ("NO_IDENTITY", "BAD_IDENTITY_INFO", "UNSUPPORTED_CERTIFICATE", "INVALID_IDENTITY", "STALE_DATE",
              "USER_CHALLENGE", "SRTP_READ_ERROR"):
    CAUSES[_name] = _f("protocol", "call_authentication_failed", "The network refused the call's identity, "
                                                                 "authentication or encryption: ask your operator.")
CANCELLED = CAUSES["ORIGINATOR_CANCEL"]
EXPIRED = _f("expired", "expired", "The fax was not sent before its expires_at: send it again with a later one.")
CONVERSION = _f("document", "conversion_failed", "The document could not be converted to a fax: fix or replace "
                                                 "it (the message says why).", True)
NO_RESULT = _f("internal", "no_result", "The call ended without a result from the switch: faxd tries again; "
                                        "report it if it repeats.")
TIMEOUT = _f("line", "stage_timeout", "The call made no progress for too long: faxd tries again.")


def for_cause(name: str) -> Failure:
    """A hangup cause's failure: its own row, else by its Q.850 class (ITU-T Q.850 §2.2.5)."""
    if name in CAUSES:
        return CAUSES[name]
    try:
        number = causes.q850(name)
    except (KeyError, ValueError):
        return NO_RESULT
    if number < 32:
        return UNREACHABLE if number != 16 else NO_RESULT
    if number < 64:
        return NETWORK
    return PROTOCOL


def classify(r: TxResult) -> Failure | None:
    """The failure of a final result (None when it succeeded)."""
    if r.success:
        return None
    text = r.error_message or ""
    if r.hangup_cause == "ORIGINATOR_CANCEL" or text.startswith("cancelled"):
        return CANCELLED
    if text.startswith("expired"):
        return EXPIRED
    if text.startswith("timeout:"):
        return TIMEOUT
    if r.result_code not in (None, 0):
        return T30.get(r.result_code, UNEXPECTED)
    if r.hangup_cause and r.hangup_cause not in ("NORMAL_CLEARING", "NORMAL_UNSPECIFIED"):
        return for_cause(r.hangup_cause)
    if r.result_code is None and not r.hangup_cause and text:
        return CONVERSION   # no call was made: the document was refused before dialling
    return NO_RESULT


def annotate(r: TxResult) -> TxResult:
    """Fill the result's error_class, error_code and error_advice (empty when it succeeded)."""
    failure = classify(r)
    r.error_class, r.error_code, r.error_advice = (failure.error_class, failure.error_code, failure.advice) \
        if failure else ("", "", "")
    return r


def t30_name_coverage() -> set[int]:
    """The completion codes the table leaves out (none: tested)."""
    return set(T30_TEXTS) - {0} - set(T30)


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def tables() -> str:
    """docs/errors.md's two tables, as the module decides (the document must match: tested)."""
    out = ["| T.30 code | spandsp's text | error_class | error_code | retried | error_advice |",
           "| --- | --- | --- | --- | --- | --- |"]
    for code in sorted(T30):
        f = T30[code]
        out.append(_row(code, T30_TEXTS[code], f.error_class, f.error_code, "no" if f.permanent else "yes", f.advice))
    out += ["", "| hangup cause | Q.850 | error_class | error_code | retried | error_advice |",
            "| --- | --- | --- | --- | --- | --- |"]
    names = sorted(set(causes.Q850) | set(causes.FREESWITCH_ONLY) | {causes.SWITCH_LOST, "INTERRUPTED"},
                   key=lambda n: (causes.Q850.get(n, 1000), n))
    for name in names:
        if name in ("NORMAL_CLEARING",):
            continue   # a normal end: the fax's own result says what happened
        f = for_cause(name)
        number = causes.Q850.get(name, "")
        out.append(_row(name, number, f.error_class, f.error_code, "no" if f.permanent else "yes", f.advice))
    return "\n".join(out) + "\n"

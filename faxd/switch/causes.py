"""Hangup causes: the one table every switch backend, emulator and policy reads.

faxd's neutral events (faxd.switch.events.Hangup) name a cause the way FreeSWITCH prints it
(``switch_channel.c``'s CAUSE_CHART: ``USER_BUSY``, ``NO_ANSWER``, ...) and carry its ITU-T
Q.850 number. The rows below are the Q.850 causes both switches know, each with FreeSWITCH's
name (``switch_types.h``, ``SWITCH_CAUSE_<name>``) and, where Asterisk has the number, the text
Asterisk puts in an AMI ``Hangup`` event's ``Cause-txt`` (``channel.c``'s ``causes[]``, which
``ast_cause2str`` reads). tests/unit/test_causes.py checks every row against those sources
(excerpts in tests/data/causes/).

FreeSWITCH also has causes of its own with no Q.850 number (``ORIGINATOR_CANCEL`` = 487,
``SYSTEM_SHUTDOWN`` = 701, ...). For those FreeSWITCH reports ``hangup_cause_q850`` 16
(``switch_channel_cause_q850``: anything above INTERWORKING (127) becomes NORMAL_CLEARING),
and so does faxd: the recordings show ``ORIGINATOR_CANCEL`` with ``hangup_cause_q850: 16``.
"""
from __future__ import annotations

# (Q.850 number, FreeSWITCH name or None, Asterisk's AST_CAUSE_ name or None, Asterisk's text or None)
_ROWS: tuple[tuple[int, str | None, str | None, str | None], ...] = (
    (1, "UNALLOCATED_NUMBER", "UNALLOCATED", "Unallocated (unassigned) number"),
    (2, "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_TRANSIT_NET", "No route to specified transmit network"),
    (3, "NO_ROUTE_DESTINATION", "NO_ROUTE_DESTINATION", "No route to destination"),
    (5, None, "MISDIALLED_TRUNK_PREFIX", "Misdialed trunk prefix"),
    (6, "CHANNEL_UNACCEPTABLE", "CHANNEL_UNACCEPTABLE", "Channel unacceptable"),
    (7, "CALL_AWARDED_DELIVERED", "CALL_AWARDED_DELIVERED",
     "Call awarded and being delivered in an established channel"),
    (8, None, "PRE_EMPTED", "Pre-empted"),
    (14, None, "NUMBER_PORTED_NOT_HERE", "Number ported elsewhere"),
    (16, "NORMAL_CLEARING", "NORMAL_CLEARING", "Normal Clearing"),
    (17, "USER_BUSY", "USER_BUSY", "User busy"),
    (18, "NO_USER_RESPONSE", "NO_USER_RESPONSE", "No user responding"),
    (19, "NO_ANSWER", "NO_ANSWER", "User alerting, no answer"),
    (20, "SUBSCRIBER_ABSENT", "SUBSCRIBER_ABSENT", "Subscriber absent"),
    (21, "CALL_REJECTED", "CALL_REJECTED", "Call Rejected"),
    (22, "NUMBER_CHANGED", "NUMBER_CHANGED", "Number changed"),
    (23, "REDIRECTION_TO_NEW_DESTINATION", "REDIRECTED_TO_NEW_DESTINATION", "Redirected to new destination"),
    (25, "EXCHANGE_ROUTING_ERROR", None, None),
    (26, None, "ANSWERED_ELSEWHERE", "Answered elsewhere"),
    (27, "DESTINATION_OUT_OF_ORDER", "DESTINATION_OUT_OF_ORDER", "Destination out of order"),
    (28, "INVALID_NUMBER_FORMAT", "INVALID_NUMBER_FORMAT", "Invalid number format"),
    (29, "FACILITY_REJECTED", "FACILITY_REJECTED", "Facility rejected"),
    (30, "RESPONSE_TO_STATUS_ENQUIRY", "RESPONSE_TO_STATUS_ENQUIRY", "Response to STATus ENQuiry"),
    (31, "NORMAL_UNSPECIFIED", "NORMAL_UNSPECIFIED", "Normal, unspecified"),
    (34, "NORMAL_CIRCUIT_CONGESTION", "NORMAL_CIRCUIT_CONGESTION", "Circuit/channel congestion"),
    (38, "NETWORK_OUT_OF_ORDER", "NETWORK_OUT_OF_ORDER", "Network out of order"),
    (41, "NORMAL_TEMPORARY_FAILURE", "NORMAL_TEMPORARY_FAILURE", "Temporary failure"),
    (42, "SWITCH_CONGESTION", "SWITCH_CONGESTION", "Switching equipment congestion"),
    (43, "ACCESS_INFO_DISCARDED", "ACCESS_INFO_DISCARDED", "Access information discarded"),
    (44, "REQUESTED_CHAN_UNAVAIL", "REQUESTED_CHAN_UNAVAIL", "Requested channel not available"),
    (45, "PRE_EMPTED", None, None),
    (50, "FACILITY_NOT_SUBSCRIBED", "FACILITY_NOT_SUBSCRIBED", "Facility not subscribed"),
    (52, "OUTGOING_CALL_BARRED", "OUTGOING_CALL_BARRED", "Outgoing call barred"),
    (54, "INCOMING_CALL_BARRED", "INCOMING_CALL_BARRED", "Incoming call barred"),
    (57, "BEARERCAPABILITY_NOTAUTH", "BEARERCAPABILITY_NOTAUTH", "Bearer capability not authorized"),
    (58, "BEARERCAPABILITY_NOTAVAIL", "BEARERCAPABILITY_NOTAVAIL", "Bearer capability not available"),
    (63, "SERVICE_UNAVAILABLE", None, None),
    (65, "BEARERCAPABILITY_NOTIMPL", "BEARERCAPABILITY_NOTIMPL", "Bearer capability not implemented"),
    (66, "CHAN_NOT_IMPLEMENTED", "CHAN_NOT_IMPLEMENTED", "Channel not implemented"),
    (69, "FACILITY_NOT_IMPLEMENTED", "FACILITY_NOT_IMPLEMENTED", "Facility not implemented"),
    (79, "SERVICE_NOT_IMPLEMENTED", None, None),
    (81, "INVALID_CALL_REFERENCE", "INVALID_CALL_REFERENCE", "Invalid call reference value"),
    (88, "INCOMPATIBLE_DESTINATION", "INCOMPATIBLE_DESTINATION", "Incompatible destination"),
    (95, "INVALID_MSG_UNSPECIFIED", "INVALID_MSG_UNSPECIFIED", "Invalid message unspecified"),
    (96, "MANDATORY_IE_MISSING", "MANDATORY_IE_MISSING", "Mandatory information element is missing"),
    (97, "MESSAGE_TYPE_NONEXIST", "MESSAGE_TYPE_NONEXIST", "Message type nonexist."),
    (98, "WRONG_MESSAGE", "WRONG_MESSAGE", "Wrong message"),
    (99, "IE_NONEXIST", "IE_NONEXIST", "Info. element nonexist or not implemented"),
    (100, "INVALID_IE_CONTENTS", "INVALID_IE_CONTENTS", "Invalid information element contents"),
    (101, "WRONG_CALL_STATE", "WRONG_CALL_STATE", "Message not compatible with call state"),
    (102, "RECOVERY_ON_TIMER_EXPIRE", "RECOVERY_ON_TIMER_EXPIRE", "Recover on timer expiry"),
    (103, "MANDATORY_IE_LENGTH_ERROR", "MANDATORY_IE_LENGTH_ERROR", "Mandatory IE length error"),
    (111, "PROTOCOL_ERROR", "PROTOCOL_ERROR", "Protocol error, unspecified"),
    (127, "INTERWORKING", "INTERWORKING", "Interworking, unspecified"),
)

# FreeSWITCH cause name -> Q.850 number.
Q850: dict[str, int] = {name: number for number, name, _, _ in _ROWS if name}
# Q.850 number -> FreeSWITCH cause name.
NAMES: dict[int, str] = {number: name for name, number in Q850.items()}
# Q.850 number -> the Cause-txt of Asterisk's AMI Hangup event.
ASTERISK_TEXTS: dict[int, str] = {number: text for number, _, _, text in _ROWS if text}

# FreeSWITCH's causes without a Q.850 number, with their switch_call_cause_t values.
FREESWITCH_ONLY: dict[str, int] = {
    "SUCCESS": 142, "ORIGINATOR_CANCEL": 487, "CRASH": 700, "SYSTEM_SHUTDOWN": 701, "LOSE_RACE": 702,
    "MANAGER_REQUEST": 703, "BLIND_TRANSFER": 800, "ATTENDED_TRANSFER": 801, "ALLOTTED_TIMEOUT": 802,
    "USER_CHALLENGE": 803, "MEDIA_TIMEOUT": 804, "PICKED_OFF": 805, "USER_NOT_REGISTERED": 806,
    "PROGRESS_TIMEOUT": 807, "INVALID_GATEWAY": 808, "GATEWAY_DOWN": 809, "INVALID_URL": 810,
    "INVALID_PROFILE": 811, "NO_PICKUP": 812, "SRTP_READ_ERROR": 813, "BOWOUT": 814,
    "BUSY_EVERYWHERE": 815, "DECLINE": 816, "DOES_NOT_EXIST_ANYWHERE": 817, "NOT_ACCEPTABLE": 818,
    "UNWANTED": 819, "NO_IDENTITY": 820, "BAD_IDENTITY_INFO": 821, "UNSUPPORTED_CERTIFICATE": 822,
    "INVALID_IDENTITY": 823, "STALE_DATE": 824, "REJECT_ALL": 825,
}

# faxd's own cause: the connection to the switch was lost and the call could not be found again.
SWITCH_LOST = "SWITCH_LOST"

# When faxd asks a switch that takes only a Q.850 number (Asterisk's Hangup action) to end a
# call for one of FreeSWITCH's own reasons, the number it sends: a shutdown is a temporary
# failure (the caller may try again), a timer of faxd's ran out; the others are 16.
_NEAREST_Q850 = {"SYSTEM_SHUTDOWN": 41, "ALLOTTED_TIMEOUT": 102, "PROGRESS_TIMEOUT": 102,
                 "MEDIA_TIMEOUT": 102}

def q850(name: str) -> int:
    """The Q.850 number FreeSWITCH reports for a cause name (``hangup_cause_q850``): the cause's
    own number, 16 for FreeSWITCH's own causes, 0 for a name no switch knows (SWITCH_LOST)."""
    if name in Q850:
        return Q850[name]
    return 16 if name in FREESWITCH_ONLY else 0


def name(number: int) -> str:
    """A Q.850 number (Asterisk's ``Cause``) -> the FreeSWITCH name; unknown numbers are a
    generic failure (NORMAL_UNSPECIFIED)."""
    return NAMES.get(number, "NORMAL_UNSPECIFIED")


def asterisk_text(number: int) -> str:
    """What Asterisk writes after a cause number (``Cause-txt``); ``Unknown`` as ast_cause2str."""
    return ASTERISK_TEXTS.get(number, "Unknown")


def to_send(name: str) -> int:
    """The Q.850 number to hang a call up with on a switch that takes numbers only (16 if unknown)."""
    return _NEAREST_Q850.get(name) or Q850.get(name) or 16

"""Switch events -> tx_result, in one place (spec §2's table). Pure."""
from __future__ import annotations

from faxd import failures
from faxd.models import TxResult
from faxd.switch.events import FaxResult, Hangup

# What a person reads for the usual hangup causes when the call never reached T.30.
_CAUSE_TEXT = {
    "USER_BUSY": "the line was busy",
    "NO_ANSWER": "no answer",
    "NO_USER_RESPONSE": "no answer",
    "CALL_REJECTED": "the call was rejected",
    "UNALLOCATED_NUMBER": "the number does not exist",
    "INVALID_NUMBER_FORMAT": "the number is not valid",
    "NO_ROUTE_DESTINATION": "no route to the number",
    "NORMAL_TEMPORARY_FAILURE": "temporary network failure",
    "NETWORK_OUT_OF_ORDER": "network out of order",
    "RECOVERY_ON_TIMER_EXPIRE": "the call timed out",
    "ORIGINATOR_CANCEL": "cancelled",
    "SWITCH_LOST": "the connection to the switch was lost",
    "INTERRUPTED": "interrupted: the node running this fax stopped",
}


def cause_text(cause: str) -> str:
    return f"{cause}: {_CAUSE_TEXT[cause]}" if cause in _CAUSE_TEXT else cause


def build_tx_result(*, fax: FaxResult | None, hangup: Hangup | None, elapsed: int, pages_total: int = 0,
                    error: str | None = None) -> TxResult:
    """``error`` (a timeout, a cancel) wins over the switch's words for ``error_message``."""
    r = TxResult(time_elapsed=max(0, int(elapsed)), pages_total=pages_total)
    if fax is not None:
        r.success = fax.success and error is None
        r.pages_sent = fax.pages
        r.pages_total = fax.pages_total or pages_total
        r.fax_speed = fax.bit_rate
        r.fax_bad_rows = fax.bad_rows
        r.fax_error_correction = fax.ecm
        r.fax_receiver_id = fax.remote_station_id
        r.result_code = fax.result_code
        r.result_text = fax.result_text
        r.t38_used = fax.t38
    if hangup is not None:
        r.hangup_cause = hangup.cause
    if r.success:
        r.error_message = ""
    elif error:
        r.error_message = error
    elif fax is not None and fax.result_code not in (None, 0):
        r.error_message = fax.result_text
    elif hangup is not None:
        r.error_message = cause_text(hangup.cause)
    else:
        r.error_message = "the call ended without a result"
    return failures.annotate(r)

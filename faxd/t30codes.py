"""spandsp's T.30 phase E completion codes: the ``result_code`` of every FaxResult, whichever
switch ran the fax (FreeSWITCH's mod_spandsp and Asterisk's res_fax_spandsp report spandsp's
own codes or texts; the software switch runs spandsp itself).

``TEXTS`` are spandsp's words for each code (``t30_completion_code_to_str``);
tests/unit/test_t30codes.py checks them against the linked library.
"""
from __future__ import annotations

# t30_completion_code_to_str, code by code.
TEXTS: dict[int, str] = {
    0: "OK", 1: "The CED tone exceeded 5s", 2: "Timed out waiting for initial communication",
    3: "Timed out waiting for the first message", 4: "Timed out waiting for procedural interrupt",
    5: "The HDLC carrier did not stop in a timely manner",
    6: "Failed to train with any of the compatible modems", 7: "Operator intervention failed",
    8: "Far end is not compatible", 9: "Far end is not able to receive",
    10: "Far end is not able to transmit", 11: "Far end cannot receive at the resolution of the image",
    12: "Far end cannot receive at the size of image", 13: "Unexpected message received",
    14: "Received bad response to DCS or training", 15: "Received a DCN from remote after sending a page",
    16: "Invalid ECM response received from receiver", 17: "Received a DCN while waiting for a DIS",
    18: "Invalid response after sending a page", 19: "Received other than DIS while waiting for DIS",
    20: "Received no response to DCS or TCF", 21: "No response after sending a page",
    22: "Timed out waiting for receiver ready (ECM mode)",
    23: "Invalid ECM response received from transmitter", 24: "DCS received while waiting for DTC",
    25: "Unexpected command after page received", 26: "Carrier lost during fax receive",
    27: "Timed out while waiting for EOL (end Of line)", 28: "Timed out while waiting for first line",
    29: "Timer T2 expired while waiting for DCN", 30: "Timer T2 expired while waiting for phase D",
    31: "Timer T2 expired while waiting for fax page", 32: "Timer T2 expired while waiting for next fax page",
    33: "Timer T2 expired while waiting for RR command",
    34: "Timer T2 expired while waiting for NSS, DCS or MCF",
    35: "Unexpected DCN while waiting for DCS or DIS", 36: "Unexpected DCN while waiting for image data",
    37: "Unexpected DCN while waiting for EOM, EOP or MPS", 38: "Unexpected DCN after EOM or MPS sequence",
    39: "Unexpected DCN after RR/RNR sequence", 40: "Unexpected DCN after requested retransmission",
    41: "TIFF/F file cannot be opened", 42: "TIFF/F page not found", 43: "TIFF/F format is not compatible",
    44: "TIFF/F page number tag missing", 45: "Incorrect values for TIFF/F tags",
    46: "Bad TIFF/F header - incorrect values in fields", 47: "Cannot allocate memory for more pages",
    48: "Disconnected after permitted retries", 49: "The call dropped prematurely",
    50: "Poll not accepted", 51: "Ident not accepted", 52: "Sub-address not accepted",
    53: "Selective polling address not accepted", 54: "Polled sub-address not accepted",
    55: "Sender identification not accepted", 56: "Password not accepted",
    57: "Transmitting subscriber internet address not accepted",
    58: "Internet routing address not accepted", 59: "Calling subscriber internet address not accepted",
    60: "Internet selective polling address not accepted", 61: "Called subscriber internet address not accepted",
}
# Text -> code (Asterisk reports the text, not the number).
CODES: dict[str, int] = {text: code for code, text in TEXTS.items()}

# The codes faxd refers to by name (t30.h: T30_ERR_<name>).
OK = 0
T0_EXPIRED = 2
INCOMPATIBLE = 8
FILEERROR = 41
NOMEM = 47
CALLDROPPED = 49

# Nobody speaks T.30: the CED tone too long, T0 or T1 expired.
NOT_A_FAX = frozenset({1, 2, 3})
# This document cannot be sent: a resolution or size the far end cannot take, TIFF/F problems.
DOCUMENT = frozenset({11, 12, 41, 42, 43, 44, 45, 46, 47})

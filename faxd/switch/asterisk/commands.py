"""Pure builders of AMI actions: (action name, [(header, value), ...]).

Nothing here talks to a socket, so every action faxd sends to Asterisk is easy to test.
"""
from __future__ import annotations

from faxd.switch import causes
from faxd.switch.base import FaxOptions, OriginateRequest, highest_speed

Headers = list[tuple[str, str]]

# The dialplan context of dialplan/asterisk/extensions_faxd.conf that the backend steers
# inbound calls into (answer / receive).
CONTROL_CONTEXT = "faxd-control"
INBOUND_CONTEXT = "faxd-inbound"
INCOMING_USEREVENT = "FaxdIncoming"

# A neutral cause name -> the Q.850 number for Asterisk's Hangup action (16 if unknown).
cause_number = causes.to_send


def app_arg(value: str) -> str:
    """Escape a value for an AMI ``Variable:`` header or an application argument.

    Asterisk splits ``Variable:`` on commas (several ``name=value`` per header) and removes
    backslashes and quotes in that split, so ``\\``, ``,`` and ``"`` are backslash-escaped.
    Line breaks cannot cross AMI at all and become spaces.
    """
    value = value.replace("\r", " ").replace("\n", " ")
    out = []
    for ch in value:
        if ch in "\\,\"":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def unescape_app_arg(value: str) -> str:
    """The inverse of :func:`app_arg` (what Asterisk's argument splitter does)."""
    out = []
    it = iter(value)
    for ch in it:
        if ch == "\\":
            out.append(next(it, ""))
        else:
            out.append(ch)
    return "".join(out)


def dial_string(template: str, number: str) -> str:
    """``FAXD_ASTERISK_DIAL`` with ``{number}`` filled in (a leading + is kept: trunks differ)."""
    if any(c in number for c in "/@&,|\r\n "):
        raise ValueError(f"number {number!r} cannot go into a dial string")
    return template.replace("{number}", number)


def sendfax_options(options: FaxOptions) -> str:
    """SendFAX options: ``d`` (debug detail in the log), ``z`` to ask for T.38, ``F`` to forbid it."""
    opts = "d"
    if options.t38 == "request":
        opts += "z"
    elif options.t38 == "off":
        opts += "F"
    return opts


def receivefax_options(options: FaxOptions) -> str:
    """ReceiveFAX asks for T.38 itself on a T.38 capable channel; ``F`` keeps it on audio."""
    return "dF" if options.t38 == "off" else "d"


def faxopt_variables(options: FaxOptions, sending: bool) -> Headers:
    """FAXOPT settings for one side of a fax, as (name, value)."""
    out: Headers = [("FAXOPT(ecm)", "yes" if options.ecm else "no")]
    if options.station_id:
        out.append(("FAXOPT(localstationid)", options.station_id[:20]))
    if sending and options.header:
        out.append(("FAXOPT(headerinfo)", options.header))
    speed = highest_speed(options)
    if speed < 14400:
        out.append(("FAXOPT(maxrate)", str(speed)))
    return out


def caller_id(name: str, number: str) -> str:
    name = name.replace('"', "").replace("\r", " ").replace("\n", " ")
    number = number.replace("<", "").replace(">", "").replace("\r", "").replace("\n", "")
    return f'"{name}" <{number}>' if name else f"<{number}>"


def originate(request: OriginateRequest, dial_template: str) -> Headers:
    """Originate (Async) of the dial string into ``SendFAX(<spool file>,d[z|F])``.

    ``ChannelId`` makes faxd's call id the channel's Uniqueid, so every event of the call
    (and CoreShowChannels after a reconnect or a restart) names it.
    """
    if request.dial_string:
        dial_template = request.dial_string
    elif request.gateway:
        dial_template = f"PJSIP/{{number}}@{request.gateway}"
    headers: Headers = [
        ("Channel", dial_string(dial_template, request.to_number)),
        ("Application", "SendFAX"),
        ("Data", f"{request.tiff_path},{sendfax_options(request.options)}"),
    ]
    for name, value in faxopt_variables(request.options, sending=True):
        headers.append(("Variable", f"{name}={app_arg(value)}"))
    headers += [
        ("CallerID", caller_id(request.from_name, request.from_number)),
        ("Timeout", str(int(request.ring_timeout * 1000))),
        ("ChannelId", request.call_id),
        ("Async", "true"),
    ]
    return headers


def hangup(channel: str, cause: str = "NORMAL_CLEARING") -> Headers:
    return [("Channel", channel), ("Cause", str(cause_number(cause)))]


def getvar(channel: str, variable: str) -> Headers:
    return [("Channel", channel), ("Variable", variable)]


def setvar(channel: str, variable: str, value: str) -> Headers:
    return [("Channel", channel), ("Variable", variable), ("Value", value.replace("\r", " ").replace("\n", " "))]


def redirect(channel: str, exten: str, context: str = CONTROL_CONTEXT, priority: int = 1) -> Headers:
    return [("Channel", channel), ("Context", context), ("Exten", exten), ("Priority", str(priority))]


def receive_setup(channel: str, tiff_path: str, options: FaxOptions) -> list[Headers]:
    """The Setvar actions that prepare ``faxd-control,receive`` for one inbound call."""
    out = [setvar(channel, name, value) for name, value in faxopt_variables(options, sending=False)]
    out.append(setvar(channel, "FAXD_RXFILE", tiff_path))
    out.append(setvar(channel, "FAXD_RXOPTS", receivefax_options(options)))
    return out


# Variables read back with Getvar when re-attaching to a call after a reconnect.
RESULT_VARIABLES = ("FAXSTATUS", "FAXERROR", "FAXSTATUSSTRING", "FAXPAGES", "FAXBITRATE",
                    "FAXRESOLUTION", "FAXMODE", "REMOTESTATIONID", "LOCALSTATIONID")

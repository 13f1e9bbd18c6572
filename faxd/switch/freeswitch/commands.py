"""Pure builders for the Event Socket commands faxd sends. No I/O here."""
from __future__ import annotations

from faxd.switch.base import FaxOptions, OriginateRequest, highest_speed
from faxd.switch.freeswitch.esl import url_encode

# Channel events that tell a fax call's story, plus the bgapi results.
CHANNEL_EVENTS = (
    "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB",
)
TX_SUBCLASSES = ("spandsp::txfaxnegociateresult", "spandsp::txfaxpageresult", "spandsp::txfaxresult")
RX_SUBCLASSES = ("spandsp::rxfaxnegociateresult", "spandsp::rxfaxpageresult", "spandsp::rxfaxresult")
FAX_SUBCLASSES = TX_SUBCLASSES + RX_SUBCLASSES


def auth(password: str) -> str:
    return f"auth {password}"


def subscribe(events: tuple[str, ...] = CHANNEL_EVENTS, subclasses: tuple[str, ...] = FAX_SUBCLASSES,
              fmt: str = "plain") -> str:
    """``event plain A B CUSTOM sub1 sub2``: after CUSTOM every word is a subclass."""
    words = ["event", fmt, *events]
    if subclasses:
        words += ["CUSTOM", *subclasses]
    return " ".join(words)


def _quote(value: str) -> str:
    """A value inside ``{...}``: commas escaped, single-quoted when it has spaces."""
    value = value.replace("'", "").replace("\n", " ").replace("{", "(").replace("}", ")")
    value = value.replace(",", "\\,")
    if " " in value:
        return f"'{value}'"
    return value


def fax_variables(options: FaxOptions, sending: bool) -> dict[str, str]:
    """mod_spandsp channel variables for one side of a fax (telephony reference 3.2)."""
    v: dict[str, str] = {}
    if options.station_id:
        # fax_ident / fax_header are %-decoded by mod_spandsp: encoding avoids all quoting.
        v["fax_ident"] = url_encode(options.station_id[:20])
    if sending and options.header:
        v["fax_header"] = url_encode(options.header)
    v["fax_use_ecm"] = "true" if options.ecm else "false"
    # mod_spandsp turns V.17 off or not: 9600 and 4800 both end at V.29 (it has no V.27ter only)
    v["fax_disable_v17"] = "false" if highest_speed(options) >= 14400 else "true"
    t38 = options.t38
    v["fax_enable_t38"] = "false" if t38 == "off" else "true"
    v["fax_enable_t38_request"] = "true" if t38 == "request" else "false"
    return v


def channel_variables(variables: dict[str, str]) -> str:
    return "{" + ",".join(f"{k}={_quote(str(val))}" for k, val in variables.items()) + "}"


def dial_target(dial_string: str, number: str) -> str:
    """``sofia/gateway/default/{number}``: {number} as given (E.164), {digits} without '+'."""
    digits = "".join(c for c in number if c.isdigit())
    return dial_string.replace("{number}", number).replace("{digits}", digits)


def http_get(url: str) -> str:
    """txfax's argument for a TIFF FreeSWITCH fetches over HTTP: mod_http_cache's ``http_get``
    API returns the path of a local cached copy, which is what txfax (libtiff) can open."""
    if any(c in url for c in " \n()'{}"):
        raise ValueError(f"spool URL {url!r} must not contain spaces, quotes, braces or parentheses")
    return "${http_get(" + url + ")}"


def http_put(url: str, path: str) -> str:
    """The API line by which FreeSWITCH uploads a local file (a received fax) to ``url``:
    mod_http_cache's ``http_put``, answered ``+OK <http status>`` or ``-ERR <http status>``
    (its arguments are split on spaces, so neither may contain one)."""
    if any(c.isspace() for c in url + path) or url.startswith("{"):
        raise ValueError(f"http_put arguments {url!r} {path!r} must not contain spaces")
    return f"http_put {url} {path}"


def originate(request: OriginateRequest, dial_string: str, tiff_path: str | None = None,
              url: str | None = None) -> str:
    """The API line (without ``bgapi``) that dials and runs ``txfax`` on answer.

    ``url``: FreeSWITCH cannot see the spool directory and fetches the TIFF from there instead.
    """
    if url is not None:
        path = http_get(url)
    else:
        path = tiff_path or request.tiff_path
        if any(c in path for c in " \n)"):
            raise ValueError(f"spool path {path!r} must not contain spaces or ')'")
    variables = {
        "origination_uuid": request.call_id,
        "ignore_early_media": "true",
        "originate_timeout": str(max(1, int(round(request.ring_timeout)))),
        "faxd_job_id": request.job_id,
    }
    number = "".join(c for c in request.from_number if c.isdigit() or c == "+")
    if number:
        variables["origination_caller_id_number"] = number
    if request.from_name:
        variables["origination_caller_id_name"] = request.from_name
    variables.update(fax_variables(request.options, sending=True))
    variables = {k: v for k, v in variables.items() if v != ""}
    if request.dial_string:
        dial_string = request.dial_string
    elif request.gateway:
        dial_string = f"sofia/gateway/{request.gateway}/{{number}}"
    return f"originate {channel_variables(variables)}{dial_target(dial_string, request.to_number)} &txfax({path})"


def uuid_kill(call_id: str, cause: str = "NORMAL_CLEARING") -> str:
    return f"uuid_kill {call_id} {cause}"


def uuid_exists(call_id: str) -> str:
    return f"uuid_exists {call_id}"


def sendmsg_execute(app: str, arg: str = "", event_uuid: str = "",
                    uuid: str = "") -> tuple[str, dict[str, str]]:
    """``sendmsg`` that runs one dialplan application on the channel, strictly in order."""
    headers = {"call-command": "execute", "execute-app-name": app}
    if arg:
        headers["execute-app-arg"] = arg
    headers["event-lock"] = "true"
    if event_uuid:
        headers["Event-UUID"] = event_uuid
    return (f"sendmsg {uuid}".rstrip(), headers)


def sendmsg_hangup(cause: str = "NORMAL_CLEARING", uuid: str = "") -> tuple[str, dict[str, str]]:
    return (f"sendmsg {uuid}".rstrip(), {"call-command": "hangup", "hangup-cause": cause})


def receive_variables(options: FaxOptions) -> dict[str, str]:
    """Variables to ``set`` before ``rxfax`` on an inbound call."""
    return fax_variables(options, sending=False)

"""An Asterisk 22 that speaks AMI exactly as the recordings show, with real T.30 behind SendFAX.

``AMIEmulator`` listens on 127.0.0.1, accepts Login/Events/Originate/Getvar/Setvar/Hangup/
Redirect/CoreShowChannels/Ping/Logoff, and plays the dialplan of the recorded Asterisk
(context ``fax`` of ``acceptance/astconf.py``) plus faxd's own ``faxd-inbound`` /
``faxd-control`` contexts (dialplan/asterisk/extensions_faxd.conf):

=================  ==========================================================
far-end exten      behaviour (as recorded)
=================  ==========================================================
``rx<digits>``     answers, ``ReceiveFAX`` with station id ``RX-<digits>``
``hangupearly``    answers, hangs up 4 s later
``nofax``          answers, silence (T.30 times out after 60 s of line time)
``busy``           (not recorded) SIP 486 / ``Reason: 5``
anything else      no such extension (Local) / SIP 404 (PJSIP)
=================  ==========================================================

Not recorded, for faxd's tests: ``far_ends[number] = FarEnd("noanswer")`` (a trunk rings
until the Originate's Timeout: ``Reason: 3``) and ``FarEnd("t38_refuse")``.

Dial strings: ``Local/<exten>@<context>`` makes a Local pair (``;1`` runs the Originate's
application); ``PJSIP/<exten>@to-b`` loops back into this "Asterisk" through the recorded
endpoints ``to-b``/``from-a``; any other ``PJSIP/<number>@<endpoint>`` is a trunk whose far
end (a fax machine emulated with spandsp) is not an Asterisk channel.

On-net calls (not recorded; from Asterisk's source, see tests/data/asterisk/README.md): a
Local pair into ``faxd-inbound`` or into a context of ``goto_contexts`` (whose extensions
``Goto(faxd-inbound,${EXTEN},1)``) runs faxd-inbound on ``;2``, which keeps the outbound
call's Linkedid; faxd's ReceiveFAX there and the Originate's SendFAX on ``;1`` run one T.30
session, audio only (a Local half has no T.38 without a bridged T.38 peer). With
``endpoint_contexts["from-a"] = "faxd-inbound"`` the SIP loop ``to-b`` -> ``from-a`` (dialled
directly, or by a ``dial_contexts`` site context) ends in faxd-inbound on a PJSIP channel
with its own Linkedid, and T.38 passes.

``SendFAX``/``ReceiveFAX`` run real T.30 sessions with faxd's spandsp bindings (audio on
Local and audio PJSIP calls, T.38 when the far end and the options say so), unpaced, and the
events and ``VarSet`` passes that res_fax emits come in the recorded order with the values of
the real session. Failure injection: the far-end table above, ``far_ends[number] = FarEnd(...)``,
``reject_logins``, ``drop_connections()``, and ``fax_gate`` (an Event the T.30 sessions wait
for, to hold a fax "on the line" while a test drops the AMI connection).
"""
from __future__ import annotations

import itertools
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import gevent.server

from faxd.switch.asterisk.ami import FrameParser, Message, ProtocolError, encode_message
from faxd.switch.asterisk.commands import unescape_app_arg

logger = logging.getLogger(__name__)

BANNER = "Asterisk Call Manager/11.0.0"
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
CAUSE_TXT = {0: "Unknown", 1: "Unallocated (unassigned) number", 3: "No route to destination",
             16: "Normal Clearing", 17: "User busy", 18: "No user responding",
             19: "User alerting, no answer", 21: "Call Rejected", 31: "Normal, unspecified",
             34: "Circuit/channel congestion", 41: "Temporary failure", 88: "Incompatible destination"}
QOS = [
    ("RTPAUDIOQOS", "ssrc=1234104052;themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;"
                    "txcount=0;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"),
    ("RTPAUDIOQOSJITTER", "minrxjitter=000.000000;maxrxjitter=000.000000;avgrxjitter=000.000000;"
                          "stdevrxjitter=000.000000;mintxjitter=000.000000;maxtxjitter=000.000000;"
                          "avgtxjitter=000.000000;stdevtxjitter=000.000000;"),
    ("RTPAUDIOQOSLOSS", "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  "
                        "stdevrxlost=000.000000;  mintxlost=000.000000;  maxtxlost=000.000000;  "
                        "avgtxlost=000.000000;  stdevtxlost=000.000000;"),
    ("RTPAUDIOQOSRTT", "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;     "
                       "stdevrtt=000.000000;"),
    ("RTPAUDIOQOSMES", "   minrxmes=000.000000;   maxrxmes=000.000000;   avgrxmes=000.000000;   "
                       "stdevrxmes=000.000000;   mintxmes=000.000000;   maxtxmes=000.000000;   "
                       "avgtxmes=000.000000;   stdevtxmes=000.000000;"),
]


@dataclass
class FarEnd:
    """What answers a number.

    kind: ``fax`` (receives), ``hangup`` (answers, hangs up ``after`` s later), ``silent``,
    ``busy``, ``none`` (no such extension / SIP 404), ``t38_refuse`` (answers, refuses T.38),
    ``noanswer`` (a trunk rings until the Originate's Timeout).
    """
    kind: str = "fax"
    station_id: str = ""
    t38: bool = True              # accepts / asks for T.38 (PJSIP only)
    ecm: bool = True
    after: float = 4.0
    hangup_after_pages: int = 0   # fax: drop the line during the page after this many


@dataclass
class FaxRun:
    """The outcome of one emulated res_fax session, as res_fax reports it."""
    status: str
    error: str
    status_string: str
    remote_station_id: str
    local_station_id: str
    bit_rate: int
    resolution: str
    pages: int
    mode: str


class Channel:
    def __init__(self, emu: "AMIEmulator", name: str, uniqueid: str, linkedid: str, state: int,
                 context: str, exten: str, priority: int = 1):
        self.emu = emu
        self.name = name
        self.uniqueid = uniqueid
        self.linkedid = linkedid
        self.state = state
        self.cid = ("<unknown>", "<unknown>")
        self.connected = ("<unknown>", "<unknown>")
        self.context, self.exten, self.priority = context, exten, priority
        self.vars: dict[str, str] = {}
        self.faxopt: dict[str, str] = {}
        self.fax_details: dict[str, str] = {}
        self.gone = False
        self.hangup_cause: int | None = None      # set by an AMI Hangup
        self.wakeup = gevent.event.Event()        # Redirect / Hangup interrupt Wait()
        self.redirect: tuple[str, str, int] | None = None
        self.application = ""
        self.app_data = ""
        self.created = time.monotonic()
        self.dsp_control = None
        self._idle = False
        self.ended = gevent.event.Event()         # set by the channel's Hangup event
        self.final_cause = 0

    def block(self, prefix: str = "") -> list[tuple[str, str]]:
        p = prefix
        return [(p + "Channel", self.name), (p + "ChannelState", str(self.state)),
                (p + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
                (p + "CallerIDNum", self.cid[0]), (p + "CallerIDName", self.cid[1]),
                (p + "ConnectedLineNum", self.connected[0]), (p + "ConnectedLineName", self.connected[1]),
                (p + "Language", "en"), (p + "AccountCode", ""),
                (p + "Context", self.context), (p + "Exten", self.exten), (p + "Priority", str(self.priority)),
                (p + "Uniqueid", self.uniqueid), (p + "Linkedid", self.linkedid)]

    # -- events about this channel

    def event(self, name: str, privilege: str, *extra: tuple[str, str]) -> None:
        self.emu.broadcast([("Event", name), ("Privilege", privilege), *self.block(), *extra])

    def newexten(self, app: str, data: str = "", priority: int | None = None) -> None:
        if priority is not None:
            self.priority = priority
        self.application, self.app_data = app, data
        self.event("Newexten", "dialplan,all", ("Extension", self.exten), ("Application", app), ("AppData", data))

    def setvar(self, name: str, value: str) -> None:
        self.vars[name.lstrip("_")] = value
        self.event("VarSet", "dialplan,all", ("Variable", name), ("Value", value))

    def newstate(self, state: int) -> None:
        self.state = state
        self.event("Newstate", "call,all")

    def hangup(self, cause: int, tech_cause: str = "") -> None:
        if self.gone:
            return
        self.gone = True
        self.final_cause = cause
        extra = [("Cause", str(cause)), ("Cause-txt", CAUSE_TXT.get(cause, "Unknown"))]
        if tech_cause:
            extra.append(("TechCause", tech_cause))
        self.event("Hangup", "call,all", *extra)
        self.emu._forget(self)
        self.ended.set()

    @property
    def hung_up_by_manager(self) -> bool:
        return self.hangup_cause is not None


class _Session:
    def __init__(self, emu: "AMIEmulator", sock: socket.socket, addr):
        self.emu = emu
        self.sock = sock
        self.addr = addr
        self.user = ""
        self.logged_in = False
        self.events_on = True
        self.lock = gevent.lock.Semaphore()
        self.sent = bytearray()
        self.received = bytearray()
        self.closed = False

    def send(self, headers) -> None:
        data = encode_message(headers)
        self.send_raw(data)

    def send_raw(self, data: bytes) -> None:
        if self.closed:
            return
        with self.lock:
            self.sent += data
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class AMIEmulator:
    """See the module docstring. ``start()``, ``url``, ``stop()``."""

    def __init__(self, users: dict[str, str] | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 rx_dir: str | None = None, caller_tiff: str | None = None,
                 loop_endpoints: dict[str, str] | None = None, inbound_context: str = "from-pstn",
                 decision_timeout: float = 20.0, uptime: int = 85, wait_scale: float = 1.0):
        self.users = dict(users or {"faxd": "faxd"})
        self.host, self.port = host, port
        self.rx_dir = rx_dir
        self.caller_tiff = caller_tiff
        self.loop_endpoints = dict(loop_endpoints or {"to-b": "from-a"})
        self.inbound_context = inbound_context
        self.decision_timeout = decision_timeout
        self.uptime = uptime
        self.wait_scale = wait_scale          # dialplan Wait(n) lasts n * wait_scale seconds
        # Seconds between a Redirect and the channel's PBX thread acting on it (Asterisk: the
        # async goto's soft-hangup flag until the dialplan moves on). Wider than Asterisk's
        # usual gap, so that a second Redirect sent right after the first always meets it.
        self.redirect_pickup = 0.05
        self.far_ends: dict[str, FarEnd] = {}
        # Site contexts whose extensions Dial() a trunk: {"faxd-out": "PJSIP/{exten}@trunk"}.
        self.dial_contexts: dict[str, str] = {}
        # Site contexts whose extensions Goto(faxd-inbound,${EXTEN},1): a Local channel into one
        # of them (or into faxd-inbound itself) loops a fax back into faxd (an on-net call).
        self.goto_contexts: set[str] = set()
        # The context each loop endpoint delivers its calls to ("fax": the recorded dialplan;
        # faxd-inbound or a goto context: back into faxd).
        self.endpoint_contexts: dict[str, str] = {"from-a": "fax"}
        self.reject_logins = False
        self.fax_gate = gevent.event.Event()
        self.fax_gate.set()
        # step_pages: T.30 stops after each page until release_page() (live progress tests).
        self.step_pages = False
        self._page_lock = _real_lock()
        self._page_lock.acquire()
        self._running: dict[str, tuple[Channel, str, list]] = {}   # res_fax session id -> channel, op, files
        self._live: dict[str, object] = {}                         # session id -> T30Stats so far
        self.faxes_in_progress = 0
        self.fax_started = gevent.event.Event()
        self.sessions: list[_Session] = []
        self.channels: dict[str, Channel] = {}
        self.all_channels: list[Channel] = []
        self.actions: list[Message] = []
        self._server: gevent.server.StreamServer | None = None
        self._group = gevent.pool.Group()
        self._uid = itertools.count()
        self._epoch = int(time.time())
        self._chan_counters: dict[str, itertools.count] = {}
        self._session_ids = itertools.count(1)
        self._fax_sessions = itertools.count(1)

    # -- lifecycle

    def start(self) -> "AMIEmulator":
        self._server = gevent.server.StreamServer((self.host, self.port), self._handle)
        self._server.start()
        self.port = self._server.server_port
        return self

    def stop(self) -> None:
        if self.step_pages:
            # A DSP thread may be held after a page: let it finish.
            self.step_pages = False
            try:
                self._page_lock.release()
            except RuntimeError:
                pass
        self.fax_gate.set()
        if self._server is not None:
            self._server.stop(timeout=1)
        for s in list(self.sessions):
            s.close()
        self._group.kill(timeout=2)

    def url(self, user: str = "faxd", secret: str | None = None) -> str:
        return f"ami://{user}:{self.users.get(user, '') if secret is None else secret}@{self.host}:{self.port}"

    def drop_connections(self) -> None:
        """Failure injection: every AMI connection is cut (Asterisk keeps running the calls)."""
        for s in list(self.sessions):
            s.close()

    def crash(self) -> None:
        """Failure injection: the Asterisk process dies. Nothing listens, every AMI connection
        is cut, and every channel vanishes without a Hangup event (no process is left to send
        one); the T.30 sessions stop where they are. ``restart()`` brings up a new one."""
        for ch in list(self.channels.values()):
            if ch.dsp_control is not None:
                ch.dsp_control.cancel()
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None
        for s in list(self.sessions):
            s.close()
        self.sessions.clear()
        # DSP threads held after a page (step_pages) go on to see their cancel.
        self.step_pages = False
        try:
            self._page_lock.release()
        except RuntimeError:
            pass
        self.fax_gate.set()
        self._group.kill(timeout=5)
        self.channels.clear()
        self._running.clear()
        self._live.clear()

    def restart(self) -> "AMIEmulator":
        """After ``crash()``: a new Asterisk on the same port, with no channels."""
        self._page_lock = _real_lock()
        self._page_lock.acquire()
        self._epoch = int(time.time()) + 1     # a new process numbers its Uniqueids afresh
        self._uid = itertools.count()
        return self.start()

    # -- wire

    def _handle(self, sock: socket.socket, addr) -> None:
        # As manager.c does for every manager connection: without it, an event followed by a
        # response waits for the client's delayed ACK (40 ms per Setvar here).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = _Session(self, sock, addr)
        self.sessions.append(session)
        session.send_raw((BANNER + "\r\n").encode())
        parser = FrameParser(expect_banner=False)
        try:
            while not session.closed:
                data = sock.recv(65536)
                if not data:
                    break
                session.received += data
                for msg in parser.feed(data):
                    self._action(session, msg)
        except (OSError, ProtocolError):
            pass
        finally:
            session.close()
            if session in self.sessions:
                self.sessions.remove(session)

    def broadcast(self, headers: list[tuple[str, str]]) -> None:
        for s in list(self.sessions):
            if s.logged_in and s.events_on and not s.closed:
                s.send(headers)

    def _action(self, session: _Session, msg: Message) -> None:
        self.actions.append(msg)
        action = msg.get("Action").lower()
        aid = [("ActionID", msg.action_id)] if "ActionID" in msg else []

        def reply(response: str = "Success", *extra):
            session.send([("Response", response), *aid, *extra])

        if action == "login":
            return self._login(session, msg, aid)
        if not session.logged_in:
            return reply("Error", ("Message", "Permission denied"))
        if action == "logoff":
            reply("Goodbye", ("Message", "Thanks for all the fish."))
            session.close()
        elif action == "events":
            on = msg.get("EventMask", "on").lower() not in ("off", "")
            session.events_on = on
            reply("Success", ("Events", "On" if on else "Off"))
        elif action == "ping":
            reply("Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))
        elif action == "originate":
            self._originate(session, msg, aid)
        elif action == "getvar":
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", "No such channel"))
            var = msg.get("Variable")
            reply("Success", ("Variable", var), ("Value", self._getvar(ch, var)))
        elif action == "setvar":
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", "No such channel"))
            var, value = msg.get("Variable"), msg.get("Value")
            m = re.fullmatch(r"FAXOPT\((\w+)\)", var)
            if m:
                ch.faxopt[m.group(1)] = value
            else:
                ch.setvar(var, value)
            reply("Success", ("Message", "Variable Set"))
        elif action == "hangup":
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", "No such channel"))
            reply("Success", ("Message", "Channel Hungup"))
            cause = int(msg.get("Cause") or 16)
            self._manager_hangup(ch, cause)
        elif action == "redirect":
            # main/manager.c, action_redirect: an unknown channel, then ast_check_hangup_locked()
            # (a soft-hangup flag, set by the previous async goto until the channel's PBX thread
            # has acted on it, or by a hangup) refuses the Redirect.
            ch = self.find_channel(msg.get("Channel"))
            if ch is None:
                return reply("Error", ("Message", f"Channel does not exist: {msg.get('Channel')}"))
            if ch.redirect is not None or ch.hung_up_by_manager:
                return reply("Error", ("Message", "Redirect failed, channel not up."))
            ch.redirect = (msg.get("Context"), msg.get("Exten"), int(msg.get("Priority") or 1))
            ch.wakeup.set()
            reply("Success", ("Message", "Redirect successful"))
        elif action == "faxsession":
            sid = msg.get("SessionNumber")
            running = self._running.get(sid)
            if running is None:
                return reply("Error", ("Message", "Session not found"))
            reply("Success", ("Message", "FAXSession event will follow"))
            ch, op, files = running
            st = self._live.get(sid)
            pages_tx = getattr(st, "pages_tx", 0)
            pages_rx = getattr(st, "pages_rx", 0)
            session.send([("Event", "FAXSession"), *aid, ("SessionNumber", sid), ("Operation", op),
                          ("State", "Active"),
                          ("ErrorCorrectionMode", "Yes" if getattr(st, "ecm", False) else "No"),
                          ("DataRate", str(getattr(st, "bit_rate", 0))),
                          ("ImageResolution", f"{getattr(st, 'x_resolution', 0)}x{getattr(st, 'y_resolution', 0)}"),
                          ("PageNumber", str((pages_rx if op == "receive" else pages_tx) + 1)),
                          ("FileName", files[0] if files else ""),
                          ("PagesTransmitted", str(pages_tx)), ("PagesReceived", str(pages_rx)),
                          ("TotalBadLines", str(getattr(st, "bad_rows", 0)))])
        elif action == "coreshowchannels":
            reply("Success", ("EventList", "start"), ("Message", "Channels will follow"))
            live = [c for c in self.channels.values() if not c.gone]
            for c in live:
                session.send([("Event", "CoreShowChannel"), *aid, *c.block(), ("BridgeId", ""),
                              ("Application", c.application), ("ApplicationData", c.app_data),
                              ("Duration", time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - c.created))),
                              ("BridgedChannel", ""), ("BridgedUniqueID", "")])
            session.send([("Event", "CoreShowChannelsComplete"), *aid, ("EventList", "Complete"),
                          ("ListItems", str(len(live)))])
        else:
            reply("Error", ("Message", "Invalid/unknown command"))

    def _login(self, session: _Session, msg: Message, aid) -> None:
        user, secret = msg.get("Username"), msg.get("Secret")
        ok = not self.reject_logins and user in self.users and self.users[user] == secret
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
        sid = f"0x{0x7f5680000000 + next(self._session_ids) * 0x1000:x}"
        if not ok:
            session.send([("Response", "Error"), *aid, ("Message", "Authentication failed")])
            event = "InvalidPassword" if user in self.users else "InvalidAccountID"
            extra = [("EventVersion", "2" if event == "InvalidPassword" else "1")]
            self.broadcast([("Event", event), ("Privilege", "security,all"), ("EventTV", now),
                            ("Severity", "Error"), ("Service", "AMI"), *extra, ("AccountID", user),
                            ("SessionID", sid), ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
                            ("RemoteAddress", f"IPV4/TCP/{session.addr[0]}/{session.addr[1]}"),
                            ("SessionTV", "1970-01-01T00:00:00.000+0000")])
            session.close()
            return
        session.user = user
        session.send([("Response", "Success"), *aid, ("Message", "Authentication accepted")])
        session.logged_in = True
        session.send([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", str(self.uptime)),
                      ("LastReload", str(self.uptime)), ("Status", "Fully Booted")])
        self.broadcast([("Event", "SuccessfulAuth"), ("Privilege", "security,all"), ("EventTV", now),
                        ("Severity", "Informational"), ("Service", "AMI"), ("EventVersion", "1"),
                        ("AccountID", user), ("SessionID", sid),
                        ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
                        ("RemoteAddress", f"IPV4/TCP/{session.addr[0]}/{session.addr[1]}"),
                        ("UsingPassword", "0"), ("SessionTV", now)])

    # -- channels

    def _new_uid(self) -> str:
        return f"{self._epoch}.{next(self._uid)}"

    def _chan_name(self, prefix: str, counter_key: str) -> str:
        n = next(self._chan_counters.setdefault(counter_key, itertools.count()))
        return f"{prefix}-{n:08x}"

    def _channel(self, name, uid, linkedid, state, context, exten, priority=1) -> Channel:
        ch = Channel(self, name, uid, linkedid, state, context, exten, priority)
        self.channels[uid] = ch
        self.all_channels.append(ch)
        return ch

    def find_channel(self, name_or_uid: str) -> Channel | None:
        ch = self.channels.get(name_or_uid)
        if ch is not None and not ch.gone:
            return ch
        for c in self.channels.values():
            if c.name == name_or_uid and not c.gone:
                return c
        return None

    def _forget(self, ch: Channel) -> None:
        self.channels.pop(ch.uniqueid, None)

    def _getvar(self, ch: Channel, var: str) -> str:
        m = re.fullmatch(r"FAXOPT\((\w+)\)", var)
        if m:
            key = m.group(1)
            d = ch.fax_details
            table = {"status": d.get("FAXSTATUS", ""), "statusstr": d.get("FAXSTATUSSTRING", ""),
                     "error": d.get("FAXERROR", ""), "pages": d.get("FAXPAGES", ""),
                     "rate": d.get("FAXBITRATE", ""), "resolution": d.get("FAXRESOLUTION", ""),
                     "remotestationid": d.get("REMOTESTATIONID", ""),
                     "localstationid": ch.faxopt.get("localstationid", d.get("LOCALSTATIONID", "")),
                     "ecm": ch.faxopt.get("ecm", "yes"), "filename": d.get("filename", ""),
                     "filenames": d.get("filename", ""), "sessionid": d.get("sessionid", ""),
                     "maxrate": ch.faxopt.get("maxrate", "14400"), "minrate": ch.faxopt.get("minrate", "2400"),
                     "modem": "V17,V27,V29", "t38timeout": "5000",
                     "headerinfo": ch.faxopt.get("headerinfo", "")}
            return table.get(key, "")
        return ch.vars.get(var, "")

    def _manager_hangup(self, ch: Channel, cause: int) -> None:
        ch.hangup_cause = cause
        ch.wakeup.set()
        if ch.dsp_control is not None:
            ch.dsp_control.cancel()
        if getattr(ch, "_idle", False):
            # Nothing runs on it (waiting in dialplan): Asterisk hangs it up at once.
            ch.event("HangupRequest", "call,all", ("Cause", str(cause)))
            ch.hangup(cause)

    # -- Originate

    def _originate(self, session: _Session, msg: Message, aid) -> None:
        dial = msg.get("Channel")
        m = re.fullmatch(r"(Local|PJSIP)/([^@/]+)@([\w\-]+)", dial)
        if not m:
            session.send([("Response", "Error"), *aid, ("Message", "Originate failed")])
            return
        async_ = msg.get("Async").lower() in ("true", "yes", "1")
        session.send([("Response", "Success"), *aid, ("Message", "Originate successfully queued")])
        variables: list[tuple[str, str]] = []
        for v in msg.getall("Variable"):
            for part in _split_args(v):
                name, _, value = part.partition("=")
                variables.append((name, unescape_app_arg(value)))
        self._group.spawn(self._run_originate, msg, m.group(1), m.group(2), m.group(3), variables, async_)

    def far_end(self, exten: str) -> FarEnd:
        if exten in self.far_ends:
            return self.far_ends[exten]
        if re.fullmatch(r"rx\d+", exten):
            return FarEnd("fax", station_id="RX-" + exten[2:])
        if exten == "hangupearly":
            return FarEnd("hangup", after=4.0)
        if exten == "nofax":
            return FarEnd("silent")
        if exten == "busy":
            return FarEnd("busy")
        return FarEnd("none")

    def _run_originate(self, msg: Message, tech: str, exten: str, where: str,
                       variables: list[tuple[str, str]], async_: bool) -> None:
        try:
            if tech == "Local":
                self._originate_local(msg, exten, where, variables)
            else:
                self._originate_pjsip(msg, exten, where, variables)
        except Exception:  # greenlet boundary: one broken flow must not kill the emulator
            logger.exception("emulator: originate flow failed")

    def _originate_response(self, msg: Message, ch: Channel | None, success: bool, reason: int) -> None:
        headers = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
        if "ActionID" in msg:
            headers.append(("ActionID", msg.action_id))
        headers += [("Response", "Success" if success else "Failure"),
                    ("Channel", ch.name if success and ch else msg.get("Channel"))]
        if msg.get("Application"):
            headers += [("Application", msg.get("Application")), ("Data", msg.get("Data"))]
        else:
            headers += [("Context", msg.get("Context")), ("Exten", msg.get("Exten"))]
        cid_num, cid_name = _parse_callerid(msg.get("CallerID"))
        headers += [("Reason", str(reason)), ("Uniqueid", ch.uniqueid if success and ch else "<unknown>"),
                    ("CallerIDNum", cid_num), ("CallerIDName", cid_name)]
        self.broadcast(headers)

    def _apply_originate_vars(self, ch: Channel, variables) -> None:
        for name, value in variables:
            m = re.fullmatch(r"FAXOPT\((\w+)\)", name)
            if m:
                ch.faxopt[m.group(1)] = value
            else:
                ch.setvar(name, value)

    def _caller_setup(self, ch: Channel, msg: Message) -> None:
        cid = _parse_callerid(msg.get("CallerID"))
        ch.cid = cid
        ch.event("NewCallerid", "call,all", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        ch.connected = cid
        ch.event("NewConnectedLine", "call,all")

    def _dial_event(self, name: str, ch: Channel, *extra) -> None:
        self.broadcast([("Event", name), ("Privilege", "call,all"), *ch.block("Dest"), *extra])

    def _originate_local(self, msg: Message, exten: str, context: str, variables) -> None:
        uid1 = msg.get("ChannelId") or self._new_uid()
        uid2 = msg.get("OtherChannelId") or (uid1 + ";2" if msg.get("ChannelId") else self._new_uid())
        base = self._chan_name(f"Local/{exten}@{context}", "Local")
        one = self._channel(base + ";1", uid1, uid1, 0, context, exten)
        two = self._channel(base + ";2", uid2, uid1, 4, context, exten)
        one.event("Newchannel", "call,all")
        two.event("Newchannel", "call,all")
        one.newexten("AppDial2", "(Outgoing Line)")
        plain = [(n, v) for n, v in variables if not n.startswith("FAXOPT(")]
        self._apply_originate_vars(one, [(n, v) for n, v in variables if n.startswith("FAXOPT(")])
        for n, v in reversed(plain):
            one.setvar(n, v)
        self._caller_setup(one, msg)
        for n, v in plain:
            two.setvar(n, v)
        two.cid = one.cid
        two.connected = one.cid
        two.event("NewCallerid", "call,all", ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        two.event("NewConnectedLine", "call,all")
        far = self.far_end(exten)
        if (self._routes_to_faxd(context) and not one.hung_up_by_manager
                and msg.get("Application").lower() == "sendfax"):
            # An on-net fax: ;2 runs faxd-inbound with the call's Linkedid. Both halves run
            # res_fax and neither is bridged, so T.38 is unavailable (core_unreal.c's
            # queryoption asks the other half's bridge peer): audio, whatever SendFAX asks.
            self.broadcast([("Event", "LocalBridge"), ("Privilege", "call,all"), *one.block("LocalOne"),
                            *two.block("LocalTwo"), ("Context", context), ("Exten", exten),
                            ("LocalOptimization", "Yes")])
            self._dial_event("DialBegin", one, ("DialString", f"{exten}@{context}"))
            loop = self._loop_inbound(msg, two, exten, context, t38_capable=False, sender=one)
            return self._loop_send(msg, one, loop, "Local", legs=[])
        if context in self.dial_contexts and not one.hung_up_by_manager:
            return self._local_dial(msg, one, two, exten, context, far)
        if far.kind == "none" or one.hung_up_by_manager:
            two.hangup(0)
            self._originate_response(msg, None, False, 0)
            one.hangup(0)
            return
        self.broadcast([("Event", "LocalBridge"), ("Privilege", "call,all"), *one.block("LocalOne"),
                        *two.block("LocalTwo"), ("Context", context), ("Exten", exten),
                        ("LocalOptimization", "Yes")])
        self._dial_event("DialBegin", one, ("DialString", f"{exten}@{context}"))
        if far.kind == "busy":
            two.newexten("Busy", "")
            two.hangup(17)
            self._dial_event("DialEnd", one, ("DialStatus", "BUSY"))
            self._originate_response(msg, None, False, 5)
            one.hangup(17)
            return
        two.newexten("Answer", "")
        two.newstate(6)
        one.newstate(6)
        self._dial_event("DialEnd", one, ("DialStatus", "ANSWER"))
        self._after_answer(msg, one, two, far, tech="Local")

    def _local_dial(self, msg: Message, one: Channel, two: Channel, exten: str, context: str, far: FarEnd) -> None:
        """A site context that Dial()s a trunk (``dial_contexts``; not recorded): the trunk leg is a
        third channel with the call's Linkedid, and only it carries the network's cause."""
        self.broadcast([("Event", "LocalBridge"), ("Privilege", "call,all"), *one.block("LocalOne"),
                        *two.block("LocalTwo"), ("Context", context), ("Exten", exten),
                        ("LocalOptimization", "Yes")])
        self._dial_event("DialBegin", one, ("DialString", f"{exten}@{context}"))
        target = self.dial_contexts[context].replace("{exten}", exten)
        two.newexten("Dial", target)
        endpoint = target.split("@", 1)[1] if "@" in target else "trunk"
        trunk = self._channel(self._chan_name(f"PJSIP/{endpoint}", "PJSIP"), self._new_uid(), one.uniqueid, 0,
                              context, "s")
        trunk.event("Newchannel", "call,all")
        self._caller_setup(trunk, msg)

        def dial(name, *extra):
            self.broadcast([("Event", name), ("Privilege", "call,all"), *two.block(), *trunk.block("Dest"), *extra])
        dial("DialBegin", ("DialString", target.split("/", 1)[1]))
        peer_ctx = self.endpoint_contexts.get(self.loop_endpoints.get(endpoint, ""))
        if self._routes_to_faxd(peer_ctx) and msg.get("Application").lower() == "sendfax":
            # The trunk leg loops back into this Asterisk (a new SIP call: its own Linkedid)
            # and on into faxd-inbound. T.38 passes: ;1 asks ;2's bridge peer, a PJSIP leg.
            peer = self._channel(self._chan_name(f"PJSIP/{self.loop_endpoints[endpoint]}", "PJSIP"),
                                 self._new_uid(), "", 4, peer_ctx, exten)
            peer.linkedid = peer.uniqueid
            peer.cid = one.cid
            peer.event("Newchannel", "call,all")
            peer.setvar("SIPDOMAIN", "127.0.0.1")
            loop = self._loop_inbound(msg, peer, exten, peer_ctx, t38_capable=True, sender=one)

            def answered():
                trunk.newstate(6)
                dial("DialEnd", ("DialStatus", "ANSWER"))
                two.newstate(6)
            return self._loop_send(msg, one, loop, "Local", legs=[trunk, two], on_answer=answered)
        if far.kind in ("none", "busy"):
            cause, tech, status, reason = ((17, "486", "BUSY", 5) if far.kind == "busy"
                                           else (1, "404", "CHANUNAVAIL", 1))
            trunk.event("HangupRequest", "call,all", ("Cause", str(cause)), ("TechCause", tech))
            dial("DialEnd", ("DialStatus", status))
            trunk.hangup(cause, tech)
            two.hangup(cause)
            self._dial_event("DialEnd", one, ("DialStatus", status))
            self._originate_response(msg, None, False, reason)
            one.hangup(0)
            return
        trunk.newstate(6)
        dial("DialEnd", ("DialStatus", "ANSWER"))
        two.newstate(6)
        one.newstate(6)
        self._dial_event("DialEnd", one, ("DialStatus", "ANSWER"))
        self._after_answer(msg, one, None, far, tech="Local")
        trunk.hangup(16)
        two.hangup(16)

    def _originate_pjsip(self, msg: Message, number: str, endpoint: str, variables) -> None:
        uid = msg.get("ChannelId") or self._new_uid()
        loop = endpoint in self.loop_endpoints
        ch = self._channel(self._chan_name(f"PJSIP/{endpoint}", "PJSIP"), uid, uid, 0, "fax" if loop else "faxd",
                           "s")
        ch.event("Newchannel", "call,all")
        ch.newexten("AppDial2", "(Outgoing Line)")
        self._apply_originate_vars(ch, [(n, v) for n, v in variables if n.startswith("FAXOPT(")])
        for n, v in reversed([(n, v) for n, v in variables if not n.startswith("FAXOPT(")]):
            ch.setvar(n, v)
        self._caller_setup(ch, msg)
        self._dial_event("DialBegin", ch, ("DialString", f"{number}@{endpoint}"))
        peer_ctx = self.endpoint_contexts.get(self.loop_endpoints.get(endpoint, ""))
        if (loop and self._routes_to_faxd(peer_ctx) and not ch.hung_up_by_manager
                and msg.get("Application").lower() == "sendfax"):
            peer = self._channel(self._chan_name(f"PJSIP/{self.loop_endpoints[endpoint]}", "PJSIP"),
                                 self._new_uid(), "", 4, peer_ctx, number)
            peer.linkedid = peer.uniqueid
            peer.cid = ch.cid
            peer.event("Newchannel", "call,all")
            peer.setvar("SIPDOMAIN", "127.0.0.1")
            call_loop = self._loop_inbound(msg, peer, number, peer_ctx, t38_capable=True, sender=ch)
            return self._loop_send(msg, ch, call_loop, "PJSIP", legs=[])
        far = self.far_end(number)
        if far.kind == "noanswer" and not loop:
            # 180 Ringing until the Originate's Timeout (scaled like every wait here).
            ch.newstate(5)
            ch._idle = False
            ch.wakeup.wait(timeout=int(msg.get("Timeout") or 30000) / 1000.0 * self.wait_scale)
            if ch.hung_up_by_manager:
                ch.event("HangupRequest", "call,all", ("Cause", str(ch.hangup_cause)))
            self._dial_event("DialEnd", ch, ("DialStatus", "CANCEL" if ch.hung_up_by_manager else "NOANSWER"))
            self._originate_response(msg, None, False, 1 if ch.hung_up_by_manager else 3)
            ch.hangup(ch.hangup_cause or 0)
            return
        if far.kind in ("none", "busy") or ch.hung_up_by_manager:
            cause, tech = (17, "486") if far.kind == "busy" else (1, "404")
            if ch.hung_up_by_manager:
                cause, tech = ch.hangup_cause, ""
            ch.event("HangupRequest", "call,all", ("Cause", str(cause)), *([("TechCause", tech)] if tech else []))
            self._dial_event("DialEnd", ch, ("DialStatus", "BUSY" if far.kind == "busy" else "NOANSWER"))
            self._originate_response(msg, None, False, 5 if far.kind == "busy" else 0)
            ch.hangup(cause, tech)
            return
        other = None
        if loop:
            ouid = self._new_uid()
            other = self._channel(self._chan_name(f"PJSIP/{self.loop_endpoints[endpoint]}", "PJSIP"), ouid, ouid,
                                  4, "fax", number)
            other.event("Newchannel", "call,all")
            other.setvar("SIPDOMAIN", "127.0.0.1")
            other.newexten("Answer", "")
            other.newstate(6)
        ch.newstate(6)
        self._dial_event("DialEnd", ch, ("DialStatus", "ANSWER"))
        self._after_answer(msg, ch, other, far, tech="PJSIP")

    # -- after answer: the Originate's application against the far end's dialplan

    def _after_answer(self, msg: Message, ours: Channel, far_ch: Channel | None, far: FarEnd, tech: str) -> None:
        app = msg.get("Application")
        if (not app and tech == "Local" and msg.get("Context") == "fax" and re.fullmatch(r"tx\d+", msg.get("Exten"))
                and far_ch is not None and far.kind == "fax"):
            return self._dialplan_send(msg, ours, far_ch, far)
        if app.lower() != "sendfax":
            self._originate_response(msg, ours, True, 4)
            ours._idle = True
            ours.wakeup.wait(timeout=3600)
            return
        data = msg.get("Data")
        files_part, _, opts = data.partition(",")
        files = files_part.split("&")
        opts = opts or ""
        t38_possible = tech == "PJSIP" and "F" not in opts
        want_t38 = t38_possible and far.t38 and far.kind == "fax"
        ours.application, ours.app_data = "SendFAX", data
        local_id = ours.faxopt.get("localstationid") or ours.vars.get("LOCALSTATIONID") or "unknown"
        if not all(os.access(f, os.R_OK) for f in files):
            # res_fax checks the files before anything else (not recorded: from its source):
            # FILE_ERROR, no FAXStatus, no SendFAX event, the application fails.
            self._originate_response(msg, ours, True, 4)
            self._fax_vars(ours, [("FAXSTATUS", "FAILED"), ("FAXERROR", "FILE_ERROR"),
                                  ("FAXSTATUSSTRING", "error reading file"), ("REMOTESTATIONID", ""),
                                  ("LOCALSTATIONID", local_id), ("FAXMODE", "audio"), ("FAXPAGES", "0")])
            if far_ch is not None:
                far_ch.event("HangupRequest", "call,all", ("Cause", "16"))
            ours.hangup(0)
            if far_ch is not None:
                far_ch.hangup(16)
            return
        self._fax_presets(ours, local_id, receive=False)
        self._originate_response(msg, ours, True, 4)

        if far.kind == "hangup":
            if "z" in opts and t38_possible:
                # Still in the T.38 wait (CNG) when the far end hangs up: no FAXStatus, no SendFAX.
                self._far_plain_hangup(far_ch, far, tech, audio=True, ours=ours)
                self._fax_vars(ours, [("FAXSTATUS", "FAILED"), ("FAXERROR", "T38_NEG_ERROR"),
                                      ("FAXSTATUSSTRING", "error negotiating T.38"), ("REMOTESTATIONID", ""),
                                      ("LOCALSTATIONID", local_id), ("FAXMODE", "audio"), ("FAXPAGES", "0")])
                ours.hangup(0)
                return
            self._fax_start(ours, "send", local_id, files, t38=False)
            run = self._t30_send(ours, files, None, far, t38=False, max_seconds=far.after, local_id=local_id)
            self._far_plain_hangup(far_ch, far, tech, audio=True, ours=ours)
            self._fax_intermediate_hangup(ours, local_id, "audio")
            self._fax_final(ours, run, files, "SendFAX")
            ours.hangup(16 if tech == "Local" else 0)
            return

        if far.kind == "t38_refuse" and "z" in opts and t38_possible:
            self._fax_vars(ours, [("FAXSTATUS", "FAILED"), ("FAXERROR", "T38_NEG_ERROR"),
                                  ("FAXSTATUSSTRING", "error negotiating T.38"), ("REMOTESTATIONID", ""),
                                  ("LOCALSTATIONID", local_id), ("FAXMODE", "audio"), ("FAXPAGES", "0")])
            if far_ch is not None:
                far_ch.event("HangupRequest", "call,all")
                far_ch.hangup(16)
            ours.hangup(0)
            return

        if far.kind in ("silent", "t38_refuse"):
            self._fax_start(ours, "send", local_id, files, t38=False)
            if far_ch is not None:
                far_ch.newexten("PlayTones", "0/1000", priority=2)
                far_ch.newexten("Wait", "90", priority=3)
            run = self._t30_send(ours, files, None, far, t38=False, max_seconds=600.0, local_id=local_id)
            self._fax_final(ours, run, files, "SendFAX")
            if far_ch is not None:
                far_ch.event("HangupRequest", "call,all", ("Cause", "0"))
            ours.hangup(0)
            if far_ch is not None:
                far_ch.event("SoftHangupRequest", "call,all", ("Cause", "16"))
                far_ch.hangup(0)
            return

        # A fax machine answers (far.kind == "fax").
        far_id = far.station_id or "RX"
        rx_path = self._rx_path(far_ch.uniqueid if far_ch else ours.uniqueid)
        if want_t38:
            # Recorded over PJSIP: the receiver's dialplan runs while the T.38 re-INVITE happens.
            self._far_receive_prologue(far_ch, far_id, rx_path)
            self._fax_start(ours, "send", local_id, files, t38=True)
            if far_ch is not None:
                self._fax_start(far_ch, "receive", far_id, [rx_path], t38=True)
        else:
            self._fax_start(ours, "send", local_id, files, t38=False)
            self._far_receive_prologue(far_ch, far_id, rx_path)
            if far_ch is not None:
                self._fax_start(far_ch, "receive", far_id, [rx_path], t38=False)
        tx_run, rx_run = self._t30_pair(ours, files, far, rx_path, want_t38, local_id, far_id)
        mode = "T38" if want_t38 else "audio"
        if ours.hung_up_by_manager:
            # faxd cancelled: our side ends, the far end hangs up after it.
            ours.event("HangupRequest", "call,all", ("Cause", str(ours.hangup_cause)))
            self._fax_final(ours, tx_run, files, "SendFAX")
            ours.hangup(ours.hangup_cause)
            if far_ch is not None:
                self._fax_final(far_ch, rx_run, [rx_path], "ReceiveFAX")
                far_ch.hangup(16)
            return
        if far_ch is not None:
            self._fax_final(far_ch, rx_run, [rx_path], "ReceiveFAX")
            self._far_report_and_hangup(far_ch, rx_run, rx_path, tech, mode,
                                        hangup_request_ours=(ours if tech == "Local" else None))
        if tech == "PJSIP":
            for var, value in QOS:
                ours.setvar(var, value)
            ours.event("HangupRequest", "call,all")
        elif far_ch is None:
            ours.event("HangupRequest", "call,all", ("Cause", "16"))
        self._fax_intermediate_hangup(ours, local_id, mode)
        self._fax_final(ours, tx_run, files, "SendFAX")
        ours.hangup(16 if tech == "Local" else 0)

    def _rx_path(self, uid: str) -> str:
        d = self.rx_dir or "/tmp"
        return os.path.join(d, f"rx-{uid}.tif")

    def _far_plain_hangup(self, far_ch: Channel | None, far: FarEnd, tech: str, audio: bool,
                          ours: Channel | None = None) -> None:
        if far_ch is None:
            if ours is not None:
                ours.event("HangupRequest", "call,all", ("Cause", "16"))
            return
        far_ch.newexten("Wait", f"{far.after:g}", priority=2)
        far_ch.newexten("Hangup", "", priority=3)
        far_ch.event("SoftHangupRequest", "call,all", ("Cause", "16"))
        if tech == "Local" and ours is not None:
            ours.event("HangupRequest", "call,all", ("Cause", "16"))
        if tech == "PJSIP" and audio:
            for var, value in QOS:
                far_ch.setvar(var, value)
        far_ch.hangup(16)
        if tech == "PJSIP" and ours is not None:
            for var, value in QOS:
                ours.setvar(var, value)
            ours.event("HangupRequest", "call,all")

    def _far_receive_prologue(self, far_ch: Channel | None, far_id: str, rx_path: str) -> None:
        if far_ch is None:
            return
        far_ch.faxopt["localstationid"] = far_id
        far_ch.newexten("Set", f"FAXOPT(localstationid)={far_id}", priority=2)
        far_ch.newexten("Set", "CHANNEL(hangup_handler_push)=fax-report,rx,1", priority=3)
        far_ch.event("HangupHandlerPush", "dialplan,all", ("Handler", "fax-report,rx,1"))
        far_ch.newexten("ReceiveFAX", rx_path, priority=4)
        self._fax_presets(far_ch, far_id, receive=True)

    def _far_report_and_hangup(self, far_ch: Channel, run: FaxRun, rx_path: str, tech: str, mode: str,
                               hangup_request_ours: Channel | None) -> None:
        far_ch.newexten("GotoIf", "0?hold", priority=5)
        far_ch.newexten("Hangup", "", priority=6)
        self._report_and_hangup(far_ch, "rx", rx_path, hangup_request_ours)

    def _report_and_hangup(self, ch: Channel, kind: str, path: str, hangup_request_other: Channel | None,
                           hangup: bool = True) -> None:
        """The recorded site dialplan's hangup handler: UserEvent(FaxRxResult|FaxTxResult,...)."""
        ch.event("SoftHangupRequest", "call,all", ("Cause", "16"))
        ch.event("HangupHandlerRun", "dialplan,all", ("Handler", f"fax-report,{kind},1"))
        ch.setvar("LOCAL(ARGC)", "0")
        saved = (ch.context, ch.exten, ch.priority)
        ch.context, ch.exten, ch.priority = "fax-report", kind, 1
        d = ch.fax_details
        report = [("FAXSTATUS", d.get("FAXSTATUS", "")), ("FAXERROR", d.get("FAXERROR", "")),
                  ("FAXSTATUSSTRING", d.get("FAXSTATUSSTRING", "")), ("FAXPAGES", d.get("FAXPAGES", "")),
                  ("FAXBITRATE", d.get("FAXBITRATE", "")), ("FAXRESOLUTION", d.get("FAXRESOLUTION", "")),
                  ("FAXMODE", d.get("FAXMODE", "")), ("REMOTESTATIONID", d.get("REMOTESTATIONID", "")),
                  ("LOCALSTATIONID", d.get("LOCALSTATIONID", "")), ("FAXECM", ch.faxopt.get("ecm", "yes")),
                  ("FAXFILE", path)]
        name = "FaxRxResult" if kind == "rx" else "FaxTxResult"
        ch.newexten("UserEvent", name + "," + ",".join(f"{k}: {v}" for k, v in report))
        ch.event("UserEvent", "user,all", ("UserEvent", name), *report)
        ch.newexten("Return", "", priority=2)
        ch.setvar("ARGC", "")
        ch.setvar("GOSUB_RETVAL", "")
        ch.context, ch.exten, ch.priority = saved
        if hangup_request_other is not None:
            hangup_request_other.event("HangupRequest", "call,all", ("Cause", "16"))
        if hangup:
            ch.hangup(16)

    def _dialplan_send(self, msg: Message, ours: Channel, far_ch: Channel, far: FarEnd) -> None:
        """Originate into the recorded dialplan's ``tx<digits>``: Answer, Set the station id, push
        the report handler, SendFAX(${TXFILE}), then hold ${FAXHOLD} seconds (Getvar time)."""
        exten = msg.get("Exten")
        ours.context, ours.exten = msg.get("Context"), exten
        local_id = "TX-" + exten[2:]
        ours.newexten("Answer", "", priority=1)
        ours.faxopt["localstationid"] = local_id
        ours.newexten("Set", f"FAXOPT(localstationid)={local_id}", priority=2)
        self._originate_response(msg, ours, True, 4)
        ours.newexten("Set", "CHANNEL(hangup_handler_push)=fax-report,tx,1", priority=3)
        ours.event("HangupHandlerPush", "dialplan,all", ("Handler", "fax-report,tx,1"))
        files = [ours.vars.get("TXFILE", "")]
        ours.newexten("SendFAX", files[0], priority=4)
        ours.application, ours.app_data = "SendFAX", files[0]
        self._fax_presets(ours, local_id, receive=False)
        self._fax_start(ours, "send", local_id, files, t38=False)
        far_id = far.station_id or "RX"
        rx_path = self._rx_path(far_ch.uniqueid)
        self._far_receive_prologue(far_ch, far_id, rx_path)
        self._fax_start(far_ch, "receive", far_id, [rx_path], t38=False)
        tx_run, rx_run = self._t30_pair(ours, files, far, rx_path, False, local_id, far_id)
        hold = _int(far_ch.vars.get("FAXHOLD"))
        self._fax_final(far_ch, rx_run, [rx_path], "ReceiveFAX")
        far_ch.newexten("GotoIf", f"{1 if hold else 0}?hold", priority=5)
        if hold:
            far_ch.newexten("Wait", str(hold), priority=7)
        self._fax_final(ours, tx_run, files, "SendFAX")
        ours.newexten("GotoIf", f"{1 if hold else 0}?hold", priority=5)
        if hold:
            ours.newexten("Wait", str(hold), priority=7)
            gevent.sleep(hold * self.wait_scale)
        far_ch.newexten("Hangup", "", priority=8 if hold else 6)
        self._report_and_hangup(far_ch, "rx", rx_path, ours)
        self._report_and_hangup(ours, "tx", files[0], None)

    # -- res_fax emulation

    def _fax_vars(self, ch: Channel, pairs) -> None:
        for name, value in pairs:
            ch.fax_details[name] = value
            ch.setvar(name, value)

    def _fax_presets(self, ch: Channel, local_id: str, receive: bool) -> None:
        self._fax_vars(ch, [("FAXSTATUS", "FAILED"), ("FAXPAGES", "0"), ("FAXSTATUS", "FAILED"),
                            ("FAXERROR", "INIT_ERROR"), ("FAXSTATUSSTRING", "error starting fax session"),
                            ("REMOTESTATIONID", ""), ("LOCALSTATIONID", local_id), ("FAXMODE", "audio"),
                            ("FAXPAGES", "0")])
        if receive:
            self._fax_vars(ch, [("FAXERROR", "Channel Problems"),
                                ("FAXSTATUSSTRING", "Error before FAX transmission started.")])

    def _fax_status(self, ch: Channel, op: str, status: str, local_id: str, files) -> None:
        ch.event("FAXStatus", "call,all", ("Operation", op), ("Status", status), ("LocalStationID", local_id),
                 *[("FileName", f) for f in files])

    def _fax_start(self, ch: Channel, op: str, local_id: str, files, t38: bool) -> None:
        if t38:
            self._fax_status(ch, op, "T.38 Negotiated", local_id, files)
        self._fax_status(ch, op, "Allocating Resources", local_id, files)
        ch.fax_details["sessionid"] = sid = str(next(self._fax_sessions))
        ch.fax_details["filename"] = files[0] if files else ""
        self._running[sid] = (ch, op, list(files))
        self._fax_vars(ch, [("FAXSTATUS", ""), ("FAXERROR", ""), ("FAXSTATUSSTRING", ""), ("REMOTESTATIONID", ""),
                            ("LOCALSTATIONID", local_id), ("FAXMODE", "T38" if t38 else "audio"),
                            ("FAXPAGES", "0")])
        self._fax_status(ch, op, "FAX Transmission In Progress", local_id, files)

    def _fax_intermediate_hangup(self, ch: Channel, local_id: str, mode: str) -> None:
        self._fax_vars(ch, [("FAXSTATUS", "FAILED"), ("FAXERROR", "HANGUP"),
                            ("FAXSTATUSSTRING", "remote channel hungup"), ("REMOTESTATIONID", ""),
                            ("LOCALSTATIONID", local_id), ("FAXMODE", mode), ("FAXPAGES", "0")])

    def _fax_final(self, ch: Channel, run: FaxRun, files, event: str) -> None:
        self._running.pop(ch.fax_details.get("sessionid", ""), None)
        pairs = [("FAXSTATUS", run.status)]
        if run.error or ch.fax_details.get("FAXERROR"):
            # res_fax writes FAXERROR only when details->error is set (an earlier HANGUP pass counts).
            pairs.append(("FAXERROR", run.error or ch.fax_details.get("FAXERROR", "")))
        pairs += [("FAXSTATUSSTRING", run.status_string), ("REMOTESTATIONID", run.remote_station_id),
                  ("LOCALSTATIONID", run.local_station_id), ("FAXBITRATE", str(run.bit_rate)),
                  ("FAXRESOLUTION", run.resolution), ("FAXMODE", run.mode), ("FAXPAGES", str(run.pages))]
        self._fax_vars(ch, pairs)
        ch.event(event, "call,all", ("LocalStationID", run.local_station_id),
                 ("RemoteStationID", run.remote_station_id), ("PagesTransferred", str(run.pages)),
                 ("Resolution", run.resolution), ("TransferRate", str(run.bit_rate)),
                 *[("FileName", f) for f in files])

    # -- T.30 with faxd's spandsp bindings

    def _session_opts(self, ch: Channel, local_id: str, sending: bool) -> dict:
        maxrate = ch.faxopt.get("maxrate", "14400")
        return dict(station_id=local_id[:20], header=ch.faxopt.get("headerinfo", "") if sending else "",
                    ecm=ch.faxopt.get("ecm", "yes") == "yes", v17=int(maxrate or 14400) > 9600)

    def release_page(self) -> None:
        """step_pages: let the T.30 session held after a page go on."""
        self._page_lock.release()

    def _live_listener(self, ch: Channel):
        """Runs in the DSP thread: keep the session's statistics for FAXSession; in step mode,
        hold T.30 after each page until the test releases it."""
        sid = ch.fax_details.get("sessionid", "")

        def listener(session, event):
            if event.kind in ("phase_b", "phase_d"):
                self._live[sid] = event.stats
            if event.kind == "phase_d" and self.step_pages:
                self._page_lock.acquire()
        return listener

    def _wait_gate(self, ch: Channel) -> None:
        self.faxes_in_progress += 1
        self.fax_started.set()
        try:
            while not self.fax_gate.is_set() and not ch.hung_up_by_manager:
                self.fax_gate.wait(timeout=0.05)
        finally:
            self.faxes_in_progress -= 1

    def _t30_pair(self, ours: Channel, files, far: FarEnd, rx_path: str, t38: bool, local_id: str,
                  far_id: str) -> tuple[FaxRun, FaxRun]:
        from faxd.spandsp.session import Control, FaxSession, T38Session, run_pair
        cls = T38Session if t38 else FaxSession
        extra = {"paced": False} if t38 else {}
        tx = cls(calling=True, listener=self._live_listener(ours), **self._session_opts(ours, local_id, True),
                 **extra)
        rx = cls(calling=False, station_id=far_id[:20], ecm=far.ecm, **extra)
        try:
            tx.set_tx_file(files[0])
            rx.set_rx_file(rx_path)
            self._wait_gate(ours)
            ctl = Control()
            ours.dsp_control = ctl
            if ours.hung_up_by_manager:
                ctl.cancel()
            result = run_pair(tx, rx, control=ctl, hangup_after_pages=far.hangup_after_pages)
            mode = "T38" if t38 else "audio"
            return _fax_run(result.tx, local_id, mode, sending=True), _fax_run(result.rx, far_id, mode, sending=False)
        finally:
            ours.dsp_control = None
            tx.close()
            rx.close()

    def _t30_send(self, ours: Channel, files, rx_ch, far: FarEnd, t38: bool, max_seconds: float,
                  local_id: str) -> FaxRun:
        from faxd.spandsp.session import Control, FaxSession, run_pair
        tx = FaxSession(calling=True, **self._session_opts(ours, local_id, True))
        try:
            tx.set_tx_file(files[0])
            self._wait_gate(ours)
            ctl = Control()
            ours.dsp_control = ctl
            result = run_pair(tx, None, max_seconds=max_seconds, control=ctl)
            return _fax_run(result.tx, local_id, "audio", sending=True)
        finally:
            ours.dsp_control = None
            tx.close()

    # -- inbound calls (a caller's fax machine dials a DID routed to faxd-inbound)

    def incoming_call(self, did: str, tiff: str | None = None, caller_num: str = "+15551230000",
                      caller_name: str = "Caller", t38: bool = False, station_id: str = "CALLER",
                      ecm: bool = True, hangup_before_decision: bool = False) -> "IncomingCall":
        call = IncomingCall(did, tiff or self.caller_tiff, caller_num, caller_name, t38, station_id, ecm,
                            hangup_before_decision)
        self._group.spawn(self._run_incoming, call)
        return call

    def _run_incoming(self, call: "IncomingCall") -> None:
        try:
            self._incoming_flow(call)
        except Exception as e:  # greenlet boundary
            logger.exception("emulator: incoming flow failed")
            if not call.done.ready():
                call.done.set_exception(e)

    def _incoming_flow(self, call: "IncomingCall") -> None:
        uid = self._new_uid()
        ch = self._channel(self._chan_name("PJSIP/trunk", "PJSIP"), uid, uid, 4, self.inbound_context, call.did)
        ch.cid = (call.caller_num, call.caller_name)
        ch.event("Newchannel", "call,all")
        ch.newexten("Goto", f"faxd-inbound,{call.did},1")
        self._faxd_inbound(ch, call)

    def _run_faxd_inbound(self, ch: Channel, call: "IncomingCall") -> None:
        try:
            self._faxd_inbound(ch, call)
        except Exception as e:  # greenlet boundary
            logger.exception("emulator: faxd-inbound flow failed")
            if not call.done.ready():
                call.done.set_exception(e)
        finally:
            if call.loop is not None and not call.loop.result.ready():
                call.loop.result.set(None)

    def _faxd_inbound(self, ch: Channel, call: "IncomingCall") -> None:
        """dialplan/asterisk/extensions_faxd.conf on ``ch``: faxd-inbound, then what faxd's
        Redirect chooses in faxd-control."""
        call.channel = ch
        ch.context, ch.exten = "faxd-inbound", call.did
        ch.newexten("NoOp", f"faxd: incoming fax for {call.did}", priority=1)
        ch.newexten("Set", f"FAXD_DID={call.did}", priority=2)
        ch.setvar("FAXD_DID", call.did)
        ch.newexten("UserEvent", f"FaxdIncoming,DID: {call.did}", priority=3)
        ch.event("UserEvent", "user,all", ("UserEvent", "FaxdIncoming"), ("DID", call.did))
        ch.newexten("Wait", f"{self.decision_timeout:g}", priority=4)
        ch._idle = True
        if call.hangup_before_decision:
            ch.hangup(16)
            call.done.set(None)
            return
        decision = self._wait_decision(ch, self.decision_timeout)
        if decision is None:
            if not ch.gone:
                ch.newexten("Hangup", "41", priority=5)
                ch.hangup(41)
            call.done.set(None)
            return
        if decision[1] == "answer":
            # An answer-only decision (faxd before one Redirect per decision): answer, wait.
            ch.context, ch.exten = decision[0], "answer"
            ch.newexten("Answer", "", priority=1)
            self._answer(ch, call)
            ch.newexten("Wait", "30", priority=2)
            decision = self._wait_decision(ch, 30)
            if decision is None:
                if not ch.gone:
                    ch.newexten("Hangup", "41", priority=3)
                    ch.hangup(41)
                call.done.set(None)
                return
        if decision[1] != "receive":
            ch.newexten("Hangup", "", priority=1)
            ch.hangup(16)
            call.done.set(None)
            return
        ch._idle = False
        ch.context, ch.exten = decision[0], "receive"
        rx_path = ch.vars.get("FAXD_RXFILE", "")
        opts = ch.vars.get("FAXD_RXOPTS", "")
        # faxd-control,receive: Answer() (nothing to do on a channel already up), ReceiveFAX.
        ch.newexten("Answer", "", priority=1)
        if ch.state != 6:
            self._answer(ch, call)
        priority = 2
        ch.newexten("ReceiveFAX", f"{rx_path},{opts}", priority=priority)
        ch.application, ch.app_data = "ReceiveFAX", f"{rx_path},{opts}"
        local_id = ch.faxopt.get("localstationid") or "unknown"
        loop = call.loop
        if loop is not None:
            # Both ends are res_fax on this Asterisk: T.38 only when each is (bridged to) a
            # T.38 channel and neither side forbids it.
            loop.t38 = loop.t38_capable and "F" not in opts and "F" not in loop.send_opts
            t38 = loop.t38
            loop.receiving.set()
        else:
            t38 = call.t38 and "F" not in opts
        self._fax_presets(ch, local_id, receive=True)
        self._fax_start(ch, "receive", local_id, [rx_path], t38=t38)
        if loop is not None:
            gevent.wait([loop.sending, loop.sender.ended, loop.result], count=1)
        if loop is not None and loop.result.ready():
            run = loop.result.get()[1]
        elif loop is not None and not loop.sending.is_set():
            # The sender hung up before its SendFAX started.
            run = FaxRun("FAILED", "HANGUP", "remote channel hungup", "", local_id, 14400, "0x0", 0,
                         "T38" if t38 else "audio")
        else:
            run = self._t30_receive(ch, call, rx_path, local_id, t38)
        call.result = run
        if ch.hung_up_by_manager:
            ch.event("HangupRequest", "call,all", ("Cause", str(ch.hangup_cause)))
            self._fax_final(ch, run, [rx_path], "ReceiveFAX")
            ch.hangup(ch.hangup_cause)
        else:
            self._fax_final(ch, run, [rx_path], "ReceiveFAX")
            ch.newexten("Hangup", "", priority=priority + 1)
            ch.event("SoftHangupRequest", "call,all", ("Cause", "16"))
            ch.hangup(16)
        call.done.set(run)

    def _answer(self, ch: Channel, call: "IncomingCall") -> None:
        ch.newstate(6)
        if call.loop is not None:
            call.loop.answered.set()

    def _wait_decision(self, ch: Channel, timeout: float):
        ch.wakeup.clear()
        ch.wakeup.wait(timeout=timeout)
        if ch.redirect is not None and not ch.gone:
            # The PBX thread notices the async goto (its soft-hangup flag) a moment later;
            # until then a second Redirect is refused (see the redirect action).
            gevent.sleep(self.redirect_pickup)
        if ch.gone or ch.hung_up_by_manager:
            ch.redirect = None
            return None if ch.gone else ("", "hangup", 1)
        if ch.redirect is None:
            return None
        d, ch.redirect = ch.redirect, None
        return d[0], d[1], d[2]

    def _t30_receive(self, ch: Channel, call: "IncomingCall", rx_path: str, local_id: str, t38: bool) -> FaxRun:
        from faxd.spandsp.session import Control, FaxSession, T38Session, run_pair
        cls = T38Session if t38 else FaxSession
        extra = {"paced": False} if t38 else {}
        rx = cls(calling=False, listener=self._live_listener(ch), **self._session_opts(ch, local_id, False),
                 **extra)
        loop = call.loop
        if loop is not None:
            # The sender is SendFAX on another channel of this Asterisk (an on-net call).
            tx = cls(calling=True, listener=self._live_listener(loop.sender),
                     **self._session_opts(loop.sender, loop.local_id, True), **extra)
            tiff = loop.files[0]
        else:
            tx = cls(calling=True, station_id=call.station_id[:20], ecm=call.ecm, **extra)
            tiff = call.tiff
        try:
            tx.set_tx_file(tiff)
            rx.set_rx_file(rx_path)
            self._wait_gate(ch)
            ctl = Control()
            ch.dsp_control = ctl
            if loop is not None:
                loop.sender.dsp_control = ctl
            if ch.hung_up_by_manager or (loop is not None and loop.sender.hung_up_by_manager):
                ctl.cancel()
            result = run_pair(tx, rx, control=ctl)
            mode = "T38" if t38 else "audio"
            rx_run = _fax_run(result.rx, local_id, mode, sending=False)
            if loop is not None:
                loop.result.set((_fax_run(result.tx, loop.local_id, mode, sending=True), rx_run))
            return rx_run
        finally:
            ch.dsp_control = None
            if loop is not None:
                loop.sender.dsp_control = None
            tx.close()
            rx.close()

    # -- on-net calls: a fax from this Asterisk back into faxd-inbound

    def _routes_to_faxd(self, context: str | None) -> bool:
        return context == "faxd-inbound" or context in self.goto_contexts

    def _loop_inbound(self, msg: Message, receiver: Channel, did: str, context: str, t38_capable: bool,
                      sender: Channel) -> "_Loop":
        """Start faxd-inbound on ``receiver`` for a fax that ``sender``'s SendFAX will send."""
        data = msg.get("Data")
        files_part, _, opts = data.partition(",")
        local_id = sender.faxopt.get("localstationid") or sender.vars.get("LOCALSTATIONID") or "unknown"
        loop = _Loop(sender, files_part.split("&"), opts, local_id, t38_capable)
        call = IncomingCall(did, None, receiver.cid[0], receiver.cid[1], False, local_id,
                            sender.faxopt.get("ecm", "yes") == "yes", False, loop=loop)
        loop.receiver, loop.receiver_call = receiver, call
        if context != "faxd-inbound":
            receiver.newexten("Goto", f"faxd-inbound,{did},1")
        self._group.spawn(self._run_faxd_inbound, receiver, call)
        return loop

    def _loop_send(self, msg: Message, ours: Channel, loop: "_Loop", tech: str, legs: list[Channel],
                   on_answer=None) -> None:
        """The sending side of an on-net call: ``ours`` is answered when faxd-inbound's channel
        is, then runs SendFAX against it; ``legs`` are the channels between (the ;2 half, a
        Dial()ed trunk leg), hung up with the call."""
        receiver = loop.receiver
        gevent.wait([loop.answered, receiver.ended, ours.ended], count=1)
        if not loop.answered.is_set():
            # Refused (faxd's Hangup), or faxd-inbound's Wait ran out: the cause reaches every
            # channel of the call (core_unreal.c: the hangup cause of one half is set on the other).
            cause = ours.hangup_cause if ours.hung_up_by_manager else receiver.final_cause
            for leg in legs:
                leg.hangup(cause)
            self._dial_event("DialEnd", ours, ("DialStatus", "CANCEL" if ours.hung_up_by_manager else "NOANSWER"))
            self._originate_response(msg, None, False, 1)
            ours.hangup(cause)
            return
        if on_answer is not None:
            on_answer()
        ours.newstate(6)
        self._dial_event("DialEnd", ours, ("DialStatus", "ANSWER"))
        ours.application, ours.app_data = "SendFAX", msg.get("Data")
        self._fax_presets(ours, loop.local_id, receive=False)
        self._originate_response(msg, ours, True, 4)
        gevent.wait([loop.receiving, receiver.ended, ours.ended], count=1)
        if not loop.receiving.is_set() or ours.gone:
            mode = "audio"
            run = FaxRun("FAILED", "The call dropped prematurely", "The call dropped prematurely", "",
                         loop.local_id, 14400, "0x0", 0, mode)
        else:
            self._fax_start(ours, "send", loop.local_id, loop.files, t38=loop.t38)
            loop.sending.set()
            pair = loop.result.get()
            mode = "T38" if loop.t38 else "audio"
            run = pair[0] if pair else FaxRun("FAILED", "The call dropped prematurely",
                                              "The call dropped prematurely", "", loop.local_id, 14400,
                                              "0x0", 0, mode)
        if ours.hung_up_by_manager:
            ours.event("HangupRequest", "call,all", ("Cause", str(ours.hangup_cause)))
            self._fax_final(ours, run, loop.files, "SendFAX")
            ours.hangup(ours.hangup_cause)
            for leg in legs:
                leg.hangup(16)
            return
        # The receiving side hangs up after ReceiveFAX (faxd-control,receive: Hangup()).
        receiver.ended.wait()
        for leg in legs:
            leg.hangup(16)
        ours.event("HangupRequest", "call,all", ("Cause", "16"))
        self._fax_intermediate_hangup(ours, loop.local_id, mode)
        self._fax_final(ours, run, loop.files, "SendFAX")
        ours.hangup(16 if tech == "Local" else 0)


class _Loop:
    """An on-net fax: SendFAX on one channel of this Asterisk, ReceiveFAX (faxd-control) on
    another, the T.30 session between them."""

    def __init__(self, sender: Channel, files: list[str], send_opts: str, local_id: str, t38_capable: bool):
        self.sender = sender
        self.files = files
        self.send_opts = send_opts
        self.local_id = local_id
        self.t38_capable = t38_capable
        self.t38 = False
        self.receiver: Channel | None = None
        self.receiver_call: IncomingCall | None = None
        self.answered = gevent.event.Event()
        self.receiving = gevent.event.Event()     # ReceiveFAX started (T.38 decided)
        self.sending = gevent.event.Event()       # SendFAX started
        self.result = gevent.event.AsyncResult()  # (tx FaxRun, rx FaxRun), or None


@dataclass
class IncomingCall:
    did: str
    tiff: str | None
    caller_num: str
    caller_name: str
    t38: bool
    station_id: str
    ecm: bool
    hangup_before_decision: bool
    loop: _Loop | None = None
    channel: Channel | None = None
    result: FaxRun | None = None
    done: gevent.event.AsyncResult = field(default_factory=gevent.event.AsyncResult)


def _fax_run(stats, local_id: str, mode: str, sending: bool) -> FaxRun:
    ok = stats.completion_code == 0
    pages = stats.pages_tx if sending else stats.pages_rx
    text = stats.completion_text
    res = f"{stats.x_resolution}x{stats.y_resolution}" if pages else "0x0"
    return FaxRun(status="SUCCESS" if ok else "FAILED", error="" if ok else text,
                  status_string="OK" if ok else text, remote_station_id=stats.remote_station_id,
                  local_station_id=local_id, bit_rate=stats.bit_rate or 14400, resolution=res,
                  pages=pages, mode=mode)


def _real_lock():
    """A lock of the OS thread library (the DSP thread blocks on it; gevent's would not do)."""
    from gevent import monkey
    return monkey.get_original("_thread", "allocate_lock")()


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _parse_callerid(value: str) -> tuple[str, str]:
    m = re.fullmatch(r'\s*"?([^"<]*?)"?\s*<([^>]*)>\s*', value or "")
    if m:
        return m.group(2) or "<unknown>", m.group(1) or "<unknown>"
    return (value or "<unknown>"), "<unknown>"


def _split_args(value: str) -> list[str]:
    """Asterisk's argument split: commas separate, a backslash escapes (kept for unescape)."""
    out, cur, it = [], [], iter(value)
    for ch in it:
        if ch == "\\":
            cur.append(ch)
            cur.append(next(it, ""))
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p for p in out if p]


def main(argv=None) -> int:
    """``python -m faxd.testing.ami_emulator [--port 5038] [--rx-dir DIR]``: an emulated
    Asterisk to point ``faxd run`` at (FAXD_SWITCH=asterisk, FAXD_ASTERISK_DIAL=Local/{number}@fax)."""
    import argparse

    from faxd.green import patch
    patch()
    ap = argparse.ArgumentParser(prog="python -m faxd.testing.ami_emulator")
    ap.add_argument("--port", type=int, default=5038)
    ap.add_argument("--user", default="faxd")
    ap.add_argument("--secret", default="faxd")
    ap.add_argument("--rx-dir", default="/tmp", help="where the emulated far end keeps received faxes")
    ap.add_argument("--answer-all", action="store_true",
                    help="every number is a fax machine (default: the recorded dialplan's rx<digits> ...)")
    args = ap.parse_args(argv)
    emu = AMIEmulator({args.user: args.secret}, port=args.port, rx_dir=args.rx_dir)
    if args.answer_all:
        emu.far_end = lambda exten, _fe=emu.far_end: emu.far_ends.get(exten) or FarEnd("fax", station_id="EMULATED")
    emu.start()
    print(f"AMI emulator listening on {emu.url()}", flush=True)
    try:
        gevent.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""An ESL emulator: FreeSWITCH's Event Socket as the recordings show it, with real T.30 inside.

This module is the replay engine (calls, their scripts, api/bgapi); the wire (frames, the
command reader, one Session per connection) is faxd.testing.esl.wire.

``ESLEmulator`` listens on 127.0.0.1 for inbound ESL connections (auth, event subscriptions in
plain or json, filters, api/bgapi, sendmsg, myevents, linger, exit, disconnect notices) and runs
``originate ... &txfax(path)`` calls. A call replays the recorded event sequence of its scenario
(``recording.SCENARIOS``) with new uuids, times, numbers and paths, and with the fax figures
of a real T.30 session between the two legs (faxd's spandsp bindings, unpaced). The emulator's
dialplan maps the destination number to what the far end does:

``receive``             a fax machine answers and receives (T.38 when the caller requests it)
``socket``              FreeSWITCH hands the call to faxd's outbound-socket listener (``socket_target``)
``busy`` / ``reject:CAUSE``  the far end refuses (USER_BUSY / CAUSE)
``no_answer``           it rings until ``originate_timeout``
``no_fax``              it answers and stays silent (T.30 T0 timeout, code 2)
``hangup_after:N``      it hangs up during page N+1 (code 49)
``no_result``           as ``receive`` but the spandsp::txfaxresult event is never sent
``drop_esl:N``          every inbound ESL connection is cut after page N; the call goes on
``drop_esl_gone:N``     the same, and the call ends before a client can reconnect
Anything else answers NO_ROUTE_DESTINATION.
"""
from __future__ import annotations

import email.utils
import itertools
import logging
import os
import re
import socket
import time
import uuid as uuidlib

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import gevent.queue
import gevent.server
import gevent.socket

from faxd.switch import causes
from faxd.switch.freeswitch.esl import url_decode, url_encode
from faxd.testing.esl import recording
from faxd.testing.esl.fax import FaxSide, Timeline, run_fax
from faxd.testing.esl.wire import Session, frame_plain, notice

logger = logging.getLogger(__name__)

CHANNEL_NAME_HEADERS = ("Channel-Name", "Caller-Channel-Name", "variable_channel_name", "Other-Leg-Channel-Name")
_TIME_HEADERS = re.compile(r"^(Caller-.*-Time|variable_.*_uepoch)$")
_FAX_INPUTS = {"ident", "header", "use_ecm", "disable_v17", "enable_t38", "enable_t38_request", "timezone"}
_PAGE = ("spandsp::txfaxpageresult", "spandsp::rxfaxpageresult")


_DYNAMIC = {"Event-Sequence", "Event-Date-Timestamp", "Event-Date-Local", "Event-Date-GMT", "Job-Command-Arg",
            "Application-Response", "Hangup-Cause", "variable_hangup_cause", "variable_last_bridge_hangup_cause",
            "variable_hangup_cause_q850", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname"}


def parse_originate(arg: str) -> dict:
    """``{a=b,c='d e'}dial &app(arg)`` -> variables, dial target, app and arg."""
    arg = arg.strip()
    variables: dict[str, str] = {}
    if arg.startswith("{"):
        depth, i = 0, 0
        for i, c in enumerate(arg):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
        inner, arg = arg[1:i], arg[i + 1:]
        for part in re.split(r"(?<!\\),", inner):
            k, _, v = part.partition("=")
            v = v.replace("\\,", ",")
            if len(v) >= 2 and v[0] == v[-1] == "'":
                v = v[1:-1]
            if k:
                variables[k.strip()] = v
    target, _, rest = arg.partition(" ")
    rest = rest.strip()
    app = app_arg = ""
    m = re.match(r"&(\w+)\((.*)\)", rest)
    if m:
        app, app_arg = m.group(1), m.group(2)
    elif rest.startswith("&"):
        app = rest[1:].split()[0]
    parts = target.split("/")
    # loopback/<number>[/<context>[/<dialplan>]]; sofia/gateway/<gw>/<number>; sofia/<profile>/<number>@host
    number = parts[1] if parts[0] == "loopback" and len(parts) > 1 else parts[-1].split("@", 1)[0]
    return {"variables": variables, "target": target, "app": app, "app_arg": app_arg, "number": number}


class EmuCall:
    """One originated call: replays its scenario's script, with gates for faxd's commands."""

    def __init__(self, emu: "ESLEmulator", arg: str, job_uuid: str, api_waiter: gevent.event.AsyncResult | None):
        self.emu = emu
        self.arg = arg
        self.job_uuid = job_uuid
        self.api_waiter = api_waiter
        self.o = parse_originate(arg)
        v = self.o["variables"]
        self.a_uuid = v.get("origination_uuid") or str(uuidlib.uuid4())
        self.b_uuid = str(uuidlib.uuid4())
        self.number = self.o["number"]
        self.route = emu.routes.get(self.number, emu.routes.get("*", "no_route"))
        self.flow = self.route.split(":", 1)[0]
        self.commands: gevent.queue.Queue = gevent.queue.Queue()
        self.kill_cause: str | None = None
        self.answered = False
        self.done = gevent.event.Event()
        self.alive_a = False
        self.alive_b = False
        self.socket_session: Session | None = None
        self.fax: dict[str, Timeline | None] = {"a": None, "b": None}
        self.fax_state: dict[str, dict] = {"a": {}, "b": {}}
        self.pages_emitted: dict[str, int] = {}
        self.rx_vars: dict[str, str] = {}
        self.rx_path = os.path.join(emu.spool, f"rxfax-{self.b_uuid}.tif")
        self.cause = "NORMAL_CLEARING"
        self.bg_sent = False
        self._maps: dict[str, tuple] = {}
        self._start_us = int(time.time() * 1e6)
        self.cid_number = v.get("origination_caller_id_number", "0000000000")
        self.cid_name = v.get("origination_caller_id_name", "faxd")
        t = self.o["target"]
        self.a_name = t + ("-a" if t.startswith("loopback/") else "")
        self.b_name = (f"loopback/{self.number}-b" if t.startswith("loopback/")
                       else f"sofia/internal/{self.cid_number}@127.0.0.1")

    # -- substitution of recorded values

    def _map(self, script: recording.Script):
        m = self._maps.get(script.name)
        if m is not None:
            return m
        f = script.facts
        exact = {}
        names_a = {v for e in script.entries if e.role == "a" for k, v in e.headers if k == "Channel-Name"}
        names_b = {v for e in script.entries if e.role == "b" for k, v in e.headers if k == "Channel-Name"}
        for n in names_a:
            exact[n] = self.a_name
        for n in names_b:
            exact[n] = self.b_name
        v = self.o["variables"]
        for key, new in (("a_cid_number", self.cid_number), ("b_cid_number", self.cid_number),
                         ("a_cid_name", self.cid_name), ("a_dest", self.number), ("b_dest", self.number),
                         ("a_ident", url_decode(v.get("fax_ident", ""))),
                         ("b_ident", url_decode(self.rx_vars.get("fax_ident", self.emu.receiver_ident))),
                         ("tx_path", self.o["app_arg"]), ("rx_path", self.rx_path)):
            if f.get(key) and new:
                exact[f[key]] = new
        subs = {script.a_uuid: self.a_uuid, script.b_uuid: self.b_uuid, script.core_uuid: self.emu.core_uuid,
                script.job_uuid: self.job_uuid}
        for key, new in (("tx_path", self.o["app_arg"]), ("rx_path", self.rx_path)):
            if f.get(key) and new:
                subs[f[key]] = new
        subs = {k: val for k, val in subs.items() if k}
        rx = re.compile("|".join(re.escape(k) for k in sorted(subs, key=len, reverse=True)))
        m = (exact, subs, rx, script.start_us)
        self._maps[script.name] = m
        return m

    def render(self, script: recording.Script, e: recording.Entry, cause: str | None = None) -> tuple[list, dict, str]:
        exact, subs, rx, start_us = self._map(script)
        now = time.time()
        now_us = int(now * 1e6)
        state = self.fax_state.get(e.role or "", {})
        out = []
        enc = []
        skip_fax_values = not self.emu.dsp
        for item in self.emu.template(script, e, exact, rx):
            if item[0] is not None:
                out.append((item[1], item[2]))
                enc.append(item[0])
                continue
            _, k, v = item
            if k == "Event-Sequence":
                v = str(next(self.emu.sequence))
            elif k == "Event-Date-Timestamp":
                v = str(now_us)
            elif k == "Event-Date-Local":
                v = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            elif k == "Event-Date-GMT":
                v = email.utils.formatdate(now, usegmt=True)
            elif k == "Job-Command-Arg":
                v = self.arg
            elif k == "Application-Response" and self.missing_file and e.role == "a" and e.app == "txfax":
                v = self.app_response
            elif _TIME_HEADERS.match(k):
                if v.isdigit() and v != "0":
                    v = str(int(v) - start_us + self._start_us)
            elif not skip_fax_values and (k.startswith("fax-") or k.startswith("variable_fax_")):
                if k[:13] == "variable_fax_" and k[13:] not in _FAX_INPUTS and self.fax.get(e.role) is None:
                    continue    # mod_spandsp never ran on this leg: none of its output variables exist
                name = k if k.startswith("fax-") else "fax-" + k[13:].replace("_", "-")
                if name in state:
                    v = state[name]
                elif v in exact:
                    v = exact[v]
            elif cause is not None and k in ("Hangup-Cause", "variable_hangup_cause", "variable_last_bridge_hangup_cause"):
                v = cause
            elif cause is not None and k == "variable_hangup_cause_q850":
                v = str(causes.q850(cause))
            elif v in exact:
                v = exact[v]
            elif k == "FreeSWITCH-Hostname" or k == "FreeSWITCH-Switchname":
                v = self.emu.hostname
            else:
                if subs and rx.search(v):
                    v = rx.sub(lambda mm: subs[mm.group(0)], v)
            if v == "":
                continue
            out.append((k, v))
            enc.append(f"{k}: {url_encode(v)}\n".encode())
        hmap = {}
        for k, v in out:
            if k not in hmap:
                hmap[k] = v
        self._enc = enc
        return out, hmap, e.body

    # -- emission

    dead = False          # the emulated FreeSWITCH crashed: the call is gone without a word

    def emit(self, script: recording.Script, e: recording.Entry, cause: str | None = None, body: str | None = None) -> None:
        if self.dead:
            return
        if self.emu.nobody_wants(e, self.a_uuid if e.role == "a" else self.b_uuid if e.role == "b" else ""):
            headers, hmap, ebody = None, None, e.body     # nobody listens: keep the state, skip the work
        else:
            headers, hmap, ebody = self.render(script, e, cause)
        if e.name == "BACKGROUND_JOB":
            ebody = body if body is not None else (f"+OK {self.a_uuid}\n" if self.answered
                                                   else f"-ERR {cause or self.cause}\n")
            self.bg_sent = True
            if self.api_waiter is not None and not self.api_waiter.ready():
                self.api_waiter.set(ebody)
        if e.role == "a" and e.name == "CHANNEL_ANSWER":
            self.answered = True
        if e.role == "a" and e.name == "CHANNEL_CREATE":
            self.alive_a = True
        if e.role == "b" and e.name == "CHANNEL_CREATE":
            self.alive_b = True
        if e.name == "CHANNEL_DESTROY":
            if e.role == "a":
                self.alive_a = False
            elif e.role == "b":
                self.alive_b = False
        if headers is not None:
            self.emu.broadcast(headers, hmap, ebody, self._enc)
        if (e.role == "b" and e.name == "CHANNEL_HANGUP_COMPLETE" and self.socket_session is not None
                and self.socket_session.linger is not None):
            s = self.socket_session
            s.write(notice("", self.b_uuid, "linger", {"Channel-Name": self.b_name,
                                                        "Linger-Time": str(s.linger)}))

    def set_fax_values(self, role: str, values: dict | None) -> None:
        if values:
            self.fax_state[role].update(values)

    def fax_entry_values(self, e: recording.Entry, page_index: dict) -> None:
        """Before emitting a spandsp event: load that phase's real values into the role's state."""
        if not self.emu.dsp:
            return
        t = self.fax.get(e.role)
        if t is None:
            return
        if e.key.endswith("negociateresult"):
            self.set_fax_values(e.role, t.negotiated)
        elif e.key.endswith("pageresult"):
            i = page_index.get(e.role, 0)
            page_index[e.role] = i + 1
            self.pages_emitted[e.role] = i + 1
            if i < len(t.pages):
                self.set_fax_values(e.role, t.pages[i])
        elif e.key.endswith("faxresult"):
            self.set_fax_values(e.role, t.result)

    # -- the flows

    def _fetch_http(self) -> None:
        """``${http_get(URL)}`` as txfax's argument: mod_http_cache fetches it to a local file."""
        arg = self.o["app_arg"]
        m = re.fullmatch(r"\$\{http_get\((.+)\)\}", arg)
        if not m:
            return
        import urllib.request
        local = os.path.join(self.emu.spool, f"http_cache-{self.a_uuid}.tif")
        try:
            with urllib.request.urlopen(m.group(1), timeout=10) as r, open(local, "wb") as f:
                f.write(r.read())
        except OSError:
            local = ""          # http_get fails: txfax gets no file
        self.o["app_arg"] = local
        self.fetched = local

    fetched = ""

    def run(self) -> None:
        self.emu.calls_by_uuid[self.a_uuid] = self
        try:
            self._fetch_http()
            flow = self.flow
            if flow == "socket":
                self.run_socket()
            else:
                self.run_script()
        except Exception:   # greenlet boundary
            logger.exception("emulated call %s failed", self.a_uuid)
        finally:
            if self.api_waiter is not None and not self.api_waiter.ready():
                self.api_waiter.set(f"-ERR {self.cause}\n")
            self.emu.calls_by_uuid.pop(self.a_uuid, None)
            self.emu.calls_by_uuid.pop(self.b_uuid, None)
            self.done.set()

    def _tx_side(self) -> FaxSide:
        return FaxSide.from_variables(self.o["app_arg"], self.o["variables"])

    def _t38(self, receiver_vars: dict) -> bool:
        v = self.o["variables"]
        caller = v.get("fax_enable_t38_request", "false") == "true" and v.get("fax_enable_t38", "true") != "false"
        callee = receiver_vars.get("fax_enable_t38", "true") != "false"
        return caller and callee and self.emu.t38

    def _run_fax(self, rx_vars: dict | None, rx_path: str | None, hangup_after: int = 0,
                 max_seconds: float | None = None) -> None:
        tx = self._tx_side()
        if not os.path.exists(tx.path):
            self.fax = {"a": None, "b": None}
            self.missing_file = True
            return
        rx = None
        if rx_vars is not None:
            rx = FaxSide.from_variables(rx_path, rx_vars)
            if not rx.station_id:
                rx.station_id = self.emu.receiver_ident
        t38 = rx_vars is not None and self._t38(rx_vars)
        if self.emu.dsp:
            self.fax = {"a": None, "b": None}
            a, b = self.emu.run_fax(tx, rx, t38=t38, hangup_after_pages=hangup_after,
                                    max_seconds=max_seconds or self.emu.max_fax_seconds)
            self.fax = {"a": a, "b": b}

    missing_file = False
    app_response = ""

    def script_for_route(self) -> tuple[list[tuple[recording.Script, recording.Entry]], str | None, dict]:
        """The entries to replay, the hangup cause override and options, for this call's route."""
        r = self.route
        flow, _, param = r.partition(":")
        opts: dict = {}
        if flow == "receive" or flow in ("no_result", "drop_esl", "drop_esl_gone", "crash"):
            script = recording.load("t38" if self._t38({}) and flow == "receive" else "audio")
            entries = [(script, e) for e in script.entries]
            if flow == "no_result":
                entries = [(s, e) for s, e in entries if e.key != "spandsp::txfaxresult"]
            if flow == "crash":
                opts["crash_after_page"] = int(param or 1)
            if flow.startswith("drop_esl"):
                opts["drop_after_page"] = int(param or 1)
                opts["wait_reconnect"] = flow == "drop_esl"
            opts["fax"] = "receive"
            return entries, None, opts
        if flow == "hangup_after" and int(param or 0) == 0:
            # The far end answers and hangs up before any fax tone (telephony reference 4.1 case 2).
            script = recording.load("remote_hangup")
            opts["fax"] = "dropped_line"
            return [(script, e) for e in script.entries], None, opts
        if flow == "hangup_after":
            k = int(param or 1)
            audio = recording.load("audio")
            tail = recording.load("remote_hangup")
            cut = 0
            seen = 0
            for i, e in enumerate(audio.entries):
                if e.role == "a" and e.key == "spandsp::txfaxpageresult":
                    seen += 1
                    if seen == k:
                        cut = i
                        break
            head = [(audio, e) for e in audio.entries[:cut + 1]
                    if not (e.role == "b" and e.key == "spandsp::rxfaxpageresult" and False)]
            start = next(i for i, e in enumerate(tail.entries)
                         if e.role == "b" and e.name == "CHANNEL_EXECUTE" and e.app == "hangup")
            rest = [(tail, e) for e in tail.entries[start:]]
            opts["fax"] = "receive"
            opts["hangup_after"] = k
            return head + rest, None, opts
        if flow in ("busy", "reject"):
            script = recording.load("no_route")
            cause = "USER_BUSY" if flow == "busy" else (param or "CALL_REJECTED")
            self.cause = cause
            return [(script, e) for e in script.entries], cause, opts
        if flow == "no_answer":
            script = recording.load("no_answer")
            self.cause = "NO_ANSWER"
            return [(script, e) for e in script.entries], None, opts
        if flow == "no_fax":
            script = recording.load("no_fax")
            opts["fax"] = "silent"
            return [(script, e) for e in script.entries], None, opts
        script = recording.load("no_route")
        self.cause = "NO_ROUTE_DESTINATION"
        return [(script, e) for e in script.entries], None, opts

    def _expand_pages(self, entries):
        """Page events: one rx/tx pair per page the T.30 session actually sent."""
        if not self.emu.dsp or self.fax.get("a") is None:
            return entries
        n_tx = len(self.fax["a"].pages)
        n_rx = len(self.fax["b"].pages) if self.fax.get("b") else 0
        idx = [i for i, (s, e) in enumerate(entries) if e.key in _PAGE]
        if not idx:
            return entries
        first, last = idx[0], idx[-1]
        block = entries[first:last + 1]
        if any(e.key not in _PAGE for s, e in block):
            return entries
        tx_t = [(s, e) for s, e in block if e.role == "a"]
        rx_t = [(s, e) for s, e in block if e.role == "b"]
        new = []
        for i in range(max(n_tx, n_rx)):
            if i < n_rx and rx_t:
                new.append(rx_t[min(i, len(rx_t) - 1)])
            if i < n_tx and tx_t:
                new.append(tx_t[min(i, len(tx_t) - 1)])
        return entries[:first] + new + entries[last + 1:]

    def run_script(self) -> None:
        entries, cause, opts = self.script_for_route()
        if opts.get("fax") == "receive":
            self._run_fax({}, self.rx_path, opts.get("hangup_after", 0))
        elif opts.get("fax") == "silent":
            self._run_fax(None, None)
        elif opts.get("fax") == "dropped_line":
            self._run_fax(None, None, max_seconds=4.0)
        if self.missing_file:
            entries = self._missing_file(entries)
        else:
            entries = self._expand_pages(entries)
        page_index: dict = {}
        a_pages = 0
        drop_after = opts.get("drop_after_page")
        crash_after = opts.get("crash_after_page")
        prev_ts = None
        for script, e in entries:
            if self.dead:
                return
            if self.kill_cause is not None:
                self._kill_tail()
                return
            if self.emu.pace and prev_ts is not None and e.timestamp:
                gevent.sleep(max(0.0, (e.timestamp - prev_ts) / 1e6 * self.emu.pace))
            if e.timestamp:
                prev_ts = e.timestamp
            if e.key.startswith("spandsp::"):
                self.fax_entry_values(e, page_index)
            self.emit(script, e, cause)
            if e.role == "a" and e.key == "spandsp::txfaxpageresult":
                a_pages += 1
                if crash_after and a_pages == crash_after:
                    # FreeSWITCH dies with page ``crash_after`` confirmed and the next page (or
                    # phase E) still to come: nothing more is said about this call.
                    self.emu.crash()
                    return
                if drop_after and a_pages == drop_after:
                    self.emu.drop_connections(accept=opts.get("wait_reconnect", True))
                    if opts.get("wait_reconnect"):
                        self.emu.wait_subscriber(timeout=10)
            gevent.sleep(0)
        if drop_after and not opts.get("wait_reconnect"):
            self.emu.accepting = True

    def _missing_file(self, entries):
        """txfax with no file: no spandsp events; EXECUTE_COMPLETE says why (reference 3.1)."""
        out = [(s, e) for s, e in entries if not (e.role == "a" and e.key.startswith("spandsp::"))]
        self.app_response = "Cannot send non-existant fax file"
        return out

    def _kill_tail(self) -> None:
        """uuid_kill: hang up A (and B); before answer the originate fails with the cause."""
        cause = self.kill_cause or "NORMAL_CLEARING"
        if not self.answered:
            script = recording.load("no_answer")
            start = next(i for i, e in enumerate(script.entries) if e.role == "a" and e.name == "CHANNEL_HANGUP")
            self.cause = cause
            for e in script.entries[start:]:
                if e.role == "b" and not self.alive_b:
                    continue
                self.emit(script, e, cause if e.role == "a" else "ORIGINATOR_CANCEL")
            return
        script = recording.load("remote_hangup")
        start = next(i for i, e in enumerate(script.entries) if e.role == "a" and e.name == "CHANNEL_HANGUP")
        self.dropped("a")
        for e in script.entries[start:]:
            if e.role == "b" and not self.alive_b:
                continue
            self.emit(script, e, cause)
        if self.alive_b:
            b_tail = [e for e in script.entries if e.role == "b" and e.name in
                      ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY")]
            for e in b_tail:
                self.emit(script, e, "NORMAL_CLEARING")

    def dropped(self, role: str = "a") -> None:
        """The line dropped before T.30 ended: mod_spandsp's phase E says CALLDROPPED (49)."""
        t = self.fax.get(role)
        sent = self.pages_emitted.get(role, 0)
        if t is not None:
            t = Timeline(t.negotiated, t.pages[:sent], None)
        last = t.pages[-1] if t is not None and t.pages else {}
        neg = (t.negotiated if t is not None else None) or {}
        state = {k: "" for k in ("fax-transfer-rate", "fax-ecm-used", "fax-t38-status", "fax-remote-station-id",
                                 "fax-image-resolution", "fax-image-size", "fax-bad-rows",
                                 "fax-document-total-pages", "fax-local-station-id")}
        state.update(neg)
        state.update(last)
        state.update({"fax-success": "0", "fax-result-code": "49", "fax-result-text": "The call dropped prematurely",
                      "fax-document-transferred-pages": str(len(t.pages) if t is not None else 0)})
        self.fax_state[role] = state
        if t is None:
            t = Timeline()
        t.result = dict(state)
        self.fax[role] = t

    def kill(self, cause: str) -> None:
        self.kill_cause = cause
        try:
            self.commands.put_nowait({"call-command": "hangup", "hangup-cause": cause, "_kill": "1"})
        except gevent.queue.Full:
            pass

    # -- outbound socket flow

    def connect_block(self) -> bytes:
        script = recording.load("socket")
        fake = recording.Entry("b", "CHANNEL_DATA", "CHANNEL_DATA", "", recording.connect_reply())
        headers, hmap, _ = self.render(script, fake)
        lines = []
        for k, v in headers:
            if k in ("Content-Type", "Socket-Mode", "Control"):
                lines.append(f"{k}: {v}")
            elif k == "Reply-Text":
                lines.append(f"{k}: {url_encode(v)}")
            else:
                lines.append(f"{k}: {url_encode(v)}")
        return ("\n".join(lines) + "\n\n").encode()

    def socket_closed(self) -> None:
        if self.flow == "socket" and not self.done.is_set():
            self.commands.put({"call-command": "hangup", "hangup-cause": "NORMAL_CLEARING", "_closed": "1"})

    def run_socket(self) -> None:
        script = recording.load("socket")
        ents = script.entries
        park = next(i for i, e in enumerate(ents) if e.role == "b" and e.name == "CHANNEL_PARK")
        segments = self._segments(ents, park + 1)
        for e in ents[:park]:
            self.emit(script, e)
        parked = False
        target = self.emu.socket_target
        if len(self.route.split(":")) == 3:
            _, host, port = self.route.split(":")
            target = (host, int(port))
        try:
            sock = gevent.socket.create_connection(target, timeout=5)
        except OSError:
            self._hangup_from_socket(script, segments, "DESTINATION_OUT_OF_ORDER", execute=False)
            return
        session = Session(self.emu, sock, self)
        self.socket_session = session
        self.emu.sessions.add(session)
        self.emu.group.spawn(session.run)
        page_index: dict = {}
        while True:
            try:
                cmd = self.commands.get(timeout=self.emu.socket_timeout)
            except gevent.queue.Empty:
                cmd = {"call-command": "hangup", "hangup-cause": "RECOVERY_ON_TIMER_EXPIRE"}
            if not parked:
                # async mode parks the channel once the socket is up; faxd sees it after myevents.
                parked = True
                self.emit(script, ents[park])
            kind = cmd.get("call-command", "execute")
            if kind == "hangup" or (kind == "execute" and cmd.get("execute-app-name") == "hangup"):
                cause = cmd.get("hangup-cause") or cmd.get("execute-app-arg") or "NORMAL_CLEARING"
                if cmd.get("_kill") and self.kill_cause is None:
                    self.kill_cause = cause
                self._hangup_from_socket(script, segments, cause, execute=kind == "execute", page_index=page_index)
                break
            app = cmd.get("execute-app-name", "")
            arg = cmd.get("execute-app-arg", "")
            if app == "rxfax":
                if not self.answered:
                    self._emit_segment(script, segments["answer"], page_index)
                self.rx_path = self.emu.host_path(arg) if arg else self.rx_path
                self._maps.clear()
                self._run_fax(self.rx_vars, self.rx_path)
                seg = self._expand_pages(segments["rxfax"])
                self._emit_segment(script, seg, page_index)
            elif app == "answer":
                if not self.answered:
                    self._emit_segment(script, segments["answer"], page_index)
            elif app == "set":
                k, _, val = arg.partition("=")
                self.rx_vars[k] = val
                self._maps.clear()
                self._emit_generic(script, segments["set"], arg)
            elif app in segments and app != "hangup":
                self._emit_segment(script, segments[app], page_index)
            else:
                self._emit_generic(script, segments["set"], arg, app)
        # After the hangup: wait for faxd's "exit" (linger) or its close.
        if session.linger == -1:
            session.closed_event.wait(self.emu.socket_timeout)
        if not session.closed:
            session.close()

    def _segments(self, ents, start: int) -> dict:
        """B's app segments after the park: answer, set, playback, rxfax, hangup (to the end)."""
        marks = []
        for i in range(start, len(ents)):
            e = ents[i]
            if e.role == "b" and e.name == "CHANNEL_EXECUTE":
                j = i
                while j > start and ents[j - 1].name == "PRIVATE_COMMAND" and ents[j - 1].role == "b":
                    j -= 1
                marks.append((e.app, j))
        segs = {}
        script = recording.load("socket")
        for n, (app, j) in enumerate(marks):
            end = marks[n + 1][1] if n + 1 < len(marks) else len(ents)
            segs.setdefault(app, [(script, e) for e in ents[j:end]])
        return segs

    def _emit_segment(self, script, seg, page_index) -> None:
        for s, e in seg:
            if e.key.startswith("spandsp::"):
                if self.fax.get(e.role) is None and self.emu.dsp:
                    continue
                self.fax_entry_values(e, page_index)
            self.emit(s, e)

    def _emit_generic(self, script, seg, arg: str, app: str = "set") -> None:
        for s, e in seg:
            if e.role != "b" or e.name not in ("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"):
                continue
            headers, hmap, body = self.render(s, e)
            out = []
            for k, v in headers:
                if k == "Application":
                    v = app
                elif k == "Application-Data":
                    v = arg
                out.append((k, v))
            if app == "set" and "=" in arg and e.name == "CHANNEL_EXECUTE_COMPLETE":
                name, _, val = arg.partition("=")
                if not any(k == f"variable_{name}" for k, _ in out):
                    out.append((f"variable_{name}", val))
            hmap = {}
            for k, v in out:
                hmap.setdefault(k, v)
            self.emu.broadcast(out, hmap, body)

    def _hangup_from_socket(self, script, segments, cause: str, execute: bool, page_index=None) -> None:
        seg = segments.get("hangup", [])
        if not execute:
            seg = [(s, e) for s, e in seg if not (e.role == "b" and e.app == "hangup")]
        if not self.answered:
            # Refused before answer: the caller's originate fails with the cause.
            for s, e in seg:
                if e.role == "b" and e.key.startswith("spandsp::"):
                    continue
                if e.role == "b":
                    self.emit(s, e, cause)
            self.cause = cause
            tail = recording.load("no_route")
            start = next(i for i, e in enumerate(tail.entries) if e.role == "a" and e.name == "CHANNEL_HANGUP")
            for e in tail.entries[start:]:
                if e.role == "a" or e.role is None:
                    self.emit(tail, e, cause)
            return
        if self.fax.get("a") is None or not self.fax["a"].result:
            # Hung up before or without rxfax: the sender's T.30 ends as the line drops.
            self.dropped("a")
        for s, e in seg:
            b_cause = cause if e.role == "b" else None
            if e.key.startswith("spandsp::"):
                if e.role == "b":
                    continue
                self.fax_entry_values(e, page_index or {})
            self.emit(s, e, b_cause)


class ESLEmulator:
    """A FreeSWITCH Event Socket on 127.0.0.1 whose calls run real T.30 with spandsp."""

    def __init__(self, password: str = "ClueCon", host: str = "127.0.0.1", port: int = 0, *,
                 routes: dict[str, str] | None = None, socket_target: tuple[str, int] | None = None,
                 spool: str | None = None, dsp: bool = True, pace: float = 0.0, t38: bool = True,
                 receiver_ident: str = "FS-RECEIVER", queue_limit: int = 100000, lost_limit: int = 500,
                 sndbuf: int | None = None, socket_timeout: float = 30.0, max_fax_seconds: float = 300.0,
                 hostname: str = "vm", root: str | None = None):
        self.password = password
        self._bind = (host, port)
        self.routes = dict(routes if routes is not None else {"*": "receive"})
        self.socket_target = socket_target
        self.spool = spool or os.path.join(os.environ.get("TMPDIR", "/tmp"), "faxd-esl-emulator")
        os.makedirs(self.spool, exist_ok=True)
        self.dsp = dsp
        self.pace = pace
        self.t38 = t38
        self.receiver_ident = receiver_ident
        self.queue_limit = queue_limit
        self.lost_limit = lost_limit
        self.sndbuf = sndbuf
        self.socket_timeout = socket_timeout
        self.max_fax_seconds = max_fax_seconds
        self.hostname = hostname
        # A FreeSWITCH on another host: the paths faxd names (rxfax's file, http_put's) are on
        # that host's disk, here the directory ``root``; None: this machine's (shared spool).
        self.root = root
        self.slow_writes = 0.0
        self.core_uuid = str(uuidlib.uuid4())
        self.sequence = itertools.count(1000)
        self.group = gevent.pool.Group()
        self.sessions: set[Session] = set()
        self.calls_by_uuid: dict[str, EmuCall] = {}
        self.calls: list[EmuCall] = []
        self.accepting = True
        self._subscribed = gevent.event.Event()
        self._server: gevent.server.StreamServer | None = None
        self._dsp: dict = {}
        self._templates: dict = {}
        self.running = gevent.event.Event()
        self.running.set()
        self.connections = 0

    # -- lifecycle

    def start(self) -> "ESLEmulator":
        self._server = gevent.server.StreamServer(self._bind, self._handle, spawn=self.group.spawn)
        self._server.start()
        return self

    def run_fax(self, tx: FaxSide, rx: FaxSide | None, **kw):
        """T.30 in a greenlet of its own: a killed call never frees spandsp state under the DSP thread."""
        from faxd.spandsp import Control
        control = Control()
        g = gevent.spawn(run_fax, tx, rx, control=control, **kw)
        self._dsp[g] = control
        try:
            return g.get()
        finally:
            self._dsp.pop(g, None)

    def stop(self) -> None:
        for g, control in list(self._dsp.items()):
            control.cancel()
        gevent.joinall(list(self._dsp), timeout=10)
        if self._server is not None:
            self._server.stop(timeout=1)
        for s in list(self.sessions):
            s.cut()
        self.group.kill(block=True, timeout=2)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address[:2]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"esl://:{self.password}@{host}:{port}"

    def _handle(self, sock, addr) -> None:
        if not self.accepting:
            sock.close()
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        self.connections += 1
        s = Session(self, sock)
        self.sessions.add(s)
        s.run()

    # -- events

    def nobody_wants(self, e, uid: str) -> bool:
        quick = {"Event-Name": e.name, "Unique-ID": uid}
        if e.name == "CUSTOM":
            quick["Event-Subclass"] = e.key
        for s in self.sessions:
            if s.filters or (s.authed and s.wants(quick)):
                return False
        return True

    def broadcast(self, headers: list, hmap: dict, body: str, enc: list | None = None) -> None:
        plain = None
        for s in list(self.sessions):
            if enc is not None and s.fmt == "plain" and not s.closed and s.authed and s.wants(hmap):
                if plain is None:
                    plain = frame_plain(enc, body)
                s.offer(headers, hmap, body, plain)
            else:
                s.offer(headers, hmap, body)

    def template(self, script, e, exact: dict, rx) -> list:
        """A recorded event split into headers that never change (pre-encoded) and those that do."""
        key = (script.name, id(e))
        t = self._templates.get(key)
        if t is not None:
            return t
        t = []
        for k, v in e.headers:
            if k == "Content-Length":
                continue
            dynamic = (k in _DYNAMIC or _TIME_HEADERS.match(k) or k.startswith("fax-") or k.startswith("variable_fax_")
                       or v in exact or rx.search(v) or v == "")
            if dynamic:
                t.append((None, k, v))
            else:
                t.append((f"{k}: {url_encode(v)}\n".encode(), k, v))
        self._templates[key] = t
        return t

    def stall(self) -> None:
        """Stop answering commands (a FreeSWITCH that hangs); events already running go on."""
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def drop_connections(self, accept: bool = True) -> None:
        """Cut every inbound ESL connection (no notice); ``accept=False`` refuses reconnects."""
        self._subscribed.clear()
        self.accepting = accept
        for s in list(self.sessions):
            if s.call is None:
                s.cut()

    def crash(self) -> None:
        """Failure injection: the FreeSWITCH process dies. Every connection (inbound and the
        outbound sockets of calls) is cut, new ones are refused, every call is gone without
        another event (``uuid_exists`` says false after ``restart()``); T.30 sessions stop."""
        self.accepting = False
        self._subscribed.clear()
        for call in self.calls:
            call.dead = True
        for control in list(self._dsp.values()):
            control.cancel()
        # What FreeSWITCH had written before it died is on the wire (its writes are
        # synchronous): the emulator's send queues go out first, then the connections drop.
        live = list(self.sessions)
        for sess in live:
            sess._close_after_flush()
        for sess in live:
            sess.closed_event.wait(1.0)
            sess.cut()
        self.calls_by_uuid.clear()

    def restart(self) -> None:
        """After ``crash()``: a new FreeSWITCH on the same address, with no calls."""
        self.core_uuid = str(uuidlib.uuid4())
        self.accepting = True

    def wait_subscriber(self, timeout: float) -> bool:
        """Until an inbound client has subscribed to BACKGROUND_JOB again (it reconnected)."""
        with gevent.Timeout(timeout, False):
            while True:
                if any(s.call is None and s.authed and ("BACKGROUND_JOB" in s.events or s.all)
                       and not s.closed for s in self.sessions):
                    return True
                gevent.sleep(0.01)
        return False

    # -- api

    def run_api(self, line: str, session: Session | None = None) -> str:
        cmd, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if cmd == "originate":
            waiter = gevent.event.AsyncResult()
            self._start_call(rest, str(uuidlib.uuid4()), waiter)
            return waiter.get()
        if cmd == "uuid_exists":
            call = self.calls_by_uuid.get(rest)
            alive = call is not None and ((rest == call.a_uuid and call.alive_a) or (rest == call.b_uuid and call.alive_b))
            return "true" if alive else "false"
        if cmd == "uuid_kill":
            uid, _, cause = rest.partition(" ")
            call = self.calls_by_uuid.get(uid)
            if call is None or not (call.alive_a or call.alive_b):
                return "-ERR No such channel!\n"
            call.kill(cause.strip() or "NORMAL_CLEARING")
            return "+OK\n"
        if cmd == "uuid_getvar":
            uid, _, var = rest.partition(" ")
            call = self.calls_by_uuid.get(uid)
            if call is None:
                return "-ERR No such channel!\n"
            return call.o["variables"].get(var.strip(), "_undef_")
        if cmd == "show" and rest.startswith("channels"):
            rows = ["uuid,direction,name,state"]
            for call in list(self.calls_by_uuid.values()):
                if call.alive_a and call.a_uuid not in {r.split(",")[0] for r in rows}:
                    rows.append(f"{call.a_uuid},outbound,{call.a_name},CS_EXECUTE")
            return "\n".join(rows) + f"\n\n{len(rows) - 1} total.\n"
        if cmd == "http_put":
            url, _, path = rest.partition(" ")
            return self.http_put(url, path.strip())
        if cmd == "status":
            return f"UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12-release-emulated) is ready\n{len(self.calls_by_uuid)} session(s)\n"
        if cmd == "version":
            return "FreeSWITCH Version 1.10.12-release~64bit (emulated)\n"
        if not cmd:
            return "-ERR no reply\n"
        return f"-ERR {cmd} Command not found!\n"

    def http_put(self, url: str, path: str) -> str:
        """mod_http_cache's ``http_put <url> <file>``: the file PUT to the URL, answered
        ``+OK <status>`` for 200/201/202/204, else ``-ERR <status>`` (0: no file, no answer)."""
        import urllib.error
        import urllib.request
        try:
            with open(self.host_path(path), "rb") as f:
                data = f.read()
        except OSError:
            return "-ERR 0\n"
        request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": "image/tiff"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = 0
        if status in (200, 201, 202, 204):
            self.uploads += 1
            return f"+OK {status}\n"
        return f"-ERR {status}\n"

    uploads = 0     # files http_put delivered

    def host_path(self, path: str) -> str:
        """Where a path named by faxd is on this emulated host's disk."""
        return os.path.join(self.root, path.lstrip("/")) if self.root else path

    def run_bgapi(self, line: str, job: str) -> None:
        cmd, _, rest = line.strip().partition(" ")
        if cmd == "originate":
            self._start_call(rest.strip(), job, None)
            return
        out = self.run_api(line)
        headers = self._bg_headers(job, cmd, rest.strip())
        hmap = dict(headers)
        self.broadcast(headers, hmap, out)

    def _bg_headers(self, job: str, cmd: str, arg: str) -> list:
        now = time.time()
        h = [("Event-Name", "BACKGROUND_JOB"), ("Core-UUID", self.core_uuid),
             ("FreeSWITCH-Hostname", self.hostname), ("FreeSWITCH-Switchname", self.hostname),
             ("FreeSWITCH-IPv4", "192.0.2.2"), ("FreeSWITCH-IPv6", "fd00::2"),
             ("Event-Date-Local", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))),
             ("Event-Date-GMT", email.utils.formatdate(now, usegmt=True)),
             ("Event-Date-Timestamp", str(int(now * 1e6))), ("Event-Calling-File", "mod_event_socket.c"),
             ("Event-Calling-Function", "api_exec"), ("Event-Calling-Line-Number", "1575"),
             ("Event-Sequence", str(next(self.sequence))), ("Job-UUID", job), ("Job-Command", cmd)]
        if arg:
            h.append(("Job-Command-Arg", arg))
        return h

    def _start_call(self, arg: str, job: str, waiter) -> EmuCall:
        call = EmuCall(self, arg, job, waiter)
        self.calls.append(call)
        self.calls_by_uuid[call.a_uuid] = call
        self.calls_by_uuid[call.b_uuid] = call
        self.group.spawn(call.run)
        return call

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with gevent.Timeout(timeout, False):
            for call in list(self.calls):
                call.done.wait()
            return True
        return False

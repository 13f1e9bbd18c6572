"""Originate: Local pairs, PJSIP trunks and loops, site Dial() contexts, then the Originate's
application against the far end's dialplan (the recorded ``fax`` context)."""
from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING

import gevent

from faxd.switch.asterisk.ami import Message
from faxd.switch.asterisk.commands import unescape_app_arg
from faxd.testing.ami_emulator.model import QOS, Channel, FarEnd, FaxRun, _int, _parse_callerid, _split_args

if TYPE_CHECKING:
    from faxd.testing.ami_emulator.wire import _Session

logger = logging.getLogger(__name__)


class Originate:
    """AMIEmulator's outbound calls."""

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
            loop = self._loop_peer(msg, one, endpoint, exten, peer_ctx)

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
            call_loop = self._loop_peer(msg, ch, endpoint, number, peer_ctx)
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
        if far.kind in ("none", "busy", "reject") or ch.hung_up_by_manager:
            # res_pjsip.c, ast_sip_hangup_sip2cause: 486 -> 17, 403 -> 21, 404 -> 1.
            cause, tech = {"busy": (17, "486"), "reject": (21, "403")}.get(far.kind, (1, "404"))
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

"""Inbound calls: a caller's fax machine dials a DID routed to faxd-inbound
(dialplan/asterisk/extensions_faxd.conf), and on-net calls from this Asterisk back into it."""
from __future__ import annotations

import logging

import gevent

from faxd.switch.asterisk.ami import Message
from faxd.testing.ami_emulator.model import Channel, FaxRun, IncomingCall, _fax_run, _Loop

logger = logging.getLogger(__name__)


class Inbound:
    """AMIEmulator's calls into faxd."""

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
            self._undecided(ch, call, priority=5)
            return
        if decision[1] == "answer":
            # An answer-only decision (faxd before one Redirect per decision): answer, wait.
            ch.context, ch.exten = decision[0], "answer"
            ch.newexten("Answer", "", priority=1)
            self._answer(ch, call)
            ch.newexten("Wait", "30", priority=2)
            decision = self._wait_decision(ch, 30)
            if decision is None:
                self._undecided(ch, call, priority=3)
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

    def _undecided(self, ch: Channel, call: IncomingCall, priority: int) -> None:
        """No decision in time: the dialplan hangs up with cause 41 (unless the caller left)."""
        if not ch.gone:
            ch.newexten("Hangup", "41", priority=priority)
            ch.hangup(41)
        call.done.set(None)

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

    def _loop_peer(self, msg: Message, sender: Channel, endpoint: str, did: str, context: str) -> "_Loop":
        """The loop endpoint's new channel (a new SIP call: its own Linkedid) into ``context``,
        receiving the fax that ``sender``'s SendFAX sends (T.38 capable: a PJSIP leg)."""
        peer = self._channel(self._chan_name(f"PJSIP/{self.loop_endpoints[endpoint]}", "PJSIP"),
                             self._new_uid(), "", 4, context, did)
        peer.linkedid = peer.uniqueid
        peer.cid = sender.cid
        peer.event("Newchannel", "call,all")
        peer.setvar("SIPDOMAIN", "127.0.0.1")
        return self._loop_inbound(msg, peer, did, context, t38_capable=True, sender=sender)

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

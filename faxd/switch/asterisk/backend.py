"""AsteriskBackend: the SwitchBackend seam over the Asterisk Manager Interface.

- One AMI connection per ``FAXD_AMI_URL`` entry, each kept up by a supervisor greenlet that
  reconnects with backoff; its reader greenlet routes every event by ``Uniqueid`` into the
  call it belongs to (a dict lookup and a queue put, nothing that blocks).
- Outbound: ``Originate`` (Async) of ``FAXD_ASTERISK_DIAL`` into ``SendFAX`` with
  ``ChannelId`` = faxd's call id, so the channel's Uniqueid *is* the call id: events before
  ``OriginateResponse``, ``CoreShowChannels`` after a reconnect and ``find_call`` after a
  restart all name the call without a lookup table.
- Inbound: the dialplan (``dialplan/asterisk/extensions_faxd.conf``) raises
  ``UserEvent: FaxdIncoming`` and waits; the reception decides with ``answer()`` +
  ``receive_fax()`` (AMI ``Setvar``s, then one ``Redirect`` into ``faxd-control,receive``,
  which answers and receives) or ``reject()`` (AMI ``Hangup`` with a cause). The
  ``FaxdIncoming`` event is taken whatever its ``Linkedid``: a fax to one of faxd's own
  numbers comes back on a channel linked to the outbound call.
- A dropped connection puts ``SwitchLost`` on every call of that connection; after the
  reconnect ``CoreShowChannels`` says which still exist: those are re-attached (their fax
  variables re-read with ``Getvar``), the others end with ``Hangup(cause="SWITCH_LOST")``.
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Callable
from urllib.parse import unquote, urlsplit

import gevent
import gevent.event
import gevent.pool

from faxd.switch import events as ev
from faxd.switch.asterisk import commands
from faxd.switch.asterisk.ami import (ActionFailed, AMIConnection, AMIError, AuthFailed, Message,
                                      NotConnected)
from faxd.switch.asterisk.events import CallTranslator
from faxd.switch.base import Call, CallBase, FaxOptions, InboundCall, OriginateRequest
from faxd.switch.spool import SpoolFile

logger = logging.getLogger(__name__)


class _Link:
    """One AMI server: its URL, the live connection (or None) and its supervisor."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5038
        self.username = unquote(parts.username or "")
        self.secret = unquote(parts.password or "")
        self.name = f"asterisk {self.host}:{self.port}"
        self.conn: AMIConnection | None = None
        self.up = gevent.event.Event()
        self.closed = gevent.event.Event()
        self.last_error = ""
        self.greenlet: gevent.Greenlet | None = None

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed and self.up.is_set()


class AsteriskCall(CallBase):
    """A call on an Asterisk; events come from the backend's reader."""

    def __init__(self, backend: "AsteriskBackend", link: _Link, call_id: str, direction: str,
                 uniqueid: str, to_number: str = "", from_number: str = "", from_name: str = "",
                 ecm: bool = True):
        super().__init__(call_id, to_number, from_number, from_name)
        self.direction = direction
        self.link = link
        self.uniqueid = uniqueid
        self.translator = CallTranslator(call_id, uniqueid, direction, ecm=ecm)
        self.state = self.translator.channel
        self._backend = backend
        self.lost = False
        self.done = False

    @property
    def channel_name(self) -> str:
        return self.state.channel or self.uniqueid

    # -- inbound decisions (run in the reception's greenlet)

    # A failed action is not raised: the channel is gone (its Hangup is on ``events``) or the
    # connection dropped (SwitchLost, then the call comes back or ends with SWITCH_LOST); if
    # Asterisk refused it, the dialplan's own deadline hangs the call up (cause 41).

    def answer(self) -> None:
        """Nothing goes to Asterisk yet: ``faxd-control,receive`` answers and receives in one
        step, so an inbound decision is one Redirect. A second Redirect sent before Asterisk
        has acted on the first is refused (``Redirect failed, channel not up.``: manager.c's
        action_redirect rejects a channel whose soft-hangup flag from the first async goto is
        still set) and the call would sit in ``Wait`` until cause 41."""

    def receive_fax(self, tiff_path: str, options: FaxOptions) -> None:
        self.state.ecm_requested = options.ecm
        # Every variable first (Setvar does not disturb the dialplan), then the one Redirect.
        for headers in commands.receive_setup(self.channel_name, tiff_path, options):
            if not self._control("Setvar", headers):
                return
        self._control("Redirect", commands.redirect(self.channel_name, "receive"))

    def _control(self, action: str, headers) -> bool:
        try:
            self._backend._action(self.link, action, headers)
            return True
        except AMIError as e:
            log = logger.info if self.state.hung_up or self.done else logger.error
            log("call %s: %s failed: %s", self.call_id, action, e)
            return False

    def reject(self, cause: str = "CALL_REJECTED") -> None:
        self.hangup(cause)

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Hang up (cancel). Before the channel exists, it is hung up as soon as it appears."""
        if self.done:
            return
        self.translator.cancel_cause = cause
        if self.state.exists or self.direction == "inbound":
            self._backend._spawn(self._backend._hangup_quietly, self, cause)

    def _put(self, events: list) -> None:
        for e in events:
            if self.done:
                return
            self.events.put(e)
            if isinstance(e, ev.Hangup):
                self.done = True
                self._backend._forget(self)


class AsteriskBackend:
    """SwitchBackend for Asterisk (res_fax + res_fax_spandsp) over AMI."""

    name = "asterisk"

    def __init__(self, config, *, connect_timeout: float = 5.0, backoff: tuple[float, float] = (0.1, 5.0),
                 action_timeout: float = 10.0, failure_grace: float = 5.0,
                 progress_interval: float | None = None):
        self.config = config
        self._links = [_Link(url) for url in config.ami_url]
        self._connect_timeout = connect_timeout
        self._backoff = backoff
        self._action_timeout = action_timeout
        self._failure_grace = failure_grace
        self._progress_interval = (getattr(config, "asterisk_progress_interval", 5.0)
                                   if progress_interval is None else progress_interval)
        self._inbound = getattr(config, "asterisk_inbound", True)
        self._calls: dict[str, AsteriskCall] = {}
        self._by_uid: dict[str, AsteriskCall] = {}
        self._by_action: dict[str, AsteriskCall] = {}
        self._handler: Callable[[InboundCall], None] | None = None
        self._group = gevent.pool.Group()
        self._handlers = gevent.pool.Group()
        self._stopping = False

    # -- lifecycle

    def start(self) -> None:
        self._stopping = False
        for link in self._links:
            link.greenlet = self._group.spawn(self._supervise, link)

    def stop(self) -> None:
        self._stopping = True
        for link in self._links:
            if link.greenlet is not None:
                link.greenlet.kill(block=False)
            conn = link.conn
            if conn is not None:
                conn.close()
        self._handlers.kill(timeout=5)
        self._group.kill(timeout=5)

    def wait_connected(self, timeout: float | None = None) -> bool:
        """True once every AMI link is logged in (tests, start-up checks)."""
        with gevent.Timeout(timeout, False):
            for link in self._links:
                link.up.wait()
            return all(link.connected for link in self._links)
        return False

    def status(self) -> list[dict]:
        return [{"name": link.name, "connected": link.connected,
                 **({"error": link.last_error} if link.last_error and not link.connected else {})}
                for link in self._links]

    def on_incoming_call(self, handler: Callable[[InboundCall], None]) -> None:
        self._handler = handler

    # -- supervisor: connect, reconcile, wait for the drop, back off, again

    def _supervise(self, link: _Link) -> None:
        delay = self._backoff[0]
        while not self._stopping:
            link.closed.clear()
            try:
                conn = AMIConnection.connect(
                    link.host, link.port, link.username, link.secret, timeout=self._connect_timeout,
                    on_event=partial(self._on_event, link), on_close=lambda exc, l=link: l.closed.set(),
                    group=self._group, name=link.name)
            except AuthFailed as e:
                link.last_error = str(e)
                logger.error("%s: %s", link.name, e)
                gevent.sleep(self._backoff[1])   # a wrong secret will not fix itself quickly
                continue
            except AMIError as e:
                link.last_error = str(e)
                logger.warning("%s: %s; retrying in %.1f s", link.name, e, delay)
                gevent.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            link.conn = conn
            link.last_error = ""
            delay = self._backoff[0]
            try:
                self._reconcile(link)
            except AMIError as e:
                logger.warning("%s: reconciliation failed: %s", link.name, e)
            if not conn.closed:
                logger.info("%s: connected (%s)", link.name, conn.banner)
                link.up.set()
                link.closed.wait()
            link.up.clear()
            link.conn = None
            if self._stopping:
                break
            link.last_error = f"connection lost: {conn.close_reason or 'closed by Asterisk'}"
            logger.warning("%s: %s", link.name, link.last_error)
            for call in list(self._calls.values()):
                if call.link is link and not call.done and not call.lost:
                    call.lost = True
                    call.events.put(ev.SwitchLost(call.call_id))

    def _reconcile(self, link: _Link) -> None:
        """After (re)connecting: re-attach calls that still exist, end the ones that are gone."""
        lost = [c for c in self._calls.values() if c.link is link and c.lost and not c.done]
        if not lost:
            return
        alive = self._channels(link)
        for call in lost:
            info = alive.get(call.uniqueid)
            if info is None:
                call._put(call.translator.lost())
                continue
            self._reattach(link, call, info)

    def _channels(self, link: _Link) -> dict[str, Message]:
        conn = link.conn
        if conn is None:
            raise NotConnected(f"{link.name}: not connected")
        listing = conn.action_list("CoreShowChannels", timeout=self._action_timeout)
        return {m.get("Uniqueid"): m for m in listing if m.event == "CoreShowChannel"}

    def _reattach(self, link: _Link, call: AsteriskCall, info: Message) -> None:
        call.lost = False
        call.state.exists = True
        call.state.channel = info.get("Channel")
        values = {}
        for var in commands.RESULT_VARIABLES:
            try:
                values[var] = link.conn.action("Getvar", commands.getvar(call.channel_name, var),
                                               timeout=self._action_timeout).get("Value")
            except ActionFailed:
                continue
        call.state.refresh(values)
        call._put(call.state.feed(Message([("Event", "Newstate"), *[(k, v) for k, v in info.headers
                                                                   if k in ("Channel", "ChannelState")]])))

    # -- routing (runs in the reader greenlet: no blocking here)

    def _on_event(self, link: _Link, msg: Message) -> None:
        name = msg.event
        if name == "OriginateResponse":
            call = self._by_action.pop(msg.action_id, None)
            if call is not None:
                self._originate_response(call, msg)
            return
        uid = msg.uniqueid
        call = self._by_uid.get(uid) if uid else None
        if call is None:
            if name == "UserEvent" and msg.get("UserEvent") == commands.INCOMING_USEREVENT:
                # Taken whatever its Linkedid: a fax faxd sends to one of its own numbers
                # comes back into faxd-inbound on a channel linked to the outbound call
                # (the ;2 half of a Local pair, a leg a site context Dial()ed).
                if self._inbound and self._handler is not None and not self._stopping:
                    self._incoming(link, msg)
                # Otherwise the call is not ours to take: another faxd node may, or the
                # dialplan's deadline refuses it (cause 41) so the sender tries again.
                return
            owner = self._by_uid.get(msg.linkedid)
            if owner is not None:
                # Another channel of the call (the ;2 half of a Local pair, the trunk leg a
                # site context Dial()ed).
                owner.translator.linked(msg)
            return
        cancel = call.translator.cancel_cause
        if name == "Newchannel" and cancel and not call.state.exists:
            self._spawn(self._hangup_quietly, call, cancel)
        out = call.translator.feed(msg)
        call._put(out)
        if self._progress_interval > 0 and any(isinstance(e, ev.Negotiated) for e in out):
            self._spawn(self._follow_pages, call)

    def _originate_response(self, call: AsteriskCall, msg: Message) -> None:
        if msg.get("Response") == "Success":
            uid = msg.get("Uniqueid")
            if uid and uid != call.uniqueid and uid not in self._by_uid:
                # An Asterisk that ignored ChannelId: follow the Uniqueid it reports.
                self._by_uid[uid] = call
                call.uniqueid = uid
        out, wait = call.translator.originate_response(msg)
        call._put(out)
        if wait:
            # The channel's own Hangup (with the real cause, e.g. 1 for SIP 404) follows.
            self._spawn(self._failure_deadline, call)

    def _follow_pages(self, call: AsteriskCall) -> None:
        """Live pages: poll res_fax's ``FAXSession`` (the spandsp statistics of the running
        session) while the fax runs. Asterisk has no per-page event; without this, pages
        are only known at the end. An Asterisk that refuses the action just means no live
        progress."""
        link = call.link
        try:
            sid = self._action(link, "Getvar", commands.getvar(call.channel_name, "FAXOPT(sessionid)")).get("Value")
        except AMIError:
            return
        if not sid:
            return
        while not call.done and not call.state.result_sent:
            gevent.sleep(self._progress_interval)
            if call.done or call.state.result_sent:
                return
            conn = link.conn
            if conn is None or conn.closed:
                continue
            try:
                info = conn.action_event("FAXSession", "FAXSession", [("SessionNumber", sid)],
                                         timeout=self._action_timeout)
            except ActionFailed:
                return          # the session is over (or the action unknown)
            except AMIError:
                continue
            call._put(call.state.progress(info))

    def _failure_deadline(self, call: AsteriskCall) -> None:
        gevent.sleep(self._failure_grace)
        if not call.done:
            call._put(call.translator.gave_up())

    def _incoming(self, link: _Link, msg: Message) -> None:
        did = msg.get("DID") or msg.get("Exten")

        def known(value: str) -> str:
            return "" if value == "<unknown>" else value
        # The call id is derived from the channel, so that every faxd node names it alike (the
        # inbox keeps one row per call id).
        call_id = f"asterisk-{link.host}-{link.port}-{msg.uniqueid}"
        call = AsteriskCall(self, link, call_id, "inbound", msg.uniqueid, to_number=did,
                            from_number=known(msg.get("CallerIDNum")), from_name=known(msg.get("CallerIDName")))
        call.state.exists = True
        call.state.channel = msg.get("Channel")
        if msg.get("ChannelState") == "6":
            # The site answered before sending the call to faxd (fax detection, IVR).
            call.state.answered = True
            call._put([ev.Answered(call.call_id)])
        self._calls[call.call_id] = call
        self._by_uid[call.uniqueid] = call
        self._handlers.spawn(self._run_handler, call)

    def _run_handler(self, call: AsteriskCall) -> None:
        try:
            self._handler(call)
        except Exception:  # greenlet boundary: one failed reception must not stop others
            logger.exception("inbound call %s (%s): handler failed", call.call_id, call.to_number)
            if not call.done:
                self._hangup_quietly(call, "NORMAL_TEMPORARY_FAILURE")

    # -- outbound

    def stage_document(self, name: str, data: bytes) -> SpoolFile:
        """Asterisk's SendFAX reads the outbound TIFF from the spool directory."""
        return SpoolFile(self.config.spool_path, name, data)

    def originate(self, request: OriginateRequest) -> Call:
        link = next((l for l in self._links if l.connected), self._links[0])
        call = AsteriskCall(self, link, request.call_id, "outbound", request.call_id,
                            to_number=request.to_number, from_number=request.from_number,
                            from_name=request.from_name, ecm=request.options.ecm)
        headers = commands.originate(request, self.config.asterisk_dial)
        self._calls[call.call_id] = call
        self._by_uid[call.uniqueid] = call
        self._spawn(self._send_originate, link, call, headers)
        return call

    def _send_originate(self, link: _Link, call: AsteriskCall, headers) -> None:
        if not link.connected:
            # A reconnect in progress: give it the time of one connection attempt.
            link.up.wait(timeout=self._connect_timeout)
        conn = link.conn
        try:
            if conn is None or not link.connected:
                raise NotConnected(f"{link.name}: not connected")
            if call.translator.cancel_cause:
                call._put(call.translator.cancelled_before_placed())
                return
            aid = f"originate-{call.call_id}"
            self._by_action[aid] = call
            conn.action("Originate", headers, action_id=aid, timeout=self._action_timeout)
        except AMIError as e:
            self._by_action = {k: v for k, v in self._by_action.items() if v is not call}
            logger.warning("call %s: originate failed: %s", call.call_id, e)
            call._put(call.translator.refused(str(e)))

    def find_call(self, call_id: str) -> Call | None:
        call = self._calls.get(call_id)
        if call is not None:
            return call
        for link in self._links:
            if not link.connected:
                # Lease recovery runs right after start-up: give the login a moment.
                link.up.wait(timeout=self._connect_timeout)
                if not link.connected:
                    continue
            try:
                info = self._channels(link).get(call_id)
            except AMIError:
                continue
            if info is None:
                continue
            call = AsteriskCall(self, link, call_id, "outbound", call_id,
                                to_number=info.get("ConnectedLineNum"))
            self._calls[call_id] = call
            self._by_uid[call_id] = call
            self._reattach(link, call, info)
            return call
        return None

    # -- helpers

    def _spawn(self, fn, *args) -> None:
        self._group.spawn(fn, *args)

    def _action(self, link: _Link, action: str, headers) -> Message:
        conn = link.conn
        if conn is None or conn.closed:
            raise NotConnected(f"{link.name}: not connected")
        return conn.action(action, headers, timeout=self._action_timeout)

    def _hangup_quietly(self, call: AsteriskCall, cause: str) -> None:
        try:
            self._action(call.link, "Hangup", commands.hangup(call.channel_name, cause))
        except AMIError as e:
            logger.info("call %s: hangup: %s", call.call_id, e)

    def _forget(self, call: AsteriskCall) -> None:
        self._calls.pop(call.call_id, None)
        if self._by_uid.get(call.uniqueid) is call:
            del self._by_uid[call.uniqueid]
        for uid in [u for u, c in self._by_uid.items() if c is call]:
            del self._by_uid[uid]
        for aid in [a for a, c in self._by_action.items() if c is call]:
            del self._by_action[aid]

"""FreeSWITCH backend: inbound Event Socket connections for control, outbound socket for calls in.

- One ``Node`` per ``esl_url``: connects with backoff, authenticates, subscribes to the channel
  events, ``BACKGROUND_JOB`` and the six ``spandsp::`` subclasses. Its one reader routes events
  by ``Unique-ID`` (``Job-UUID`` for BACKGROUND_JOB) to the call they belong to; each call's
  ``CallTranslator`` turns them into neutral events on ``call.events``. Nothing in the reader
  waits: commands that follow from an event run in their own greenlet.
- A dropped connection puts ``SwitchLost`` on every call of that node; after reconnecting each
  is checked with ``uuid_exists``: still there means its events simply continue, gone (or no
  reconnect within ``reconcile_timeout``) ends it with ``Hangup(cause="SWITCH_LOST")``.
- Inbound calls: FreeSWITCH's dialplan runs ``socket <esl_listen> async full``; faxd answers the
  connection with ``connect``/``myevents``/``linger``, hands an ``InboundCall`` to the handler
  (the Reception), which answers and runs ``rxfax`` through ``sendmsg``.
- FreeSWITCH on other hosts fetches each outbound TIFF from faxd over HTTP (``SpoolServer``,
  spool.py) instead of sharing spool_dir.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from typing import Callable
from urllib.parse import unquote, urlsplit

import gevent
import gevent.event
import gevent.pool
import gevent.server
import gevent.socket

from faxd.switch import events as ev
from faxd.switch import base
from faxd.switch.base import Call, CallBase, FaxOptions, OriginateRequest
from faxd.switch.spool import SpoolFile
from faxd.switch.freeswitch import commands
from faxd.switch.freeswitch.esl import (
    AuthFailed, Connection, ESLError, Event, NotConnected, ProtocolError,
)
from faxd.switch.freeswitch.events import CallTranslator
from faxd.switch.freeswitch.spool import SpoolServer

logger = logging.getLogger(__name__)


def parse_esl_url(url: str) -> tuple[str, int, str]:
    """``esl://:password@host:port`` -> (host, port, password)."""
    parts = urlsplit(url)
    password = unquote(parts.password or parts.username or "ClueCon")
    return parts.hostname or "127.0.0.1", parts.port or 8021, password


class OutboundCall(CallBase):
    """A fax call faxd placed with ``bgapi originate``."""

    direction = "outbound"

    def __init__(self, node: "Node", request: OriginateRequest | None, call_id: str):
        super().__init__(call_id,
                         to_number=request.to_number if request else "",
                         from_number=request.from_number if request else "",
                         from_name=request.from_name if request else "")
        self.node = node
        self.translator = CallTranslator(call_id)
        self.job_uuid = ""
        self.lost = False
        self.kill_cause: str | None = None
        self.on_finish: Callable[[], None] | None = None

    def _deliver(self, items: list) -> None:
        for item in items:
            self.events.put(item)

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """Cancel: ``uuid_kill`` now, or as soon as the channel exists."""
        if self.translator.finished:
            return
        self.kill_cause = cause
        if self.translator.created or self.translator.answered:
            self.node.kill(self.call_id, cause)
        # else: the CHANNEL_CREATE handler kills it (a channel that never appears ends by itself)


class Node:
    """One FreeSWITCH reached over an inbound Event Socket connection."""

    def __init__(self, url: str, group: gevent.pool.Group, *, backoff: tuple[float, float] = (0.1, 5.0),
                 reconcile_timeout: float = 60.0, connect_timeout: float = 5.0, command_timeout: float = 10.0):
        self.host, self.port, self._password = parse_esl_url(url)
        self.name = f"freeswitch {self.host}:{self.port}"
        self._group = group
        self._backoff = backoff
        self._reconcile_timeout = reconcile_timeout
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self.conn: Connection | None = None
        self.connected = gevent.event.Event()
        self.calls: dict[str, OutboundCall] = {}
        self.jobs: dict[str, OutboundCall] = {}
        self.last_error = ""
        self._running = False
        self._loop: gevent.Greenlet | None = None
        self._closed = gevent.event.Event()
        self._tombstones: dict[str, str] = {}
        self.connects = 0
        self.core_uuid = ""        # this FreeSWITCH's process id, from its events

    # -- lifecycle

    def start(self) -> None:
        self._running = True
        self._loop = self._group.spawn(self._run)

    def stop(self) -> None:
        self._running = False
        if self._loop is not None:
            self._loop.kill(block=False)
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                conn.send_nowait("exit")
            except ESLError:
                pass
            conn.close()
        self.connected.clear()

    def _run(self) -> None:
        delay = self._backoff[0]
        while self._running:
            try:
                self._connect()
            except (OSError, ESLError, gevent.Timeout) as e:
                self.last_error = str(e) or e.__class__.__name__
                logger.warning("%s: cannot connect: %s (retry in %.1f s)", self.name, self.last_error, delay)
                gevent.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            self._reconcile()
            self._closed.wait()
            self._closed.clear()

    def _connect(self) -> None:
        sock = gevent.socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
        sock.settimeout(None)
        # Commands are small and answered at once: Nagle + delayed ACK would add 40 ms to each.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(sock, on_event=self._on_event, on_close=lambda exc: self._on_close(conn, exc),
                          name=self.name)
        conn.start(self._group)
        try:
            greeting = conn.wait_greeting(self._connect_timeout)
            if greeting.content_type == "text/rude-rejection":
                raise AuthFailed(f"{self.name} refused the connection (ACL): {greeting.body.decode().strip()}")
            if greeting.content_type != "auth/request":
                raise ProtocolError(f"{self.name}: expected auth/request, got {greeting.content_type!r}")
            reply = conn.send(commands.auth(self._password), timeout=self._connect_timeout).reply_text
            if not reply.startswith("+OK"):
                raise AuthFailed(f"{self.name} refused the password: {reply}")
            conn.command(commands.subscribe(), timeout=self._connect_timeout)
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self.connects += 1
        self.last_error = ""
        self.connected.set()
        logger.info("%s: connected", self.name)

    def _on_close(self, conn: Connection, exc: BaseException | None) -> None:
        if conn is not self.conn:
            return
        self.conn = None
        self.core_uuid = ""        # a restarted FreeSWITCH has a new one
        self.connected.clear()
        if self._running:
            logger.warning("%s: connection lost (%s)", self.name, exc or "closed by FreeSWITCH")
        for call in list(self.calls.values()):
            if not call.lost and not call.translator.finished:
                call.lost = True
                call.events.put(ev.SwitchLost(call.call_id))
        if any(c.lost for c in self.calls.values()):
            timer = gevent.Greenlet(self._expire_lost, self.connects)
            self._group.add(timer)
            timer.start_later(self._reconcile_timeout)
        self._closed.set()

    def _expire_lost(self, connects: int) -> None:
        if self.connects != connects:
            return   # reconnected meanwhile: _reconcile decided
        for call in list(self.calls.values()):
            if call.lost:
                self._forget(call, call.translator.lost("no reconnect to FreeSWITCH within the reconcile timeout"))

    def _reconcile(self) -> None:
        """After a reconnect: calls that still exist continue, the others end as SWITCH_LOST."""
        for call in list(self.calls.values()):
            if not call.lost:
                continue
            try:
                exists = self.api(commands.uuid_exists(call.call_id)).strip() == "true"
            except ESLError:
                return   # dropped again: the next reconnect retries
            if exists:
                call.lost = False
                logger.info("%s: call %s re-attached", self.name, call.call_id)
                if call.kill_cause:
                    self.kill(call.call_id, call.kill_cause)
            else:
                self._forget(call, call.translator.lost("the call ended while the connection to FreeSWITCH was down"))

    # -- events (reader greenlet: route only)

    def _on_event(self, event: Event) -> None:
        h = event.headers
        if not self.core_uuid:
            self.core_uuid = h.get("Core-UUID", "")
        if h.get("Event-Name") == "BACKGROUND_JOB":
            call = self.jobs.pop(h.get("Job-UUID", ""), None)
            if call is not None:
                self._deliver(call, call.translator.background_job(event.body))
            return
        call = self.calls.get(h.get("Unique-ID", ""))
        if call is None:
            if self._tombstones and h.get("Event-Name") == "CHANNEL_CREATE":
                cause = self._tombstones.pop(h.get("Unique-ID", ""), None)
                if cause:
                    self.kill(h["Unique-ID"], cause)
            return
        if call.lost:
            call.lost = False     # events flow again: the call is alive
        items = call.translator.feed(event)
        if call.kill_cause and h.get("Event-Name") == "CHANNEL_CREATE":
            self.kill(call.call_id, call.kill_cause)
        self._deliver(call, items)

    def _deliver(self, call: OutboundCall, items: list) -> None:
        for item in items:
            call.events.put(item)
        if call.translator.finished:
            self.calls.pop(call.call_id, None)
            if call.job_uuid:
                self.jobs.pop(call.job_uuid, None)
            if call.on_finish is not None:
                call.on_finish()
                call.on_finish = None

    def _forget(self, call: OutboundCall, items: list) -> None:
        call.lost = False
        self._deliver(call, items)
        self.calls.pop(call.call_id, None)
        if call.on_finish is not None:
            call.on_finish()
            call.on_finish = None

    # -- commands

    def api(self, command: str, timeout: float = 10.0) -> str:
        conn = self.conn
        if conn is None:
            raise NotConnected(f"{self.name} is not connected")
        return conn.api(command, timeout=timeout)

    def bgapi(self, command: str, job_uuid: str, timeout: float | None = None) -> str:
        conn = self.conn
        if conn is None:
            raise NotConnected(f"{self.name} is not connected")
        return conn.send("bgapi " + command, {"Job-UUID": job_uuid},
                         timeout=timeout or self._command_timeout).reply_text

    def kill(self, call_id: str, cause: str) -> None:
        def run():
            try:
                self.bgapi(commands.uuid_kill(call_id, cause), str(uuid.uuid4()))
            except ESLError as e:
                logger.warning("%s: uuid_kill %s failed: %s", self.name, call_id, e)
        self._group.spawn(run)

    def originate(self, call: OutboundCall, line: str) -> None:
        """Send ``bgapi originate``; the call is registered first so no event is missed."""
        call.job_uuid = str(uuid.uuid4())
        self.calls[call.call_id] = call
        self.jobs[call.job_uuid] = call
        try:
            reply = self.bgapi(line, call.job_uuid)
        except NotConnected:
            # The node's close handler has put SwitchLost; reconciliation decides the rest.
            if not call.lost and not call.translator.finished:
                call.lost = True
                call.events.put(ev.SwitchLost(call.call_id))
            return
        except ESLError as e:
            # No reply in time: FreeSWITCH may still run the originate later. The job is told now;
            # a channel that shows up afterwards is killed (see _on_event).
            self._tombstones[call.call_id] = "NORMAL_TEMPORARY_FAILURE"
            self._forget(call, call.translator.force_hangup("NORMAL_TEMPORARY_FAILURE", str(e)))
            return
        if reply.startswith("-ERR"):
            self._forget(call, call.translator.force_hangup("NORMAL_TEMPORARY_FAILURE", reply))

    def status(self) -> dict:
        d = {"name": self.name, "connected": self.conn is not None, "calls": len(self.calls)}
        if self.last_error:
            d["error"] = self.last_error
        return d


class InboundCall(CallBase):
    """A call FreeSWITCH handed to faxd's outbound-socket listener."""

    direction = "inbound"

    def __init__(self, backend: "FreeSwitchBackend", sock, addr):
        super().__init__("")
        self._backend = backend
        self.channel: dict[str, str] = {}
        self.translator: CallTranslator | None = None
        self.conn = Connection(sock, on_event=self._on_event, on_close=self._on_close,
                               name=f"outbound-socket {addr[0]}:{addr[1]}")
        self.done = gevent.event.Event()
        self._hangup_sent = False
        # FreeSWITCH on another host: the received fax's upload (token, url, FreeSWITCH's path),
        # its state (None: shared spool; waiting: rxfax running; running; done), the events held
        # back meanwhile, and whether rxfax reported a fax received.
        self._upload: tuple[str, str, str] | None = None
        self._upload_state: str | None = None
        self._held: list | None = None
        self._received = False        # rxfax reported a fax, or a page, received

    def setup(self, timeout: float = 10.0) -> None:
        """``connect``, ``myevents``, ``linger`` and the rxfax event subscription."""
        self.conn.start(self._backend._group)
        reply = self.conn.send("connect", timeout=timeout)
        h = reply.headers
        self.channel = h
        self.call_id = h.get("Unique-ID", "")
        if not self.call_id:
            raise ProtocolError("connect reply without Unique-ID")
        self.translator = CallTranslator(self.call_id)
        self.translator.created = True
        self.translator.ringing = True     # an inbound call rings at our end: no Ringing event
        self.to_number = h.get("Caller-Destination-Number") or h.get("variable_destination_number", "")
        self.from_number = h.get("Caller-Caller-ID-Number", "")
        self.from_name = h.get("Caller-Caller-ID-Name", "")
        self.conn.command("myevents", timeout=timeout)
        self.conn.command("linger", timeout=timeout)
        self.conn.command(commands.subscribe((), commands.RX_SUBCLASSES), timeout=timeout)

    # -- the reception's side

    def answer(self) -> None:
        self._execute("answer")

    @property
    def core_uuid(self) -> str:
        return self.channel.get("Core-UUID", "")

    def receive_fax(self, tiff_path: str, options: FaxOptions) -> None:
        rx_path = tiff_path
        spool = self._backend.spool_server
        if spool is not None:
            # FreeSWITCH on another host: rxfax into its own directory, then it PUTs the file
            # to a one-time URL that lands at tiff_path (see received.py).
            rx_path = f"{self._backend.rx_dir.rstrip('/')}/faxd-rx-{self.call_id}.tif"
            token, url = spool.uploads.expect(tiff_path, spool.base_url)
            self._upload = (token, url, rx_path)
            self._upload_state = "waiting"
        os.makedirs(os.path.dirname(tiff_path) or ".", exist_ok=True)
        for name, value in commands.receive_variables(options).items():
            self._execute("set", f"{name}={value}")
        self._execute("rxfax", rx_path)

    def reject(self, cause: str = "CALL_REJECTED") -> None:
        self.hangup(cause)

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        if self._hangup_sent or self.conn.closed:
            return
        self._hangup_sent = True
        cmd, headers = commands.sendmsg_hangup(cause)
        try:
            self.conn.command(cmd, headers)
        except ESLError as e:
            logger.warning("call %s: hangup failed: %s", self.call_id, e)

    def _execute(self, app: str, arg: str = "") -> None:
        cmd, headers = commands.sendmsg_execute(app, arg)
        try:
            self.conn.command(cmd, headers)
        except NotConnected as e:
            # FreeSWITCH went away with the call: the call's events already end with the
            # loss (``_on_close``), which is what the reception records.
            logger.warning("call %s: %s not sent, the connection is gone (%s)", self.call_id, app, e)

    # -- reader greenlet

    def _on_event(self, event: Event) -> None:
        if self.translator is None or event.headers.get("Unique-ID") != self.call_id:
            return
        self._pass_on(self.translator.feed(event))
        h = event.headers
        rxfax_ended = h.get("Event-Name") == "CHANNEL_EXECUTE_COMPLETE" and h.get("Application") == "rxfax"
        if self._upload_state == "waiting" and (rxfax_ended or self.translator.finished):
            self._upload_state = "running"
            self._backend._group.spawn(self._fetch_then_hang_up)
        elif rxfax_ended:
            self._backend._group.spawn(self.hangup)
        if self.translator.finished and self._upload_state not in ("waiting", "running"):
            self._backend._group.spawn(self._exit)

    def _pass_on(self, items) -> None:
        """Events to the reception; while a received fax is still to be uploaded, its Hangup
        (and anything after it) waits, so that the reception never looks for the file early."""
        for item in items:
            if isinstance(item, ev.FaxResult) and item.success:
                self._received = True
            elif isinstance(item, ev.PageDone) and item.pages:
                self._received = True       # at least one page is whole in the file
            if self._held is None and isinstance(item, ev.Hangup) and self._upload_state in ("waiting", "running"):
                self._held = []
            if self._held is not None:
                self._held.append(item)
            else:
                self.events.put(item)

    def _fetch_then_hang_up(self) -> None:
        """Have FreeSWITCH PUT the received TIFF to faxd (mod_http_cache's ``http_put``) on this
        call's connection, then hang up and let the reception see the rest of the call."""
        token, url, rx_path = self._upload
        try:
            reply = self.conn.api(commands.http_put(url, rx_path), timeout=self._backend.upload_timeout)
            if not reply.startswith("+OK") and self._received:
                logger.warning("call %s: FreeSWITCH could not upload the received fax %s: %s",
                               self.call_id, rx_path, reply.strip() or "no reply")
        except ESLError as e:
            if self._received or self.translator.hungup:
                # The connection went with FreeSWITCH (crash, restart, network) during or
                # after rxfax: what it wrote is on that host's disk (FreeSWITCH may have died
                # before its page events left); ask the hosts for it once they are back.
                logger.warning("call %s: connection lost before the received fax was uploaded (%s); "
                               "asking the FreeSWITCH hosts for %s", self.call_id, e, rx_path)
                if not self._backend.upload_from_any_node(url, rx_path):
                    logger.error("call %s: the received fax was not uploaded; it stays on FreeSWITCH at %s",
                                 self.call_id, rx_path)
        finally:
            self._backend.spool_server.uploads.close(token)
            self._upload_state = "done"
            self.hangup()
            held, self._held = self._held or [], None
            for item in held:
                self.events.put(item)
            if self.translator.finished:
                self._exit()

    def _exit(self) -> None:
        try:
            self.conn.send("exit", timeout=5)
        except ESLError:
            pass
        self.conn.close()

    def _on_close(self, exc) -> None:
        if self._upload_state == "waiting":
            # The connection dropped during rxfax (or before its end reached us): fetch what
            # FreeSWITCH wrote anyway; the reception counts the whole pages in it.
            self._upload_state = "running"
            self._backend._group.spawn(self._fetch_then_hang_up)
        if self.translator is not None and not self.translator.finished:
            self._pass_on(self.translator.lost("the outbound socket connection dropped"))
        self.done.set()


class FreeSwitchBackend:
    """SwitchBackend for FreeSWITCH + mod_spandsp."""

    name = "freeswitch"

    def __init__(self, config, *, backoff: tuple[float, float] = (0.1, 5.0), reconcile_timeout: float = 60.0,
                 connect_wait: float = 5.0, command_timeout: float = 10.0, listen: tuple[str, int] | None = None,
                 spool_http_listen: tuple[str, int] | None = None, spool_url: str | None = None):
        self._config = config
        # FreeSWITCH on other hosts: serve each outbound TIFF over HTTP instead of sharing spool_dir.
        self._spool = SpoolServer(spool_http_listen, spool_url) if spool_http_listen else None
        self._group = gevent.pool.Group()
        self._nodes = [Node(url, self._group, backoff=backoff, reconcile_timeout=reconcile_timeout,
                            command_timeout=command_timeout)
                       for url in config.esl_url]
        self._listen = listen if listen is not None else config.esl_listen
        self._server: gevent.server.StreamServer | None = None
        self._handler: Callable[[base.InboundCall], None] | None = None
        self._connect_wait = connect_wait
        self._inbound: set[InboundCall] = set()
        self._stopping = False
        # With spool_http_listen: where rxfax writes on the FreeSWITCH hosts before the upload.
        self.rx_dir = getattr(config, "freeswitch_rx_dir", "/tmp")
        self.upload_timeout = 60.0
        self._reconcile_timeout = reconcile_timeout

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes)

    @property
    def listen_address(self) -> tuple[str, int] | None:
        if self._server is None:
            return None
        return self._server.address[:2]

    @property
    def spool_server(self) -> SpoolServer | None:
        return self._spool

    def start(self) -> None:
        self._stopping = False
        if self._spool is not None:
            self._spool.start()
        for node in self._nodes:
            node.start()
        if self._listen is not None:
            self._server = gevent.server.StreamServer(self._listen, self._handle_socket,
                                                      spawn=gevent.pool.Pool(10000))
            self._server.start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once every node is connected (tests, startup logs)."""
        with gevent.Timeout(timeout, False):
            for node in self._nodes:
                node.connected.wait()
            return True
        return False

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None
        for call in list(self._inbound):
            call.conn.close()
        for node in self._nodes:
            node.stop()
        if self._spool is not None:
            self._spool.stop()
        self._group.kill(block=True, timeout=2)

    def status(self) -> list[dict]:
        return [node.status() for node in self._nodes]

    # -- outbound

    def _pick_node(self) -> Node | None:
        """The connected node with the fewest calls: its outbound calls plus the inbound calls
        it handed to faxd (matched by the Core-UUID FreeSWITCH puts in every event)."""
        up = [n for n in self._nodes if n.conn is not None]
        if not up:
            return None
        inbound: dict[str, int] = {}
        for call in self._inbound:
            if call.core_uuid:
                inbound[call.core_uuid] = inbound.get(call.core_uuid, 0) + 1
        return min(up, key=lambda n: len(n.calls) + inbound.get(n.core_uuid, 0))

    def stage_document(self, name: str, data: bytes) -> SpoolFile:
        """FreeSWITCH reads the outbound TIFF from the spool directory (or, with
        ``spool_http_listen``, faxd serves it from there over HTTP)."""
        return SpoolFile(self._config.spool_path, name, data)

    def originate(self, request: OriginateRequest) -> Call:
        token = None
        if self._spool is not None:
            token, url = self._spool.publish(request.tiff_path)
            line = commands.originate(request, self._config.dial_string, url=url)
        else:
            line = commands.originate(request, self._config.dial_string)
        node = self._pick_node()
        call = OutboundCall(node or self._nodes[0], request, request.call_id)
        if token is not None:
            call.on_finish = lambda: self._spool.withdraw(token)
        if node is not None:
            node.calls[call.call_id] = call     # counts for the next pick; no event can slip by
        self._group.spawn(self._originate, call, line, node)
        return call

    def _originate(self, call: OutboundCall, line: str, node: Node | None) -> None:
        if node is None:
            with gevent.Timeout(self._connect_wait, False):
                waiters = [gevent.spawn(n.connected.wait) for n in self._nodes]
                gevent.joinall(waiters, count=1)
                gevent.killall(waiters, block=False)
            node = self._pick_node()
            if node is None:
                reason = "; ".join(f"{n.name}: {n.last_error or 'not connected'}" for n in self._nodes)
                call._deliver(call.translator.force_hangup("NORMAL_TEMPORARY_FAILURE",
                                                           f"no FreeSWITCH connected ({reason})"))
                return
            call.node = node
        node.originate(call, line)

    def find_call(self, call_id: str) -> Call | None:
        """Re-attach to a call (faxd restarted): the first node that still has the channel."""
        for node in self._nodes:
            existing = node.calls.get(call_id)
            if existing is not None:
                return existing
        for node in self._nodes:
            if node.conn is None:
                continue
            call = OutboundCall(node, None, call_id)
            call.translator.created = True
            node.calls[call_id] = call     # registered before asking, so no event slips by
            try:
                exists = node.api(commands.uuid_exists(call_id)).strip() == "true"
            except ESLError:
                exists = False
            if exists:
                return call
            node.calls.pop(call_id, None)
        return None

    # -- inbound

    def upload_from_any_node(self, url: str, rx_path: str) -> bool:
        """A received fax whose call's connection is gone: every connected FreeSWITCH is asked
        to ``http_put`` the file until one has it (the one that received it, once it is back),
        for as long as a lost outbound call is waited for (``reconcile_timeout``)."""
        deadline = time.monotonic() + self._reconcile_timeout
        while not self._stopping and time.monotonic() < deadline:
            for node in self._nodes:
                if node.conn is None:
                    continue
                try:
                    if node.api(commands.http_put(url, rx_path), timeout=self.upload_timeout).startswith("+OK"):
                        logger.info("received fax %s uploaded by %s", rx_path, node.name)
                        return True
                except ESLError:
                    continue
            gevent.sleep(0.5)
        return False

    def on_incoming_call(self, handler: Callable[[base.InboundCall], None]) -> None:
        self._handler = handler

    def _handle_socket(self, sock, addr) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        call = InboundCall(self, sock, addr)
        self._inbound.add(call)
        try:
            try:
                call.setup()
            except (ESLError, OSError) as e:
                logger.warning("outbound socket from %s:%s: %s", addr[0], addr[1], e)
                return
            if self._handler is None or self._stopping:
                call.reject("CALL_REJECTED" if self._handler is None else "SYSTEM_SHUTDOWN")
            else:
                try:
                    self._handler(call)
                except Exception:   # greenlet boundary: one call's failure ends only that call
                    logger.exception("call %s: inbound handler failed", call.call_id)
            if not call.translator.finished:
                call.hangup()
            call.done.wait(timeout=30)
        finally:
            self._inbound.discard(call)
            call.conn.close()

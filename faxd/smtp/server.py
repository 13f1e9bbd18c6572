"""The SMTP protocol side of the gateway: aiosmtpd, no business rules (see gateway.py).

Where it runs: its own process (``faxd smtp``, started and supervised by ``faxd run``), for
three reasons measured in platform-notes §4:
- asyncio's running loop is per OS thread; inside the daemon it would be visible to every
  greenlet and break any other asyncio user (``asyncio.run()`` raises there);
- a mail parser fed a hostile 25 MB message, or a crash, costs this process and not the
  calls in flight in the daemon; the supervisor restarts it;
- the only link to the rest of faxd is PostgreSQL: a job insert's trigger wakes the dispatcher.

Inside that process the usual faxd rules hold (gevent patched first, green psycopg2, the
green document pipeline): the asyncio loop runs in the main greenlet on gevent's selector,
so waiting for sockets yields to the hub, and every blocking step of a session (database,
conversion) runs in a greenlet of a bounded pool whose result comes back through an asyncio
future. A session waiting for its conversion therefore never stalls the other sessions.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import ssl
from typing import Any, Callable

import gevent.pool
from aiosmtpd.smtp import SMTP, AuthResult, Envelope

from faxd.errors import StartupError, StoreUnavailable
from faxd.smtp.gateway import Gateway, Recipient, Reply

logger = logging.getLogger(__name__)

BUSY = b"421 4.3.2 Too many connections to the fax gateway, try again later\r\n"
BUSY_PEER = b"421 4.3.2 Too many connections from your address to the fax gateway, try again later\r\n"
IDLE = b"421 4.4.2 Idle for too long, closing the connection\r\n"
TEMPORARY = "451 4.3.0 Temporary failure of the fax gateway (database unavailable), try again later"
# Only an unavailable database is temporary. Anything else that goes wrong with a message goes
# wrong again on every retry: a permanent reply ends the retries and tells the sender at once.
INTERNAL = "554 5.3.0 The fax gateway cannot process this message (the error is logged): send it another way"
AUTH_LIMIT = "421 4.7.0 Too many failed authentications, closing the connection"
# Each accepted recipient becomes a fax job. Over the cap the reply is 452 (RFC 5321 §4.5.3.1.10):
# the client sends the remaining recipients in another transaction.
MAX_RECIPIENTS = 50
# Failed AUTH attempts a session may make before it is closed (each costs a scrypt derivation).
MAX_AUTH_FAILURES = 3
# Commands that move a session forward: only these (and mail data arriving) restart the idle timer.
PROGRESS_COMMANDS = ("HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "QUIT")
# RFC 5321's limit for command lines (1000 octets with CRLF): aiosmtpd reads commands with it.
COMMAND_LINE_LIMIT = SMTP.line_length_limit


class Bridge:
    """Run blocking (green) calls for asyncio coroutines in a bounded gevent pool."""

    def __init__(self, size: int):
        self._pool = gevent.pool.Pool(size)

    async def call(self, fn: Callable, *args) -> Any:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def settle(value, error):
            if not fut.done():
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(value)

        def work():
            try:
                value, error = fn(*args), None
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting coroutine
                value, error = None, e
            try:
                loop.call_soon_threadsafe(settle, value, error)
            except RuntimeError:  # the loop closed meanwhile (shutdown): nobody is waiting
                pass

        self._pool.spawn(work)
        return await fut

    def kill(self) -> None:
        self._pool.kill(block=True, timeout=5)


class FaxEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[Recipient] = []


class Handler:
    """aiosmtpd hooks: each asks the gateway (in a greenlet) and answers with its reply."""

    def __init__(self, gateway: Gateway, bridge: Bridge, max_bytes: int):
        self._gateway = gateway
        self._bridge = bridge
        self._max_bytes = max_bytes

    async def call(self, server, fn: Callable, *args):
        """Run ``fn`` in a greenlet; the session does not count as idle meanwhile."""
        server.busy += 1
        try:
            return await self._bridge.call(fn, *args)
        finally:
            server.busy -= 1
            server.progress()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.recipients) >= MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients: at most {MAX_RECIPIENTS} faxes per email"
        try:
            result = await self.call(server, self._gateway.check_recipient, envelope.mail_from or "", address,
                                     session.auth_data)
        except StoreUnavailable as e:
            logger.warning("RCPT %s: %s", address, e)
            return TEMPORARY
        if isinstance(result, Reply):
            logger.info("refused %s -> %s: %s", envelope.mail_from, address, result)
            return str(result)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        envelope.recipients.append(result)
        return f"250 2.1.5 Fax to {result.translated_number} through faxbox {result.faxbox['id']}"

    async def handle_DATA(self, server, session, envelope):
        try:
            reply = await self.call(server, self._gateway.accept_message, envelope.mail_from or "",
                                    list(envelope.recipients), envelope.original_content or b"")
        except StoreUnavailable as e:
            logger.warning("DATA from %s: %s", envelope.mail_from, e)
            return TEMPORARY
        logger.info("%s from %s to %s", "accepted" if reply.accepted else "refused", envelope.mail_from,
                    ", ".join(r.rcpt_to for r in envelope.recipients))
        return str(reply)

    async def handle_too_large(self, server, mail_from: str, recipients: list[Recipient], rcpt_to: str | None) -> str:
        try:
            reply = await self.call(server, self._gateway.refuse_too_large, mail_from, recipients, rcpt_to)
        except Exception as e:  # noqa: BLE001 - the refusal stands even when it cannot be logged
            logger.warning("smtplog: cannot record a too-large mail from %s: %s", mail_from, e)
            reply = Reply(552, f"5.3.4 Message too large: this gateway accepts at most {self._max_bytes} bytes")
        return str(reply)

    async def authenticate(self, server, mechanism: str, login: bytes, password: bytes) -> AuthResult:
        try:
            principal = await self.call(server, self._gateway.authenticate, login, password)
        except StoreUnavailable as e:
            logger.warning("AUTH %s: %s", mechanism, e)
            return AuthResult(success=False, handled=False,
                              message="454 4.7.0 Temporary authentication failure, try again later")
        if principal is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, handled=True, auth_data=principal)

    async def handle_exception(self, error):
        if isinstance(error, StoreUnavailable):
            logger.warning("SMTP session: %s", error)
            return TEMPORARY
        logger.error("SMTP session failed: %r", error, exc_info=(type(error), error, error.__traceback__))
        return INTERNAL


class _PendingAuth:
    """What aiosmtpd's synchronous ``_authenticate`` hands back: checked afterwards, in a greenlet."""

    def __init__(self, mechanism: str, login: bytes, password: bytes):
        self.mechanism, self.login, self.password = mechanism, login, password


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP with fax envelopes, logged and explained size refusals, per-address
    session caps, an idle timer that only progress restarts, and per-faxbox AUTH."""

    def __init__(self, handler, *, owner: "SmtpServer", idle_timeout: float, data_line_limit: int, **kwargs):
        self._owner = owner
        self._peer_ip: str | None = None
        self._refused = False
        self._data_line_limit = data_line_limit
        self._receiving = False
        self._auth_failures = 0
        self.busy = 0
        super().__init__(handler, timeout=idle_timeout, **kwargs)
        for name in PROGRESS_COMMANDS:
            if name in self._smtp_methods:
                self._smtp_methods[name] = self._progressing(self._smtp_methods[name])
        self._smtp_methods["DATA"] = self._receiving_data(self._smtp_methods["DATA"])

    def _create_envelope(self):
        return FaxEnvelope()

    # --- per-address session cap

    def connection_made(self, transport):
        if self._peer_ip is None and self._original_transport is None:  # the TCP connection (not STARTTLS)
            peer = transport.get_extra_info("peername") or ("unknown",)
            refusal = self._owner.admit(peer[0])
            if refusal is not None:
                self._refused = True
                transport.write(refusal)
                transport.close()
                return
            self._peer_ip = peer[0]
        super().connection_made(transport)

    def connection_lost(self, error):
        if self._refused:
            return
        self._owner.release(self._peer_ip)
        try:
            super().connection_lost(error)
        except AssertionError:  # aiosmtpd asserts on a session torn down before it began
            pass

    def data_received(self, data):
        if self._refused:
            return
        if self._receiving:  # mail data arriving is progress, however slowly it comes
            self.progress()
        super().data_received(data)

    # --- idle timer: aiosmtpd restarts its timer on every command, NOOP included; here only
    # PROGRESS_COMMANDS, mail data and the gateway's own work do.

    def _reset_timeout(self, duration=None):
        if self._timeout_handle is None:  # the session starts: arm the timer once
            super()._reset_timeout(duration)

    def progress(self) -> None:
        if self.transport is not None and self._timeout_handle is not None:
            super()._reset_timeout()

    def _timeout_cb(self):
        if self.busy:  # a look-up or conversion for this session is running: not idle
            super()._reset_timeout()
            return
        if self.transport is not None:
            self.transport.write(IDLE)
        super()._timeout_cb()

    def _progressing(self, method):
        async def run(arg):
            self.progress()
            await method(arg)
        return run

    def _receiving_data(self, method):
        """DATA reads lines up to the message size (not RFC 5321's 1000 octets): base64 without
        line breaks and bare-LF line ends are common, and the size limit bounds them anyway."""
        async def run(arg):
            self._receiving = True
            self.line_length_limit = self._reader._limit = self._data_line_limit
            try:
                await method(arg)
            finally:
                self._receiving = False
                self.line_length_limit = self._reader._limit = COMMAND_LINE_LIMIT
        return run

    # --- AUTH: aiosmtpd parses PLAIN and LOGIN and calls a synchronous authenticator; the
    # check needs the database, so the parse result comes back here and is checked in a greenlet.

    def _authenticate(self, mechanism, auth_data):
        return AuthResult(success=False, handled=False,
                          auth_data=_PendingAuth(mechanism, auth_data.login, auth_data.password))

    async def _check(self, result: AuthResult) -> AuthResult:
        pending = result.auth_data
        if not isinstance(pending, _PendingAuth):
            return result  # aiosmtpd already answered (bad base64, aborted with '*')
        checked = await self.event_handler.authenticate(self, pending.mechanism, pending.login, pending.password)
        if checked.success or checked.message:
            return checked
        self._auth_failures += 1
        logger.warning("AUTH %s failed for %r from %s (%d)", pending.mechanism,
                       pending.login.decode("utf-8", "replace")[:100], self._peer_ip, self._auth_failures)
        if self._auth_failures >= MAX_AUTH_FAILURES:
            await self.push(AUTH_LIMIT)
            if self.transport is not None:
                self.transport.close()
            return AuthResult(success=False, handled=True)
        return checked

    async def auth_PLAIN(self, _, args):
        return await self._check(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _, args):
        return await self._check(await super().auth_LOGIN(_, args))

    # --- size refusals

    async def smtp_MAIL(self, arg):
        self._mail_arg = arg
        await super().smtp_MAIL(arg)

    async def push(self, status):
        # aiosmtpd answers size overruns itself ("552 Error: ..."; a line longer than the whole
        # size limit is "500 Line too long"), without a handler hook: give them a precise text
        # and an smtplog entry.
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        if text.startswith(("552 Error:", "500 Line too long")):
            env = self.envelope
            mail_from = (env.mail_from if env is not None else None) or _address_of(getattr(self, "_mail_arg", ""))
            recipients = list(getattr(env, "recipients", []) or [])
            status = await self.event_handler.handle_too_large(self, mail_from or "", recipients, None)
        await super().push(status)


def _address_of(arg: str | None) -> str:
    arg = (arg or "").strip()
    if arg[:5].upper() == "FROM:":
        arg = arg[5:].strip()
    if arg.startswith("<"):
        return arg[1:].partition(">")[0]
    return arg.split(" ")[0]


class Busy(asyncio.Protocol):
    """Answers a connection over the session cap with 421 and hangs up (RFC 5321 §3.8)."""

    def connection_made(self, transport):
        transport.write(BUSY)
        transport.close()


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


class SmtpServer:
    """Listens, caps concurrent sessions (in all and per client address), and builds one
    GatewaySMTP per connection."""

    def __init__(self, config, gateway: Gateway, *, bridge: Bridge | None = None):
        self._config = config
        self._bridge = bridge or Bridge(max(4, config.smtp_max_sessions))
        self._handler = Handler(gateway, self._bridge, config.smtp_max_bytes)
        self._tls = tls_context(config.smtp_tls_cert, config.smtp_tls_key)
        self._active = 0
        self._per_peer: collections.Counter[str] = collections.Counter()
        self._server: asyncio.base_events.Server | None = None
        self._idle = None

    @property
    def active_sessions(self) -> int:
        return self._active

    def admit(self, peer: str) -> bytes | None:
        """Count a new session from ``peer``, or the 421 line that refuses it."""
        if self._active >= self._config.smtp_max_sessions:
            return BUSY
        if self._per_peer[peer] >= self._config.smtp_max_sessions_per_ip:
            logger.warning("SMTP: %s already has %d sessions: refused another", peer, self._per_peer[peer])
            return BUSY_PEER
        self._active += 1
        self._per_peer[peer] += 1
        return None

    def release(self, peer: str | None) -> None:
        self._active -= 1
        if peer is not None:
            self._per_peer[peer] -= 1
            if self._per_peer[peer] <= 0:
                del self._per_peer[peer]
        if self._active == 0 and self._idle is not None:
            self._idle.set()

    def _factory(self):
        if self._active >= self._config.smtp_max_sessions:
            return Busy()  # cheap: no session object for a connection refused anyway
        return GatewaySMTP(self._handler, owner=self, idle_timeout=self._config.smtp_idle_timeout,
                           data_line_limit=self._config.smtp_max_bytes + 2,
                           data_size_limit=self._config.smtp_max_bytes,
                           enable_SMTPUTF8=True, hostname=self._config.smtp_domain,
                           ident="faxd fax gateway", tls_context=self._tls, auth_require_tls=True,
                           loop=asyncio.get_running_loop())

    async def start(self) -> tuple[str, int]:
        host, port = self._config.smtp_listen
        self._idle = asyncio.Event()
        try:
            self._server = await asyncio.get_running_loop().create_server(self._factory, host, port,
                                                                          reuse_address=True)
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise StartupError(f"cannot listen on {host}:{port} (FAXD_SMTP_LISTEN): {reason}") from None
        return self._server.sockets[0].getsockname()[:2]

    async def stop(self, grace: float) -> None:
        """Stop accepting; let sessions in progress finish for ``grace`` seconds."""
        if self._server is not None:
            self._server.close()
        if self._active and self._idle is not None:
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except asyncio.TimeoutError:
                logger.warning("%d SMTP sessions still open at shutdown", self._active)


def run(config, store, *, ready: Callable[[tuple[str, int]], None], stop_event=None, grace: float = 10.0) -> int:
    """Serve until SIGTERM/SIGINT (or ``stop_event``, a gevent Event) in this process's main greenlet."""
    import signal

    import gevent

    # aiosmtpd logs every command at INFO on "mail.log": keep faxd's one line per mail instead.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))
    gateway = Gateway(config, store)
    server = SmtpServer(config, gateway)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()

        def request_stop(*_):
            loop.call_soon_threadsafe(stopping.set)

        handlers = [gevent.signal_handler(signal.SIGTERM, request_stop),
                    gevent.signal_handler(signal.SIGINT, request_stop)]
        watcher = None
        if stop_event is not None:
            watcher = gevent.spawn(lambda: (stop_event.wait(), request_stop()))
        try:
            address = await server.start()
            ready(address)
            await stopping.wait()
            await server.stop(grace)
        finally:
            for h in handlers:
                h.cancel()
            if watcher is not None:
                watcher.kill()
        return 0

    return asyncio.run(main())


def announce(address: tuple[str, int], out) -> None:
    """Tell the supervising parent where the gateway listens (one JSON line on ``out``)."""
    out.write(json.dumps({"smtp_listening": [address[0], address[1]]}) + "\n")
    out.flush()

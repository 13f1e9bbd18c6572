"""The composition root: builds faxd's services, starts them, stops them in order.

Stop order (nameko's): stop intake, let in-flight faxes finish within ``shutdown_grace``,
kill what remains (their jobs go back to pending), stop the backends, close the store,
stop the embedded database. A service greenlet that dies stops the daemon with exit 1.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import sys

import gevent
import gevent.event

from faxd import ids, sdnotify
from faxd.config import Config
from faxd.errors import StartupError
from faxd.health import Health
from faxd.httpserver import HttpLimits, StrictWSGIServer

logger = logging.getLogger(__name__)


class Service:
    """A long-lived part of faxd. Subclasses override what they need."""

    name = "service"

    def start(self) -> list[gevent.Greenlet]:
        """Start; return the greenlets whose death means the service crashed."""
        return []

    def stop_intake(self) -> None:
        """Take no new work (calls, jobs, mails, requests)."""

    def drain(self, timeout: float) -> None:
        """Let work in flight finish, for at most ``timeout`` seconds."""

    def stop(self) -> None:
        """Stop everything that is left."""


class ApiServer(Service):
    name = "api"

    def __init__(self, listen: tuple[str, int], app, limits: HttpLimits | None = None):
        self._server = StrictWSGIServer(listen, app, limits=limits, log=None,
                                        error_log=logging.getLogger("faxd.api.wsgi"))
        self._listen = listen

    def bind(self) -> None:
        """Bind now, so that a port in use fails start-up with a clear line."""
        host, port = self._listen
        try:
            self._server.init_socket()
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise StartupError(f"API listen address {host}:{port} is already in use (FAXD_API_LISTEN)") from None
            if e.errno in (errno.EADDRNOTAVAIL, socket.EAI_NONAME, errno.EACCES):
                raise StartupError(f"cannot listen on {host}:{port} (FAXD_API_LISTEN): {e.strerror}") from None
            raise StartupError(f"cannot listen on {host}:{port} (FAXD_API_LISTEN): {e}") from None
        except socket.gaierror as e:
            raise StartupError(f"cannot listen on {host}:{port} (FAXD_API_LISTEN): {e.strerror}") from None

    @property
    def address(self) -> tuple[str, int]:
        return self._server.socket.getsockname()[:2]

    def set_app(self, app) -> None:
        self._server.application = app

    def start(self):
        self._server.start()
        return []

    def stop_intake(self):
        self._server.close()  # stop accepting; requests in flight continue

    def stop(self):
        self._server.stop(timeout=1)


class Heartbeat(Service):
    """Marks this node alive in the database; others take over a node that stops."""

    name = "heartbeat"

    def __init__(self, store, node_id: str, interval: float = 5.0):
        self._store = store
        self._node_id = node_id
        self._interval = interval
        self._greenlet = None

    def _run(self):
        from faxd.errors import StoreError
        while True:
            try:
                self._store.heartbeat(self._node_id)
            except StoreError as e:
                logger.warning("heartbeat failed: %s", e)
            gevent.sleep(self._interval)

    def start(self):
        self._greenlet = gevent.spawn(self._run)
        return [self._greenlet]

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None


class SwitchService(Service):
    """Starts the switch backend first and stops it after everything that uses it."""

    name = "switch"

    def __init__(self, switch):
        self._switch = switch

    def start(self):
        self._switch.start()
        return []

    def stop(self):
        self._switch.stop()


class Daemon:
    def __init__(self, config: Config, out=None):
        self.config = config
        self.node_id = ids.new_id()
        self._out = out or sys.stdout
        self._stop_requested = gevent.event.Event()
        self._exit_code = 0
        self._services: list[Service] = []
        self._watched: list[gevent.Greenlet] = []
        self._embedded = None
        self.store = None
        self.api = None
        self.dsn = None
        self.switch = None
        self.pipeline = None
        self.listener = None
        self.dispatcher = None
        self.router = None
        self.events = None
        self._started: set[int] = set()     # ids of the services whose start() returned

    # --- start-up steps

    def _prepare_home(self) -> None:
        home = self.config.home
        for d in (home, self.config.spool_path):
            try:
                os.makedirs(d, exist_ok=True)
            except OSError as e:
                raise StartupError(f"cannot create {d} (FAXD_HOME): {e.strerror}") from None
        probe = os.path.join(home, f".write-test-{os.getpid()}")
        try:
            with open(probe, "w") as f:
                f.write("ok")
            os.unlink(probe)
        except OSError as e:
            raise StartupError(f"FAXD_HOME {home} is not writable: {e.strerror}") from None

    def _open_database(self) -> str:
        from faxd.store.embedded import EmbeddedPostgres
        from faxd.store.migrate import migrate

        dsn = self.config.database_url
        if dsn is None:
            self._embedded = EmbeddedPostgres(self.config.postgres_dir, self.config.postgres_bindir)
            dsn = self._embedded.start()
        from faxd.errors import StoreError
        try:
            applied = migrate(dsn)
        except StoreError as e:
            raise StartupError(f"database: {e}") from None
        if applied:
            logger.info("database migrated to version %d", applied[-1])
        return dsn

    def _bootstrap(self) -> None:
        b = self.store.bootstrap(self.config.bootstrap_number, self.config.smtp_domain, self.config.station_id)
        if b is None:
            return
        with open(self.config.bootstrap_path, "w") as f:
            json.dump(b.as_dict(), f, indent=2)
            f.write("\n")
        os.chmod(self.config.bootstrap_path, 0o600)
        self._print(f"faxd: bootstrap account created (saved in {self.config.bootstrap_path}):")
        self._print("faxd: bootstrap " + json.dumps(b.as_dict()))

    def _print(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def _build_switch(self):
        """The SwitchBackend chosen by configuration."""
        kind = self.config.switch
        if kind == "software":
            from faxd.switch.software import SoftwareSwitch
            return SoftwareSwitch(self.config, self.store.is_local_number)
        if kind == "freeswitch":
            from faxd.switch.freeswitch.backend import FreeSwitchBackend
            return FreeSwitchBackend(self.config, spool_http_listen=self.config.spool_http_listen,
                                     spool_url=self.config.spool_url)
        from faxd.switch.asterisk.backend import AsteriskBackend
        return AsteriskBackend(self.config)

    def _build_services(self, app) -> list[Service]:
        """Every long-lived service of faxd, in start order (stopped in reverse)."""
        from faxd.inbound.router import InboundRouter
        from faxd.outbound.attacher import Attacher
        from faxd.outbound.dispatcher import Dispatcher
        from faxd.outbound.transmission import Engine, Timeouts
        from faxd.retry import RetryPolicy, parse_overrides
        from faxd.store.listener import Listener

        c = self.config
        policy = RetryPolicy(retry_period=c.retry_period, overrides=parse_overrides(c.retry_overrides),
                             not_fax_attempts=c.not_fax_attempts)
        engine = Engine(config=c, store=self.store, switch=self.switch, node=self.node_id, policy=policy,
                        timeouts=Timeouts.from_config(c), switch_name=c.switch)
        dispatcher = Dispatcher(engine)
        attacher = Attacher(c, self.store, self.pipeline, self.node_id)
        router = InboundRouter(config=c, store=self.store, pipeline=self.pipeline, switch=self.switch,
                               node=self.node_id, switch_name=c.switch)
        self.listener = Listener(self.dsn, {
            "faxd_jobs": [dispatcher.wake, attacher.wake],
            "faxd_cancel": [dispatcher.cancel],
            "faxd_events": [self.events.wake],
        })
        self.dispatcher = dispatcher
        self.router = router
        return [
            SwitchService(self.switch),
            Heartbeat(self.store, self.node_id),
            router,
            attacher,
            dispatcher,
            self.listener,
            self.events,
            self.api,
        ] + self._extra_services() + sdnotify.services(self.api.address)

    def _extra_services(self) -> list[Service]:
        """Notification delivery and the SMTP gateway."""
        services: list[Service] = []
        from faxd.notify.service import NotificationService
        from faxd.retention import RetentionSweeper
        services.append(NotificationService(self.config, self.store))
        services.append(RetentionSweeper(self.config, self.store))
        if self.config.document_key_file:
            from faxd.rekey import Rekeyer
            services.append(Rekeyer(self.store))
        if self.config.smtp_listen is not None:
            from faxd.smtp.service import SmtpGatewayService
            services.append(SmtpGatewayService(self.config, self.dsn))
        return services

    def _counters(self) -> dict[str, int]:
        """Counts /health shows since this process started."""
        router = getattr(self, "router", None)
        return {"inbound_rejected_unknown_number": router.rejected_unknown if router is not None else 0}

    def _not_ready(self) -> list[str]:
        """Services not started yet, or not ready (a service's optional ``ready()``)."""
        if not self._services:
            return ["starting"]
        return [s.name for s in self._services
                if id(s) not in self._started or not getattr(s, "ready", lambda: True)()]

    def _wait_ready(self, timeout: float = 10.0) -> None:
        """Let the services that connect in the background (the database listener) get ready,
        so that /health says 200 from the moment faxd says it listens; a slow one is logged."""
        deadline = gevent.get_hub().loop.now() + timeout
        while (waiting := self._not_ready()) and gevent.get_hub().loop.now() < deadline:
            gevent.sleep(0.02)
        if waiting:
            logger.warning("not ready yet: %s (see /health)", ", ".join(waiting))

    def _calls(self) -> list[dict]:
        """Calls in progress on this node, for /metrics."""
        out = []
        if self.dispatcher is not None:
            out.append({"switch": self.config.switch, "direction": "outbound", "count": self.dispatcher.running})
        if self.router is not None:
            out.append({"switch": self.config.switch, "direction": "inbound", "count": self.router.active})
        return out

    def build_app(self):
        from faxd import metrics
        from faxd.api.app import create_app
        from faxd.events import EventHub
        self.events = EventHub(self.store, window=self.config.events_window, heartbeat=self.config.events_heartbeat)
        metrics.install(metrics.LiveCollector(self.node_id, self.store, self._calls, self.switch.status))
        health = Health(self.store, self.switch.status, counters=self._counters, not_ready=self._not_ready)
        return create_app(self.config, self.store, documents=self.pipeline, health=health, events=self.events)

    # --- lifecycle

    def run(self) -> int:
        """Start everything, wait for a stop request or a crash, stop in order."""
        from faxd.store import PostgresStore

        self._prepare_home()
        self.api = ApiServer(self.config.api_listen, None, HttpLimits.from_config(self.config))
        self.api.bind()
        try:
            dsn = self._open_database()
            self.dsn = dsn
            from faxd.store.crypto import DocumentCipher
            self.store = PostgresStore(dsn, self.config.db_pool_size, cipher=DocumentCipher.from_config(self.config))
            self._bootstrap()
            from faxd.documents import DocumentPipeline, sandbox
            sandbox.sweep()
            sandbox.isolation()   # the converters' user exists (or is created), namespaces probed
            self.pipeline = DocumentPipeline(self.config)
            self.switch = self._build_switch()
            app = self.build_app()
            self.api.set_app(app)
            self._services = self._build_services(app)
            for service in self._services:
                for g in service.start():
                    g.link_exception(self._service_crashed(service))
                    self._watched.append(g)
                self._started.add(id(service))
            self._wait_ready()
            host, port = self.api.address
            self._print(f"faxd: API listening on http://{host}:{port}")
            logger.info("faxd running (node %s, switch %s)", self.node_id, self.config.switch)
            self._install_signals()
            self._stop_requested.wait()
        finally:
            self._shutdown()
        return self._exit_code

    def request_stop(self, *_args) -> None:
        if not self._stop_requested.is_set():
            logger.info("stopping")
        self._stop_requested.set()

    def _service_crashed(self, service: Service):
        def crashed(g: gevent.Greenlet) -> None:
            if self._stop_requested.is_set():
                return  # killed while stopping: not a crash
            logger.critical("service %s crashed: %r", service.name, g.exception,
                            exc_info=(type(g.exception), g.exception, g.exception.__traceback__))
            self._exit_code = 1
            self.request_stop()
        return crashed

    def _install_signals(self) -> None:
        gevent.signal_handler(signal.SIGTERM, self.request_stop)
        gevent.signal_handler(signal.SIGINT, self.request_stop)

    def _shutdown(self) -> None:
        # NOTE: no unlink_all() on the watched greenlets: a greenlet in a gevent Group would
        # then never leave it and Group.kill() would wait for ever.
        self._stop_requested.set()
        services = list(reversed(self._services))
        for s in services:
            s.stop_intake()
        deadline = gevent.get_hub().loop.now() + self.config.shutdown_grace
        for s in services:
            s.drain(max(0.0, deadline - gevent.get_hub().loop.now()))
        for s in services:
            try:
                s.stop()
            except Exception:
                logger.exception("stopping %s failed", s.name)
        if self.store is not None:
            try:
                self.store.forget_node(self.node_id)
            except Exception:
                pass
            self.store.close()
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

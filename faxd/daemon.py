"""The composition root: builds faxd's services and hands them to the ServiceRunner.

Start order: the switch backend, the heartbeat, the switch watch, the inbound router, the
attacher, the dispatcher, the database listener, the event stream (the fan-out process), the
API, notification delivery, the retention sweeper,
the rekeyer (with a document key), the SMTP gateway, the systemd notifier (under systemd). The
runner (:mod:`faxd.service`) stops them in reverse (nameko's order: stop intake, let in-flight
faxes finish within ``shutdown_grace``, stop what remains; its jobs go back to pending); the
daemon then closes the store and stops the embedded database. A service greenlet that dies
stops the daemon with exit 1.
"""
from __future__ import annotations

import json
import logging
import os
import sys

import gevent

from faxd import green, ids, metrics, sdnotify
from faxd.api.app import create_app
from faxd.api.server import ApiServer
from faxd.config import Config
from faxd.documents import DocumentPipeline, sandbox
from faxd.errors import StartupError, StoreError
from faxd.events import EventHub
from faxd.fanout import FanoutProcess
from faxd.health import Health
from faxd.httpserver import HttpLimits
from faxd.inbound.router import InboundRouter
from faxd.notify.service import NotificationService
from faxd.outbound.attacher import Attacher
from faxd.outbound.dispatcher import Dispatcher
from faxd.outbound.transmission import Engine, Timeouts
from faxd.rekey import Rekeyer
from faxd.retention import RetentionSweeper
from faxd.retry import RetryPolicy, parse_overrides
from faxd.service import Component, Service, ServiceRunner
from faxd.smtp.service import SmtpGatewayService
from faxd.store import PostgresStore
from faxd.store.crypto import DocumentCipher
from faxd.store.embedded import EmbeddedPostgres
from faxd.store.heartbeat import Heartbeat
from faxd.store.listener import Listener
from faxd.store.migrate import migrate
from faxd.switch.asterisk.backend import AsteriskBackend
from faxd.switch.freeswitch.backend import FreeSwitchBackend
from faxd.switch.software import SoftwareSwitch
from faxd.switch.watch import SwitchWatch

logger = logging.getLogger(__name__)


class Daemon:
    def __init__(self, config: Config, out=None, extra_services: list[Service] = (), owns_process: bool = False):
        """``extra_services``: services of an embedding program, started after faxd's own and
        stopped before them, under the same rules (a crash stops faxd with exit 1).
        ``owns_process``: the process is this daemon's alone (``faxd run``): once it serves,
        what it started with is frozen out of the garbage collector's walks
        (:func:`faxd.green.settle_heap`). An embedding program keeps its own heap policy."""
        self.config = config
        self._owns_process = owns_process
        self._extra = list(extra_services)
        self.node_id = ids.new_id()
        self._out = out or sys.stdout
        self._runner = ServiceRunner()
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
        dsn = self.config.database_url
        if dsn is None:
            self._embedded = EmbeddedPostgres(self.config.postgres_dir, self.config.postgres_bindir)
            dsn = self._embedded.start()
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
            return SoftwareSwitch(self.config, self.store.is_local_number)
        if kind == "freeswitch":
            return FreeSwitchBackend(self.config, spool_http_listen=self.config.spool_http_listen,
                                     spool_url=self.config.spool_url)
        return AsteriskBackend(self.config)

    def _build_services(self, app) -> list[Service]:
        """Every long-lived service of faxd, in start order (stopped in reverse)."""
        c = self.config
        policy = RetryPolicy(retry_period=c.retry_period, overrides=parse_overrides(c.retry_overrides),
                             not_fax_attempts=c.not_fax_attempts)
        engine = Engine(config=c, store=self.store, switch=self.switch, node=self.node_id, policy=policy,
                        timeouts=Timeouts.from_config(c), switch_name=c.switch)
        dispatcher = Dispatcher(engine)
        attacher = Attacher(c, self.store, self.pipeline, self.node_id)
        router = InboundRouter(config=c, store=self.store, pipeline=self.pipeline, switch=self.switch,
                               node=self.node_id, switch_name=c.switch)
        channels = {"faxd_jobs": [dispatcher.wake, attacher.wake], "faxd_cancel": [dispatcher.cancel]}
        if isinstance(self.events, EventHub):   # else the fan-out process listens itself
            channels["faxd_events"] = [self.events.wake]
        self.listener = Listener(self.dsn, channels)
        self.dispatcher = dispatcher
        self.router = router
        services: list[Service] = [
            Component("switch", self.switch),   # started first, stopped after everything that uses it
            Heartbeat(self.store, self.node_id),
            SwitchWatch(self.switch.status, self.store.add_event, self.node_id),   # switch_(dis)connected events
            router,
            attacher,
            dispatcher,
            self.listener,
            self.events,
            self.api,
            NotificationService(c, self.store),
            RetentionSweeper(c, self.store),
        ]
        if c.document_key_file:
            services.append(Rekeyer(self.store))
        if c.smtp_listen is not None:
            services.append(SmtpGatewayService(c, self.dsn))
        return services + sdnotify.services(self.api.address) + self._extra

    def _counters(self) -> dict[str, int]:
        """Counts /health shows since this process started."""
        router = getattr(self, "router", None)
        return {"inbound_rejected_unknown_number": router.rejected_unknown if router is not None else 0}

    def _not_ready(self) -> list[str]:
        """Services not started yet, or not ready (a service's optional ``ready()``)."""
        return self._runner.not_ready()

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
        if self.config.events_process:   # the streams are written by python -m faxd.fanout
            self.events = FanoutProcess(self.dsn, self.config)
        else:
            self.events = EventHub(self.store, window=self.config.events_window, heartbeat=self.config.events_heartbeat)
        metrics.install(metrics.LiveCollector(self.node_id, self.store, self._calls, self.switch.status))
        health = Health(self.store, self.switch.status, counters=self._counters, not_ready=self._not_ready)
        return create_app(self.config, self.store, documents=self.pipeline, health=health, events=self.events)

    # --- lifecycle

    def run(self) -> int:
        """Start everything, wait for a stop request or a crash, stop in order."""
        self._prepare_home()
        self.api = ApiServer(self.config.api_listen, None, HttpLimits.from_config(self.config))
        self.api.bind()
        try:
            dsn = self._open_database()
            self.dsn = dsn
            self.store = PostgresStore(dsn, self.config.db_pool_size, cipher=DocumentCipher.from_config(self.config),
                                       commit_writers=self.config.commit_writers)
            self._bootstrap()
            sandbox.sweep()
            sandbox.isolation()   # the converters' user exists (or is created), namespaces probed
            self.pipeline = DocumentPipeline(self.config)
            self.switch = self._build_switch()
            app = self.build_app()
            self.api.set_app(app)
            self._runner.services = self._build_services(app)
            self._runner.start()
            self._wait_ready()
            metrics.watch_gc()
            if self._owns_process:
                green.settle_heap()
            host, port = self.api.address
            self._print(f"faxd: API listening on http://{host}:{port}")
            logger.info("faxd running (node %s, switch %s)", self.node_id, self.config.switch)
            self._runner.handle_signals()
            self._runner.wait()
        finally:
            self._shutdown()
        return self._runner.exit_code

    def request_stop(self, *_args) -> None:
        self._runner.request_stop()

    def _shutdown(self) -> None:
        self._runner.stop(self.config.shutdown_grace)
        if self.store is not None:
            try:
                self.store.forget_node(self.node_id)
            except Exception:
                pass
            self.store.close()
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

"""The lifecycle of faxd's long-lived parts: :class:`Service` and the :class:`ServiceRunner`.

A service is started in its place and stopped in three steps, the runner's stop order
(nameko's): every service stops taking new work (``stop_intake``, last started first), then
the work in flight may finish within the grace period (``drain``), then what remains is
stopped (``stop``; a fax killed there goes back to pending). A greenlet a service returns
from ``start`` is watched: its death is a crash, and the runner stops everything with exit
code 1 (the process supervisor restarts faxd).

The composition root (:mod:`faxd.daemon`) builds the services; this module knows none of them.
"""
from __future__ import annotations

import logging
import signal
import subprocess
from typing import Callable, Iterable

import gevent
import gevent.event
import gevent.pool

logger = logging.getLogger(__name__)


def end_process(proc, timeout: float) -> None:
    """End a child process (``subprocess.Popen`` or gevent's): SIGTERM, then SIGKILL when it
    has not exited ``timeout`` seconds later; reaped either way. None or an exited one: nothing."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Service:
    """A long-lived part of faxd. Subclasses override the hooks they need.

    The base holds what services share, so that most need no stop code of their own:

    - ``accepting``: True until ``stop_intake``; a service's loops run while it holds.
    - ``wakeup``: an event a service's loops wait on; ``stop_intake`` sets it so that a
      waiting loop sees at once that it is to end.
    - ``work``: the pool (or group) of greenlets doing work in flight (a call, a document,
      a delivery): ``drain`` waits for it, ``stop`` kills what is left (waiting at most
      ``work_kill_timeout`` seconds for it to end).
    - the service's own loops, started with :meth:`spawn_loops`: watched by the runner and
      killed first by ``stop``.
    """

    name = "service"
    work_kill_timeout = 5.0
    loop_kill_timeout = 2.0

    def __init__(self, work: gevent.pool.Group | None = None):
        self.accepting = True
        self.wakeup = gevent.event.Event()
        self.work = work
        self._loops: list[gevent.Greenlet] = []

    def spawn_loops(self, *loops: Callable[[], None]) -> list[gevent.Greenlet]:
        """Start the service's own loops (plain greenlets, killed by ``stop``); the list is what
        ``start`` returns, so the runner watches them."""
        self._loops = [gevent.spawn(loop) for loop in loops]
        return list(self._loops)

    # --- the hooks the runner calls

    def start(self) -> list[gevent.Greenlet]:
        """Start; return the greenlets whose death means the service crashed."""
        return []

    def stop_intake(self) -> None:
        """Take no new work (calls, jobs, mails, requests)."""
        self.accepting = False
        self.wakeup.set()

    def drain(self, timeout: float) -> None:
        """Let work in flight finish, for at most ``timeout`` seconds."""
        if self.work is not None:
            self.work.join(timeout=timeout)

    def stop(self) -> None:
        """Stop everything that is left: the loops, then the work still in flight."""
        self.stop_loops()
        self.stop_work()

    # --- the two halves of stop, for services that do something in between

    def stop_loops(self) -> None:
        self.accepting = False
        loops, self._loops = self._loops, []
        gevent.killall(loops, block=True, timeout=self.loop_kill_timeout)

    def stop_work(self) -> None:
        if self.work is not None:
            self.work.kill(block=True, timeout=self.work_kill_timeout)


class Component(Service):
    """An object with ``start()`` and ``stop()`` (a switch backend) as a service: started in its
    place among the services, so stopped after every service started after it."""

    def __init__(self, name: str, component):
        super().__init__()
        self.name = name
        self._component = component

    def start(self):
        self._component.start()
        return []

    def stop(self):
        self._component.stop()


class ServiceRunner:
    """Starts services in order, watches their greenlets, stops them in reverse order.

    ``stop`` stops every service it holds, started or not, so that a start-up that fails half
    way releases what the services built before (a bound socket, say).
    """

    def __init__(self, services: Iterable[Service] = ()):
        self.services: list[Service] = list(services)
        self.exit_code = 0
        self._stop_requested = gevent.event.Event()
        self._started: set[int] = set()     # ids of the services whose start() returned

    @property
    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    def start(self) -> None:
        for service in self.services:
            for g in service.start():
                g.link_exception(self._crashed(service))
            self._started.add(id(service))

    def not_ready(self) -> list[str]:
        """The services not started yet, or not ready (a service's optional ``ready()``): what
        /health names while it answers 503."""
        if not self.services:
            return ["starting"]
        return [s.name for s in self.services
                if id(s) not in self._started or not getattr(s, "ready", lambda: True)()]

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT ask for a stop."""
        gevent.signal_handler(signal.SIGTERM, self.request_stop)
        gevent.signal_handler(signal.SIGINT, self.request_stop)

    def wait(self) -> int:
        """Until a stop is asked for or a service crashes; the exit code."""
        self._stop_requested.wait()
        return self.exit_code

    def request_stop(self, *_args) -> None:
        if not self._stop_requested.is_set():
            logger.info("stopping")
        self._stop_requested.set()

    def _crashed(self, service: Service):
        def crashed(g: gevent.Greenlet) -> None:
            if self._stop_requested.is_set():
                return  # killed while stopping: not a crash
            logger.critical("service %s crashed: %r", service.name, g.exception,
                            exc_info=(type(g.exception), g.exception, g.exception.__traceback__))
            self.exit_code = 1
            self.request_stop()
        return crashed

    def stop(self, grace: float) -> None:
        """Stop intake everywhere, drain within ``grace`` seconds, stop everything left."""
        # NOTE: no unlink_all() on the watched greenlets: a greenlet in a gevent Group would
        # then never leave it and Group.kill() would wait for ever.
        self._stop_requested.set()
        services = list(reversed(self.services))
        for s in services:
            s.stop_intake()
        clock = gevent.get_hub().loop
        deadline = clock.now() + grace
        for s in services:
            s.drain(max(0.0, deadline - clock.now()))
        for s in services:
            try:
                s.stop()
            except Exception:
                logger.exception("stopping %s failed", s.name)

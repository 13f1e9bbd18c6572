"""SwitchWatch: the node's switch connections as events (``switch_connected``,
``switch_disconnected``) on the all-accounts stream, so that the ops page and ``faxd top``
show a connection going down or coming back as it happens.

It reads the backend's ``status()`` (what /metrics and /health read) every ``interval``
seconds and emits one event per change: a connection seen up for the first time, a
connection lost, a connection back. When the node stops, every connection it had up is
reported down. Events are written to the events table (``emit``), so they reach every node's
streams and a reconnecting client's backlog like any other event.
"""
from __future__ import annotations

import logging
from typing import Callable

import gevent

from faxd.errors import StoreError
from faxd.service import Service

logger = logging.getLogger(__name__)


class SwitchWatch(Service):
    name = "switch-watch"

    def __init__(self, status: Callable[[], list[dict]], emit: Callable[[str, dict], None], node: str,
                 interval: float = 0.5):
        super().__init__()
        self._status = status
        self._emit = emit
        self._node = node
        self._interval = interval
        self.connected: dict[str, bool] = {}    # switch name -> last state reported

    def start(self):
        return self.spawn_loops(self._run)

    def _run(self) -> None:
        while self.accepting:
            self.check()
            self.wakeup.wait(timeout=self._interval)

    def check(self) -> None:
        """Report what changed since the last check."""
        try:
            now = {s["name"]: bool(s.get("connected")) for s in self._status()}
        except Exception:   # a backend's status must not stop the watch
            logger.exception("switch status")
            return
        for name, up in now.items():
            if self.connected.get(name, False) != up:
                if self._report(name, up):
                    self.connected[name] = up

    def _report(self, name: str, up: bool) -> bool:
        kind = "switch_connected" if up else "switch_disconnected"
        try:
            self._emit(kind, {"switch": name, "node": self._node})
        except StoreError as e:
            logger.warning("switch event not recorded (tried again): %s", e)
            return False
        return True

    def stop(self) -> None:
        super().stop()
        for name, up in list(self.connected.items()):
            if up and self._report(name, False):   # this node's connections end with it
                self.connected[name] = False

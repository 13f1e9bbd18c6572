"""Heartbeat: marks this node alive in the database; other nodes take over a node that stops."""
from __future__ import annotations

import logging

import gevent

from faxd.errors import StoreError
from faxd.service import Service

logger = logging.getLogger(__name__)


class Heartbeat(Service):
    name = "heartbeat"

    def __init__(self, store, node_id: str, interval: float = 5.0):
        super().__init__()
        self._store = store
        self._node_id = node_id
        self._interval = interval

    def _run(self):
        while True:
            try:
                self._store.heartbeat(self._node_id)
            except StoreError as e:
                logger.warning("heartbeat failed: %s", e)
            gevent.sleep(self._interval)

    def start(self):
        return self.spawn_loops(self._run)

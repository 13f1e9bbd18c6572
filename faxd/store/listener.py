"""LISTEN on its own autocommit connection and wake the services that wait on a channel.

Notifications sent while the connection is down are lost; after every (re)connect each
callback is called once with ``None`` so that its service catches up, and the services keep
a slow fallback tick of their own.
"""
from __future__ import annotations

import logging
from typing import Callable

import gevent
import psycopg2
from gevent.socket import wait_read

from faxd.service import Service
from faxd.store.pool import connect

logger = logging.getLogger(__name__)


class Listener(Service):
    name = "listener"

    def __init__(self, dsn: str, channels: dict[str, list[Callable[[str | None], None]]],
                 idle_timeout: float = 5.0, application_name: str = "faxd-listen"):
        super().__init__()
        self._dsn = dsn
        self._application_name = application_name
        self._channels = channels
        self._idle_timeout = idle_timeout
        self._conn = None
        self.connected = False

    def start(self):
        return self.spawn_loops(self._run)

    def ready(self) -> bool:
        return self.connected

    def _dispatch(self, channel: str, payload: str | None) -> None:
        for cb in self._channels.get(channel, ()):
            cb(payload)

    def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                self._conn = connect(self._dsn, application_name=self._application_name)
                with self._conn.cursor() as cur:
                    for channel in self._channels:
                        cur.execute(f"LISTEN {channel}")
                self.connected = True
                backoff = 0.1
                for channel in self._channels:
                    self._dispatch(channel, None)  # catch up on what we may have missed
                while True:
                    try:
                        wait_read(self._conn.fileno(), timeout=self._idle_timeout)
                    except TimeoutError:
                        continue
                    self._conn.poll()
                    while self._conn.notifies:
                        n = self._conn.notifies.pop(0)
                        self._dispatch(n.channel, n.payload)
            except (psycopg2.Error, OSError) as e:
                if self.connected:
                    logger.warning("database listener lost its connection: %s", str(e).strip().splitlines()[0])
                self.connected = False
                self._close()
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
            self._conn = None

    def stop(self):
        super().stop()
        self._close()

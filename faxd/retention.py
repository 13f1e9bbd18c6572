"""RetentionSweeper: applies the retention policies (faxd/store/retention.py) every
``retention_interval`` seconds. Every node sweeps; batches skip rows another node holds, so
several sweepers share the work instead of waiting on each other."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import gevent

from faxd.daemon import Service
from faxd.errors import StoreError

logger = logging.getLogger(__name__)


class RetentionSweeper(Service):
    name = "retention"

    def __init__(self, config, store, now=lambda: datetime.now(timezone.utc)):
        self._config = config
        self._store = store
        self._now = now
        self._greenlet = None

    def sweep(self) -> dict[str, int]:
        counts = self._store.sweep_retention(self._now(), documents_days=self._config.retention_documents_days,
                                             purge_days=self._config.retention_purge_days)
        if any(counts.values()):
            logger.info("retention: deleted %(documents)d documents, %(jobs)d sent faxes, "
                        "%(inbox)d received faxes", counts)
        return counts

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except StoreError as e:
                logger.warning("retention sweep: %s", e)
            gevent.sleep(self._config.retention_interval)

    def start(self):
        self._greenlet = gevent.spawn(self._run)
        return [self._greenlet]

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None

"""RetentionSweeper: applies the retention policies (faxd/store/retention.py) every
``retention_interval`` seconds. Every node sweeps; batches skip rows another node holds, so
several sweepers share the work instead of waiting on each other."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import gevent

from faxd.errors import StoreError
from faxd.service import Service

logger = logging.getLogger(__name__)

# After each batch the sweeper rests this many times as long as the batch took: deleting a
# backlog (a policy shortened, 100,000 documents due at once) then takes at most half of one
# database connection's time, and the API's listings keep their latency (bench retention).
REST_PER_BATCH = 1.0


class RetentionSweeper(Service):
    name = "retention"

    def __init__(self, config, store, now=lambda: datetime.now(timezone.utc)):
        super().__init__()
        self._config = config
        self._store = store
        self._now = now

    def sweep(self) -> dict[str, int]:
        now = self._now()
        counts = self._store.sweep_retention(now, documents_days=self._config.retention_documents_days,
                                             purge_days=self._config.retention_purge_days, rest=self._rest)
        if any(counts.values()):
            logger.info("retention: deleted %(documents)d documents, %(jobs)d sent faxes, "
                        "%(inbox)d received faxes", counts)
        # What was learned per number (faxd/routes.py) goes when it expires.
        learned = self._store.expire_learned(now)
        if learned:
            logger.info("retention: forgot what was learned for %d numbers (expired)", learned)
        return counts

    @staticmethod
    def _rest(took: float) -> None:
        gevent.sleep(took * REST_PER_BATCH)

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except StoreError as e:
                logger.warning("retention sweep: %s", e)
            gevent.sleep(self._config.retention_interval)

    def start(self):
        return self.spawn_loops(self._run)

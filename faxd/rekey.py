"""Rekeyer: after a new key is put first in the document key file, re-encrypts the documents
sealed with older keys (and those stored before encryption was configured), in small batches,
until none is left; then it checks again from time to time."""
from __future__ import annotations

import logging

import gevent

from faxd.daemon import Service
from faxd.errors import DocumentKeyError, StoreError

logger = logging.getLogger(__name__)


class Rekeyer(Service):
    name = "rekey"

    def __init__(self, store, idle: float = 300.0, batch: int = 100):
        self._store = store
        self._idle = idle
        self._batch = batch
        self._greenlet = None

    def run_once(self) -> int:
        """Re-encrypt until nothing is left; return how many documents were."""
        total = 0
        while True:
            n = self._store.rekey_documents(self._batch)
            total += n
            if n < self._batch:
                return total
            gevent.sleep(0)   # let calls and requests run between batches

    def _run(self) -> None:
        while True:
            try:
                n = self.run_once()
                if n:
                    logger.info("rekey: %d documents now sealed with key %s", n, self._store.key_id)
            except (StoreError, DocumentKeyError) as e:
                logger.warning("rekey: %s", e)
            gevent.sleep(self._idle)

    def start(self):
        self._greenlet = gevent.spawn(self._run)
        return [self._greenlet]

    def stop(self):
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None

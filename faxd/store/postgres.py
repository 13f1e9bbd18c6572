"""PostgresStore: the Store seam on PostgreSQL (psycopg2, green under psycogreen).

The store knows nothing of HTTP or switches. Area mixins (accounts, jobs, ...) hold the
methods; each method runs the named query of the same name from ``queries/*.sql`` through
the database layer they all share (:mod:`faxd.store.db`: pool, transactions, statements,
driver errors translated into :mod:`faxd.errors`).
"""
from __future__ import annotations

from faxd.errors import StoreError
from faxd.store.accounts import AccountsMixin
from faxd.store.batches import BatchesMixin
from faxd.store.db import Database
from faxd.store.dispatch import DispatchMixin
from faxd.store.documents import DocumentsMixin
from faxd.store.events import EventsMixin
from faxd.store.faxboxes import FaxboxesMixin
from faxd.store.idempotency import IdempotencyMixin
from faxd.store.inbox import InboxMixin
from faxd.store.incoming import IncomingMixin
from faxd.store.jobs import JobsMixin
from faxd.store.limits import LimitsMixin
from faxd.store.notification_log import NotificationLogMixin
from faxd.store.notifications import NotificationsMixin
from faxd.store.smtp_gateway import SmtpGatewayMixin
from faxd.store.smtplog import SmtplogMixin
from faxd.store.retention import RetentionMixin
from faxd.store.routes import RoutesMixin


class PostgresStore(AccountsMixin, FaxboxesMixin, JobsMixin, DispatchMixin, DocumentsMixin,
                    InboxMixin, IncomingMixin, SmtplogMixin, SmtpGatewayMixin, NotificationsMixin,
                    LimitsMixin, IdempotencyMixin, BatchesMixin, RetentionMixin, NotificationLogMixin, EventsMixin,
                    RoutesMixin, Database):
    def __init__(self, dsn: str, pool_size: int = 20, clock=None, cipher=None, commit_writers: int = 0):
        super().__init__(dsn, pool_size, commit_writers)
        self._cipher = cipher   # DocumentCipher: documents encrypted at rest (faxd/store/crypto.py)

    # --- health

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            self._one("ping")
            return True
        except StoreError:
            return False

    def close(self) -> None:
        self._stop_auth_listener()
        super().close()

"""PostgresStore: the Store seam on PostgreSQL (psycopg2, green under psycogreen).

The store knows nothing of HTTP or switches. Area mixins (accounts, jobs, ...) hold the
methods; each method runs the named query of the same name from ``queries/*.sql``.
Driver errors are translated once, here, into :mod:`faxd.errors`.
"""
from __future__ import annotations

import contextlib
import logging

import psycopg2
import psycopg2.errors
import psycopg2.extras

from faxd.errors import StoreError, StoreUnavailable
from faxd.store import queries as _queries
from faxd.store.accounts import AccountsMixin
from faxd.store.batches import BatchesMixin
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
from faxd.store.pool import ConnectionPool, lost_primary
from faxd.store.retention import RetentionMixin

logger = logging.getLogger(__name__)

_QUERIES = _queries.load()


@contextlib.contextmanager
def wrap_errors():
    """Turn driver errors into faxd errors (StoreUnavailable for lost connections)."""
    try:
        yield
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
        raise StoreUnavailable(f"database unavailable: {_first_line(e)}") from e
    except psycopg2.Error as e:
        if lost_primary(e):   # e.g. read-only: the server is a standby now (failover)
            raise StoreUnavailable(f"database unavailable: {_first_line(e)}") from e
        raise


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


class PostgresStore(AccountsMixin, FaxboxesMixin, JobsMixin, DispatchMixin, DocumentsMixin,
                    InboxMixin, IncomingMixin, SmtplogMixin, SmtpGatewayMixin, NotificationsMixin,
                    LimitsMixin, IdempotencyMixin, BatchesMixin, RetentionMixin,
                    NotificationLogMixin, EventsMixin):
    def __init__(self, dsn: str, pool_size: int = 20, clock=None, cipher=None):
        self._pool = ConnectionPool(dsn, size=pool_size)
        self._cipher = cipher   # DocumentCipher: documents encrypted at rest (faxd/store/crypto.py)
        self.dsn = dsn

    # --- plumbing shared by the area mixins

    @contextlib.contextmanager
    def transaction(self):
        """A cursor (rows as dicts) inside one transaction: commit on success."""
        with wrap_errors():
            with self._pool.connection() as conn:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    cur.execute("BEGIN")
                    yield cur  # an exception leaves the transaction open: the pool rolls it back
                    cur.execute("COMMIT")

    @contextlib.contextmanager
    def _statement(self):
        """A cursor for one statement on an autocommit connection: one round trip."""
        with wrap_errors():
            with self._pool.connection() as conn:
                with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                    yield cur

    @staticmethod
    def sql(name: str) -> str:
        return _QUERIES[name]

    def _one(self, name: str, params=None, cur=None):
        if cur is not None:
            cur.execute(_QUERIES[name], params)
            return cur.fetchone() if cur.description else None
        with self._statement() as c:
            c.execute(_QUERIES[name], params)
            return c.fetchone() if c.description else None

    def _all(self, name: str, params=None, cur=None):
        if cur is not None:
            cur.execute(_QUERIES[name], params)
            return cur.fetchall()
        with self._statement() as c:
            c.execute(_QUERIES[name], params)
            return c.fetchall()

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
        self._pool.close()

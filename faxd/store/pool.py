"""A small PostgreSQL connection pool that waits (greenlet-friendly) instead of failing.

psycopg2's ThreadedConnectionPool raises ``PoolError`` when empty; under gevent we want
callers to queue. Broken connections (server restart) are dropped, not handed out again.
"""
from __future__ import annotations

import contextlib
import logging

import gevent.lock
import gevent.monkey
import psycopg2
import psycopg2.extensions

from faxd.errors import StoreUnavailable

logger = logging.getLogger(__name__)


def _abort(conn) -> bool:
    """Roll back whatever the connection is in; False (and closed) when that fails."""
    if conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        return True
    try:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK")
        return True
    except psycopg2.Error:
        conn.close()
        return False


# SQLSTATEs that say "this server cannot serve us as a primary any more": 25006 read-only
# transaction (a demoted primary, or a standby reached without target_session_attrs), 57P01
# admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up, in recovery).
LOST_PRIMARY = frozenset({"25006", "57P01", "57P02", "57P03"})


def lost_primary(e: BaseException) -> bool:
    """True for an error after which the connection must be dropped, not reused: the server
    said so (above, or class 08: connection exception), or never answered (no SQLSTATE).
    A deadlock or a statement timeout leaves a good connection: it is rolled back and kept."""
    if not isinstance(e, psycopg2.Error):
        return False
    code = getattr(e, "pgcode", None)
    if code is None:
        return isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError))
    return code in LOST_PRIMARY or code.startswith("08")


# The unpatched select: a zero-timeout poll never blocks, and gevent's version would cost a
# trip through the hub on every query.
_select = gevent.monkey.get_original("select", "select")


def _readable(conn) -> bool:
    try:
        return bool(_select([conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError, psycopg2.Error):
        return True


class ConnectionPool:
    def __init__(self, dsn: str, size: int = 20, acquire_timeout: float = 10.0,
                 connect_timeout: int = 5):
        self._dsn = dsn
        self._size = size
        self._sem = gevent.lock.BoundedSemaphore(size)
        self._idle: list = []
        self._acquire_timeout = acquire_timeout
        self._connect_timeout = connect_timeout
        self._closed = False

    @property
    def dsn(self) -> str:
        return self._dsn

    def _connect(self):
        conn = psycopg2.connect(self._dsn, connect_timeout=self._connect_timeout,
                                application_name="faxd")
        # Autocommit: a single statement is one round trip (psycopg2 would otherwise send
        # BEGIN and COMMIT around it); transactions say BEGIN themselves.
        conn.autocommit = True
        return conn

    @contextlib.contextmanager
    def connection(self):
        if self._closed:
            raise StoreUnavailable("the database pool is closed")
        if not self._sem.acquire(timeout=self._acquire_timeout):
            raise StoreUnavailable("no database connection free (pool exhausted)")
        conn = None
        try:
            while self._idle and conn is None:
                candidate = self._idle.pop()
                if candidate.closed or _readable(candidate):
                    # An idle connection has nothing to read unless the server closed it
                    # (restart, idle timeout): drop it rather than fail the caller's query.
                    candidate.close()
                else:
                    conn = candidate
            if conn is None:
                conn = self._connect()
            yield conn
        except BaseException as e:
            if conn is not None and not conn.closed:
                if lost_primary(e):
                    # A server that is no longer the primary (failover, switchover) or is
                    # shutting down: its sessions are useless; the next connect goes through
                    # the URL's host list again and finds the new primary.
                    conn.close()
                else:
                    _abort(conn)
            raise
        finally:
            if conn is not None:
                if conn.closed or self._closed:
                    conn.close()
                    if not self._closed:
                        # The server went away (restart, failover): the idle connections
                        # are most likely dead too; reconnect afresh instead of failing again.
                        self._drop_idle()
                elif conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    if _abort(conn):
                        self._idle.append(conn)
                else:
                    self._idle.append(conn)
            self._sem.release()

    def _drop_idle(self) -> None:
        while self._idle:
            self._idle.pop().close()

    def close(self) -> None:
        self._closed = True
        self._drop_idle()

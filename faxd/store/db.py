"""The database layer every area of the store uses: connections, errors, transactions, statements.

:class:`Database` owns the connection pool (:mod:`faxd.store.pool`, which alone opens,
checks and drops connections) and gives the areas three ways to run SQL, all through it:

- ``transaction()``: a cursor inside one transaction, committed when the block ends;
- ``grouped()``: a live call's write, committed in a transaction shared with other calls'
  writes when group commit is on (:mod:`faxd.store.group`);
- ``statement()``: a cursor for one statement outside any transaction (one round trip:
  pooled connections are in autocommit mode, a single statement is atomic on its own);
- ``_one``/``_all`` (named query from ``queries/*.sql``, on the caller's cursor or in a
  statement of its own) and ``read_one`` (a named single-row read through a server-side
  prepared statement, :func:`execute_prepared`).

Driver errors are translated here, once (:func:`wrap_errors`), into :mod:`faxd.errors`.
"""
from __future__ import annotations

import contextlib
import re
import weakref
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from faxd.errors import StoreUnavailable
from faxd.store import queries
from faxd.store.group import CommitGroups
from faxd.store.pool import ConnectionPool, lost_primary

_QUERIES = queries.load()


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


class Database:
    """The pool and the ways to run SQL on it; the store's areas are mixins over it."""

    def __init__(self, dsn: str, pool_size: int = 20, commit_writers: int = 0):
        self._pool = ConnectionPool(dsn, size=pool_size)
        self.dsn = dsn
        # Group commit (faxd/store/group.py) for the live calls' writes, with this many
        # writers; 0: each of those writes is a transaction of its own.
        self.groups = CommitGroups(self, writers=commit_writers) if commit_writers > 0 else None
        self._alone_commits = 0

    def grouped(self, key: str, work, one_statement: bool = False):
        """``work(cursor)`` in a transaction, shared with other calls' writes when group commit
        is on (``key``: the job or call, whose writes keep their order); returns its result
        once committed. Without group commit, ``one_statement`` work runs as a statement of
        its own (atomic alone: one round trip instead of BEGIN, it and COMMIT)."""
        if self.groups is not None:
            return self.groups.run(key, work, one_statement)
        with (self.statement() if one_statement else self.transaction()) as cur:
            value = work(cur)
        self._alone_commits += 1
        return value

    def grouped_commits(self) -> int:
        """Transactions the grouped writes have committed so far (benchmarks)."""
        return self.groups.commits if self.groups is not None else self._alone_commits

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
    def statement(self, dicts: bool = True):
        """A cursor for single statements outside any transaction: one round trip each.

        psycopg2 would open a transaction with a separate BEGIN and end it with a COMMIT:
        three round trips for one SELECT (or one INSERT). Rows are dicts, or plain tuples
        with ``dicts=False`` (RealDictCursor builds rows cell by cell in Python).
        """
        factory = psycopg2.extras.RealDictCursor if dicts else None
        with wrap_errors():
            with self._pool.connection() as conn:
                with conn.cursor(cursor_factory=factory) as cur:
                    yield cur

    @staticmethod
    def sql(name: str) -> str:
        """The named query ``name`` of ``queries/*.sql``."""
        return _QUERIES[name]

    def _one(self, name: str, params=None, cur=None):
        if cur is not None:
            cur.execute(_QUERIES[name], params)
            return cur.fetchone() if cur.description else None
        with self.statement() as c:
            c.execute(_QUERIES[name], params)
            return c.fetchone() if c.description else None

    def _all(self, name: str, params=None, cur=None):
        if cur is not None:
            cur.execute(_QUERIES[name], params)
            return cur.fetchall()
        with self.statement() as c:
            c.execute(_QUERIES[name], params)
            return c.fetchall()

    def _one_prepared(self, name: str, params: dict, cur):
        """``_one`` through a prepared statement: for the small writes every live call repeats
        (planning them anew each time cost about as much as running them)."""
        execute_prepared(cur, _QUERIES[name], params)
        return cur.fetchone() if cur.description else None

    def read_one(self, name: str, params: dict) -> dict | None:
        """Run the named single-row SELECT ``name`` as a prepared statement (one round trip)."""
        with self.statement() as cur:
            execute_prepared(cur, _QUERIES[name], params)
            return cur.fetchone()

    def close(self) -> None:
        if self.groups is not None:
            self.groups.close()
        self._pool.close()


# Statements prepared on each pooled connection: {connection: {query text: its EXECUTE}}.
_PREPARED: "weakref.WeakKeyDictionary[Any, dict[str, str]]" = weakref.WeakKeyDictionary()
_MAX_PREPARED = 200
_NAMED = re.compile(r"%\((\w+)\)s")


def execute_prepared(cur, query: str, params: dict | list | tuple) -> None:
    """``cur.execute(query, params)`` through a server-side prepared statement.

    The API's hot reads (listings, one job) are short index scans whose planning cost more
    PostgreSQL CPU than their execution (0.05 of 0.1 ms for a 50-row page), repeated on
    every request. Each pooled connection prepares a statement the first time it runs it;
    after five executions PostgreSQL keeps a generic plan when it costs no more than the
    custom ones (the listings put their LIMIT in the text for that reason: with ``LIMIT
    $n`` the generic estimate is always worse). Nothing else about the session changes.
    """
    if "%%" in query:       # literal percent signs: not worth translating
        cur.execute(query, params)
        return
    statement = _STATEMENTS.get(query)
    if statement is None:
        statement = _STATEMENTS[query] = _positional(query)
        if len(_STATEMENTS) > 2000:
            _STATEMENTS.clear()
    positional, keys = statement
    values = [params[k] for k in keys] if keys is not None else params
    for attempt in (1, 2):
        conn = cur.connection
        names = _PREPARED.get(conn)
        if names is None:
            names = _PREPARED[conn] = {}
        execute = names.get(query)
        if execute is None:
            if len(names) >= _MAX_PREPARED:
                cur.execute("DEALLOCATE ALL")
                names.clear()
            name = f"faxd_api_{len(names)}"
            cur.execute(f"PREPARE {name} AS {positional}")
            execute = names[query] = f"EXECUTE {name}" + (f" ({', '.join(['%s'] * len(values))})" if values else "")
        try:
            cur.execute(execute, values)
            return
        except psycopg2.errors.InvalidSqlStatementName:
            # The session lost its statements (DISCARD ALL, a pooler in between): prepare anew.
            _PREPARED.pop(conn, None)
            if attempt == 2:
                raise
        except psycopg2.errors.FeatureNotSupported:
            # "cached plan must not change result type": a migration changed a table under a
            # prepared statement. Drop this session's statements and prepare anew.
            if attempt == 2 or conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                raise
            cur.execute("DEALLOCATE ALL")
            _PREPARED.pop(conn, None)


# {query text: (its text with $n placeholders, the names of its parameters in $n order or
# None for positional %s parameters)}
_STATEMENTS: dict[str, tuple[str, list[str] | None]] = {}


def _positional(query: str) -> tuple[str, list[str] | None]:
    if "%(" in query:
        keys: list[str] = []

        def number(m) -> str:
            if m.group(1) not in keys:
                keys.append(m.group(1))
            return f"${keys.index(m.group(1)) + 1}"
        return _NAMED.sub(number, query), keys
    pieces = query.split("%s")
    return pieces[0] + "".join(f"${i}{piece}" for i, piece in enumerate(pieces[1:], 1)), None

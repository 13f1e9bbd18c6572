"""Keyset pagination shared by every listing (jobs, inbox, incoming calls, smtplog, faxboxes).

A page is ordered on ``(created, id)``, newest first unless ``ascending``. The start key is
an opaque string encoding the ``(created, id)`` of a page's first row, so a page boundary is
a point in the index, not an offset: rows inserted while a client pages through never shift
or repeat what it sees, and the query is an index range scan whatever the account's size
(``WHERE account_id = %s AND (created, id) <= (%s, %s) ORDER BY created DESC, id DESC
LIMIT n + 1`` on the ``(account_id, created, id)`` indexes of schema.sql).
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import re
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg2.errors
import psycopg2.extras

from faxd.errors import FaxdError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_KEY_PREFIX = "k1"
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50


class InvalidListQuery(FaxdError):
    """Bad listing parameter."""

    def __init__(self, param: str, rule: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.rule = rule


@dataclass(frozen=True)
class ListQuery:
    """What a client asked of a listing. ``page_size=None`` means no pagination."""
    page_size: int | None = DEFAULT_PAGE_SIZE
    start_key: str | None = None
    ascending: bool = False
    created_from: datetime | None = None
    created_to: datetime | None = None
    filters: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    rows: list[dict]
    start_key: str | None       # key of the first row of this page
    next_start_key: str | None  # key of the first row of the next page, None on the last page


@dataclass(frozen=True)
class Listing:
    """How one table is listed: its select list, filterable columns, jsonb document column."""
    table: str
    columns: str
    filter_columns: dict[str, str]
    doc_column: str | None = None


def encode_key(created: datetime, row_id: str) -> str:
    return encode_key_us((created - EPOCH) // _MICRO, row_id)


def encode_key_us(micros: int, row_id: str) -> str:
    """The start key of a row created ``micros`` microseconds after the Unix epoch."""
    raw = f"{_KEY_PREFIX}:{micros}:{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_key(key: str) -> tuple[datetime, str]:
    bad = InvalidListQuery("start_key", "format", "not a start key this server gave out")
    if not isinstance(key, str) or not 4 <= len(key) <= 200:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    parts = raw.split(":")
    if len(parts) != 3 or parts[0] != _KEY_PREFIX or not re.fullmatch(r"-?\d{1,18}", parts[1]):
        raise bad
    try:
        created = EPOCH + int(parts[1]) * _MICRO
    except OverflowError:
        raise bad from None
    return created, parts[2]


@contextlib.contextmanager
def autocommit_cursor(store, dicts: bool = True):
    """A cursor outside any transaction, for a single statement.

    psycopg2 opens a transaction with a separate BEGIN and ends it with a COMMIT: three round
    trips for one SELECT (or one INSERT). A single statement is atomic on its own, so the
    API's hot reads and its one-row inserts run in autocommit mode: one round trip.
    """
    from faxd.store.postgres import wrap_errors
    factory = psycopg2.extras.RealDictCursor if dicts else None
    with wrap_errors():
        with store._pool.connection() as conn:
            previous = conn.autocommit      # pooled connections may already be autocommit
            if not previous:
                conn.autocommit = True
            try:
                with conn.cursor(cursor_factory=factory) as cur:
                    yield cur
            finally:
                if not conn.closed and conn.autocommit != previous:
                    conn.autocommit = previous


def read_one(store, name: str, params: dict) -> dict | None:
    """Run the named single-row SELECT ``name`` in autocommit mode (one round trip)."""
    with autocommit_cursor(store) as cur:
        execute_prepared(cur, store.sql(name), params)
        return cur.fetchone()


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


def list_page(store, listing: Listing, scope: dict[str, Any], q: ListQuery,
              where: str | None = None, row=None) -> Page:
    """One page of ``listing`` restricted to ``scope`` (column = value) and ``where``.

    ``row`` builds a page row from a result tuple (columns in ``listing.columns`` order,
    then ``created_us``); without it rows are dicts of the columns.
    """
    query, params = page_sql(listing, scope, q, where)
    # Plain tuples: RealDictCursor builds rows cell by cell in Python.
    with autocommit_cursor(store, dicts=False) as cur:
        execute_prepared(cur, query, params)
        names = [d.name for d in cur.description]
        tuples = cur.fetchall()
    i_id, i_us = names.index("id"), len(names) - 1
    next_key = None
    if q.page_size is not None and len(tuples) > q.page_size:
        extra = tuples[q.page_size]
        next_key = encode_key_us(extra[i_us], extra[i_id])
        del tuples[q.page_size:]
    first = encode_key_us(tuples[0][i_us], tuples[0][i_id]) if tuples else q.start_key
    rows = [row(t) for t in tuples] if row is not None else [dict(zip(names, t)) for t in tuples]
    return Page(rows=rows, start_key=first, next_start_key=next_key)


def page_sql(listing: Listing, scope: dict[str, Any], q: ListQuery,
             where: str | None = None) -> tuple[str, list]:
    """The statement and parameters of one page (one row more than asked, to know if more follow).

    Rows carry ``created_us`` (microseconds since the Unix epoch), the exact sort key.
    ``where`` is a literal SQL condition from the caller's code (never client input); it is
    kept literal so that PostgreSQL can match it to a partial index's predicate. Column and
    table names come from code too; client values travel only as parameters.
    """
    params: list[Any] = list(scope.values())
    if q.created_from is not None:
        params.append(q.created_from)
    if q.created_to is not None:
        params.append(q.created_to)
    for name, value in q.filters.items():
        if name in listing.filter_columns:
            params.append(value)
        else:
            params.extend([name.split("."), value])
    if q.start_key is not None:
        params.extend(decode_key(q.start_key))
    shape = (listing.table, listing.columns, tuple(scope), where, q.created_from is not None,
             q.created_to is not None, tuple(q.filters), q.start_key is not None, q.ascending,
             q.page_size)
    query = _SHAPES.get(shape)
    if query is None:
        query = _compose(listing, shape)
        if len(_SHAPES) > 1000:
            _SHAPES.clear()
        _SHAPES[shape] = query
    return query, params


_SHAPES: dict[tuple, str] = {}


def _compose(listing: Listing, shape: tuple) -> str:
    (table, columns, scope_columns, where, has_from, has_to, filters, has_key, ascending,
     page_size) = shape
    conds = [f'"{column}" = %s' for column in scope_columns]
    if where:
        conds.append("(" + where + ")")
    if has_from:
        conds.append("created >= %s")
    if has_to:
        conds.append("created <= %s")
    conds += [_filter(listing, name) for name in filters]
    if has_key:
        conds.append("(created, id) " + (">=" if ascending else "<=") + " (%s, %s)")
    order = "ASC" if ascending else "DESC"
    query = (f'SELECT {columns}, (extract(epoch FROM created) * 1000000)::bigint AS created_us '
             f'FROM "{table}" WHERE {" AND ".join(conds) or "true"} ORDER BY created {order}, id {order}')
    if page_size is not None:
        # A literal, not a parameter: see execute_prepared.
        query += f" LIMIT {int(page_size) + 1}"
    return query


def _filter(listing: Listing, name: str) -> str:
    if not _FIELD.match(name):
        raise InvalidListQuery(f"filter_{name}", "format", "not a field name")
    column = listing.filter_columns.get(name)
    if column is not None:
        return f'CAST("{column}" AS text) = %s'
    if listing.doc_column is None:
        known = ", ".join(sorted(listing.filter_columns))
        raise InvalidListQuery(f"filter_{name}", "enum", f"cannot filter on {name}; fields: {known}")
    return f'"{listing.doc_column}" #>> %s::text[] = %s'

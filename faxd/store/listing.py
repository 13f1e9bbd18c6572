"""Keyset pagination shared by every listing (jobs, inbox, incoming calls, smtplog, faxboxes).

A page is ordered on ``(created, id)``, newest first unless ``ascending``. The start key is
an opaque string encoding the ``(created, id)`` of a page's first row, so a page boundary is
a point in the index, not an offset: rows inserted while a client pages through never shift
or repeat what it sees, and the query is an index range scan whatever the account's size
(``WHERE account_id = %s AND (created, id) <= (%s, %s) ORDER BY created DESC, id DESC
LIMIT n + 1`` on the ``(account_id, created, id)`` indexes of schema.sql). A page asked for
again is served from a :class:`PageCache` while its rows are unchanged.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from faxd.errors import FaxdError
from faxd.store.db import Database, execute_prepared

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
    # The API's encoding of ``rows`` (its JSON and list revision), kept with the page so that
    # a page served again from a PageCache is not encoded again. Pages from a PageCache are
    # shared between requests: nobody may change them.
    rendered: Any = None


class PageCache:
    """Pages recently served, served again while they hold the same row versions.

    A page is keyed by its statement and parameters. Before a cached page is served again,
    a query over the same rows (same WHERE, ORDER BY and LIMIT, so the row after the page,
    which gives next_start_key, too) compares their ``id:xmin`` set with the cached one: an
    insert or delete changes the ids, and every update writes a new row version whose xmin
    is the updating transaction's. That query is a third of the page query's cost in
    PostgreSQL and returns one value instead of 50 rows of 14 columns, which is most of what
    the API spends on a listing that clients poll. Entries live at most ``max_age``
    seconds (so an xid can never come round again within one) and pages over ``max_rows``
    rows are not kept. A page is kept from the second time it is asked for within
    ``max_age``: pages asked for once (a client paging through) cost nothing more.
    """

    def __init__(self, max_entries: int = 128, max_age: float = 60.0, max_rows: int = 100,
                 clock=time.monotonic):
        self.max_rows = max_rows
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[tuple, tuple[str | None, Page, float]] = {}
        self._seen: dict[tuple, float] = {}     # keys asked for once: {key: until when}

    def wanted(self, key: tuple) -> bool:
        """Whether to keep the page of ``key`` (asked for before, within max_age)."""
        now = self._clock()
        until = self._seen.pop(key, None)
        if until is not None and until > now:
            return True
        if len(self._seen) >= 8 * self._max_entries:
            self._seen.clear()
        self._seen[key] = now + self._max_age
        return False

    def get(self, key: tuple) -> tuple[str | None, Page] | None:
        entry = self._entries.pop(key, None)
        if entry is None or entry[2] <= self._clock():
            return None
        self._entries[key] = entry      # most recently used last
        return entry[0], entry[1]

    def put(self, key: tuple, fingerprint: str | None, page: Page) -> None:
        self._entries.pop(key, None)
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (fingerprint, page, self._clock() + self._max_age)

    def __len__(self) -> int:
        return len(self._entries)


def _fingerprint(versions: list[str]) -> str | None:
    """What the fingerprint query computes: md5 of the sorted ``id:xmin`` list."""
    if not versions:
        return None
    return hashlib.md5(",".join(sorted(versions)).encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Listing:
    """How one table is listed: its select list, the columns a client may filter on (``filters``
    by their own names, ``aliases`` by the API's names for them), the jsonb document column."""
    table: str
    columns: str
    filters: tuple[str, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    doc_column: str | None = None
    filter_columns: dict[str, str] = field(init=False)   # filter name -> column

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter_columns", {**{c: c for c in self.filters}, **self.aliases})


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


def account_scope(account_id: str, faxbox_id: str | None = None) -> dict[str, str]:
    """The scope of a listing: an account's rows, or those of one of its faxboxes."""
    if faxbox_id is None:
        return {"account_id": account_id}
    return {"account_id": account_id, "faxbox_id": faxbox_id}


def read_in_scope(db: Database, name: str, row_id: str, account_id: str,
                  faxbox_id: str | None = None, view=None) -> dict | None:
    """The row the named query ``name`` reads by id and account (through ``view`` when given);
    None when there is none or it belongs to another faxbox than ``faxbox_id``."""
    row = db.read_one(name, {"id": row_id, "account_id": account_id})
    if row is None or (faxbox_id is not None and row["faxbox_id"] != faxbox_id):
        return None
    return view(row) if view is not None else row


def list_page(db: Database, listing: Listing, scope: dict[str, Any], q: ListQuery,
              where: str | None = None, row=None, view=None, cache: PageCache | None = None) -> Page:
    """One page of ``listing`` restricted to ``scope`` (column = value) and ``where``, read
    from ``db`` through prepared statements.

    ``row`` builds a page row from a result tuple (columns in ``listing.columns`` order,
    then ``created_us``); without it rows are dicts of the columns, passed through ``view``
    when given. With ``cache``, a page asked for again is served from it while its rows are
    unchanged (see PageCache).
    """
    query, params = page_sql(listing, scope, q, where)
    key = None
    if cache is not None and q.page_size is not None and q.page_size <= cache.max_rows:
        key = (query, tuple(tuple(p) if isinstance(p, list) else p for p in params))
        hit = cache.get(key)
        if hit is not None:
            with db.statement(dicts=False) as cur:
                execute_prepared(cur, page_sql(listing, scope, q, where, mode="fingerprint")[0], params)
                (fingerprint,) = cur.fetchone()
            if fingerprint == hit[0]:
                return hit[1]
        elif not cache.wanted(key):
            key = None
        if key is not None:
            query = page_sql(listing, scope, q, where, mode="versioned")[0]
    # Plain tuples: RealDictCursor builds rows cell by cell in Python.
    with db.statement(dicts=False) as cur:
        execute_prepared(cur, query, params)
        names = [d.name for d in cur.description]
        tuples = cur.fetchall()
    i_id, i_us = names.index("id"), names.index("created_us")
    if key is not None:
        fingerprint = _fingerprint([t[-1] for t in tuples])
        tuples = [t[:-1] for t in tuples]
        names.pop()
    next_key = None
    if q.page_size is not None and len(tuples) > q.page_size:
        extra = tuples[q.page_size]
        next_key = encode_key_us(extra[i_us], extra[i_id])
        del tuples[q.page_size:]
    first = encode_key_us(tuples[0][i_us], tuples[0][i_id]) if tuples else q.start_key
    if row is not None:
        rows = [row(t) for t in tuples]
    elif view is not None:
        rows = [view(dict(zip(names, t))) for t in tuples]
    else:
        rows = [dict(zip(names, t)) for t in tuples]
    page = Page(rows=rows, start_key=first, next_start_key=next_key)
    if key is not None:
        cache.put(key, fingerprint, page)
    return page


def page_sql(listing: Listing, scope: dict[str, Any], q: ListQuery,
             where: str | None = None, mode: str = "rows") -> tuple[str, list]:
    """The statement and parameters of one page (one row more than asked, to know if more follow).

    Rows carry ``created_us`` (microseconds since the Unix epoch), the exact sort key. In
    ``mode`` "versioned" they carry ``row_version`` (``id:xmin``) last as well; in mode
    "fingerprint" the statement returns only the md5 of the rows' sorted row versions (the
    same parameters).
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
             q.page_size, mode)
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
     page_size, mode) = shape
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
    select = f"{columns}, (extract(epoch FROM created) * 1000000)::bigint AS created_us"
    if mode == "fingerprint":
        select = "id || ':' || xmin::text AS v"
    elif mode == "versioned":
        select += ", id || ':' || xmin::text AS row_version"
    query = (f'SELECT {select} '
             f'FROM "{table}" WHERE {" AND ".join(conds) or "true"} ORDER BY created {order}, id {order}')
    if page_size is not None:
        # A literal, not a parameter: see execute_prepared.
        query += f" LIMIT {int(page_size) + 1}"
    if mode == "fingerprint":
        # Sorted bytewise (COLLATE "C"), as Python sorts them (_fingerprint).
        query = f"SELECT md5(string_agg(v, ',' ORDER BY v COLLATE \"C\")) FROM ({query}) page"
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

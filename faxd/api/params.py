"""Query-string parameters of listings: page_size, start_key, paginate, ascending,
created_from/created_to (Gregorian seconds) and filter_<field>."""
from __future__ import annotations

import json
from datetime import timedelta

import falcon

from faxd.api.body import is_storable
from faxd.api.errors import field_error
from faxd.models import from_gregorian
from faxd.store.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ListQuery

_LAST_MICRO = timedelta(seconds=1) - timedelta(microseconds=1)
_MIN_G = 62167219200            # 1970-01-01
_MAX_G = 62167219200 + 32503680000   # 3000-01-01


def _bool(req: falcon.Request, name: str, default: bool) -> bool:
    v = req.get_param(name)
    if v is None:
        return default
    v = v.lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise field_error(name, "type", "Value did not match type(s): boolean")


def _int(req: falcon.Request, name: str, lo: int, hi: int) -> int | None:
    v = req.get_param(name)
    if v is None:
        return None
    v = v.strip()
    if not (v.isdigit() or (v[:1] == "-" and v[1:].isdigit())) or len(v) > 20:
        raise field_error(name, "type", "Value did not match type(s): integer")
    n = int(v)
    if n < lo:
        raise field_error(name, "minimum", f"Value must be at least {lo}", target=lo)
    if n > hi:
        raise field_error(name, "maximum", f"Value must be at most {hi}", target=hi)
    return n


def _start_key(value: str | None) -> str | None:
    """The opaque key, given bare or as the JSON array the listings answer with."""
    if not value or not value.startswith("["):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not (isinstance(parsed, list) and len(parsed) == 1 and isinstance(parsed[0], str)):
        raise field_error("start_key", "format", "not a start key this server gave out")
    return parsed[0]


def list_query(req: falcon.Request) -> ListQuery:
    paginate = _bool(req, "paginate", True)
    page_size = _int(req, "page_size", 1, MAX_PAGE_SIZE)
    if page_size is None:
        page_size = DEFAULT_PAGE_SIZE
    created_from = _int(req, "created_from", _MIN_G, _MAX_G)
    created_to = _int(req, "created_to", _MIN_G, _MAX_G)
    filters = {}
    for key, value in req.params.items():
        if key.startswith("filter_") and len(key) > 7:
            if isinstance(value, list):
                value = value[-1]
            if not is_storable(value) or len(value) > 1024:
                raise field_error(key, "format", "not a value that can be searched for")
            filters[key[7:]] = value
    batch = req.get_param("batch_id")   # a broadcast's jobs: the same as filter_batch_id
    if batch is not None and "batch_id" not in filters:
        filters["batch_id"] = batch
    start_key = _start_key(req.get_param("start_key"))
    return ListQuery(
        page_size=page_size if paginate else None,
        start_key=start_key if start_key else None,
        ascending=_bool(req, "ascending", False),
        created_from=from_gregorian(created_from) if created_from is not None else None,
        # Gregorian seconds are whole: created_to includes every row of that second.
        created_to=from_gregorian(created_to) + _LAST_MICRO if created_to is not None else None,
        filters=filters,
    )

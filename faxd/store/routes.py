"""Store methods: routes per destination (fax_routes) and what was learned per number."""
from __future__ import annotations

from datetime import datetime, timedelta

import psycopg2.errors
from psycopg2.extras import Json

from faxd import ids
from faxd.errors import Conflict
from faxd.models import gregorian
from faxd.store.db import execute_prepared

_ROUTE_COLUMNS = ("prefix", "name", "switch", "dial_string", "gateway", "t38", "ecm", "max_speed", "max_calls",
                  "min_gap", "retry_period", "retry_overrides")


class DuplicatePrefix(Conflict):
    """Two routes of one account (or two server defaults) for the same prefix."""


def _route_row(row: dict | None) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    out["created"], out["modified"] = gregorian(row["created"]), gregorian(row["modified"])
    out.pop("last_call", None)
    return out


def _params(account_id: str | None, columns: dict) -> dict:
    params = {name: columns.get(name) for name in _ROUTE_COLUMNS}
    if params["retry_overrides"] is not None:
        params["retry_overrides"] = Json(params["retry_overrides"])
    params["account_id"] = account_id
    return params


class RoutesMixin:
    # --- the API's CRUD; account_id None: the server's defaults

    def list_routes(self, account_id: str | None) -> list[dict]:
        return [_route_row(r) for r in self._all("list_routes", {"account_id": account_id})]

    def get_route(self, account_id: str | None, route_id: str) -> dict | None:
        return _route_row(self._one("get_route", {"account_id": account_id, "id": route_id}))

    def create_route(self, account_id: str | None, columns: dict) -> dict:
        params = dict(_params(account_id, columns), id=ids.new_id())
        return _route_row(self._write_route("insert_route", params))

    def update_route(self, account_id: str | None, route_id: str, columns: dict) -> dict | None:
        params = dict(_params(account_id, columns), id=route_id)
        return _route_row(self._write_route("update_route", params))

    def _write_route(self, query: str, params: dict) -> dict | None:
        try:
            with self.transaction() as c:
                return self._one(query, params, cur=c)
        except psycopg2.errors.UniqueViolation:
            raise DuplicatePrefix(f"a route for prefix {params['prefix']} exists already: change that one") from None

    def delete_route(self, account_id: str | None, route_id: str) -> bool:
        return self._one("delete_route", {"account_id": account_id, "id": route_id}) is not None

    # --- the engine

    def routes_for_number(self, account_id: str, number: str, now: datetime,
                          job_id: str | None = None) -> tuple[list[dict], dict | None, bool]:
        """(the routes covering ``number``: the account's and the server's; what was learned for
        it; whether job ``job_id`` goes without ECM because ECM failed on an earlier attempt)."""
        # Every attempt asks, before it dials: a prepared statement, rows as tuples.
        with self.statement(dicts=False) as cur:
            execute_prepared(cur, self.sql("routes_for_number"), {"account_id": account_id, "number": number,
                                                                  "now": now, "job_id": job_id})
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
        routes = [r for r in rows if r["kind"] == "route"]
        learned = next(({"t38_off": r["t38_off"], "ecm_off": r["ecm_off"]} for r in rows if r["kind"] == "learned"),
                       None)
        no_ecm = any(r["kind"] == "job" and r["ecm_off"] for r in rows)
        return routes, learned, no_ecm

    def admit_route(self, job_id: str, route: dict, now: datetime) -> datetime | None:
        """Take a place on the route (its ``max_calls`` and ``min_gap``) for this job's call: None
        when admitted, else when to try again (the gap's end; None-less busy: ``now``)."""
        with self.transaction() as c:
            row = self._one("admit_route", {"job_id": job_id, "route_id": route["id"]}, cur=c)
            if row is None:
                return None   # the route was deleted meanwhile: no limits left
            if route.get("max_calls") and row["running"] >= route["max_calls"]:
                return now
            gap = route.get("min_gap") or 0
            if gap and row["last_call"] is not None and now < row["last_call"] + timedelta(seconds=gap):
                return row["last_call"] + timedelta(seconds=gap)
            self._one("route_admitted", {"job_id": job_id, "route_id": route["id"], "now": now}, cur=c)
            return None

    # --- learning per number

    def learn_number(self, account_id: str, number: str, *, t38_off: bool, ecm_off: bool, now: datetime,
                     days: int) -> None:
        self._one("learn_number", {"account_id": account_id, "number": number, "t38_off": t38_off,
                                   "ecm_off": ecm_off, "now": now, "expires_at": now + timedelta(days=days)})

    def list_learned(self, account_id: str, now: datetime, number: str | None = None) -> list[dict]:
        rows = self._all("list_learned", {"account_id": account_id, "now": now, "number": number})
        return [{"number": r["number"], "t38_off": r["t38_off"], "ecm_off": r["ecm_off"],
                 "learned_at": gregorian(r["learned_at"]), "expires_at": gregorian(r["expires_at"])} for r in rows]

    def forget_learned(self, account_id: str, number: str | None = None) -> int:
        return len(self._all("forget_learned", {"account_id": account_id, "number": number}))

    def expire_learned(self, now: datetime, batch: int = 500) -> int:
        total = 0
        while True:
            n = len(self._all("expire_learned", {"now": now, "batch": batch}))
            total += n
            if n < batch:
                return total

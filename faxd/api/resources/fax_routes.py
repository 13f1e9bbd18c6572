"""Routes per destination: /v2/accounts/{ACCOUNT_ID}/fax_routes (an account's own) and
/v2/fax_routes (the server's defaults, super-admins only); what faxd learned per number:
/v2/accounts/{ACCOUNT_ID}/fax_routes/learned[/{NUMBER}].

An account manages its own routes; a super-admin also another account's. For anyone else
another account's routes do not exist (404, as every other account's id). ``switch``,
``dial_string`` and ``gateway`` reach the telephone network as they are: only a super-admin
sets them (403 names the field otherwise).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import falcon

from faxd import routes
from faxd.api.body import read_json
from faxd.api.envelope import unwrap
from faxd.api.errors import KazooError, invalid_data, not_found
from faxd.api.resources.base import Resource, check_id
from faxd.numbers import InvalidNumber, normalize

logger = logging.getLogger(__name__)


class _Routes(Resource):
    any_account = True

    def _scope(self, req, account_id: str | None) -> tuple[str | None, bool]:
        """(whose routes: an account id, or None for the server's defaults; caller is super-admin)."""
        caller = req.context.account_id
        admin = self._store.is_superduper_admin(caller)
        if account_id is None:
            if not admin:
                raise KazooError(falcon.HTTP_403, "only a super-admin can read or change the server's default routes")
            return None, True
        check_id(account_id, "account")
        if account_id != caller and (not admin or self._store.get_fax_policy(account_id) is None):
            raise not_found("bad identifier: no such account")
        return account_id, admin

    def _validate(self, doc, admin: bool) -> dict:
        try:
            return routes.validate(doc, super_admin=admin)
        except routes.RouteError as e:
            field = next(iter(e.errors))
            rule = next(iter(e.errors[field]))
            if rule == "forbidden":
                message = e.errors[field][rule]["message"]
                raise KazooError(falcon.HTTP_403, message, e.errors) from None
            raise invalid_data(e.errors) from None


class FaxRoutes(_Routes):
    def on_get(self, req, resp, account_id=None):
        owner, _ = self._scope(req, account_id)
        resp.context.data = [routes.view(r) for r in self._store.list_routes(owner)]

    def on_put(self, req, resp, account_id=None):
        owner, admin = self._scope(req, account_id)
        columns = self._validate(unwrap(read_json(req)), admin)
        row = self._store.create_route(owner, columns)
        logger.info("route %s (%s) created for %s by account %s", row["id"], row["prefix"], owner or "the server",
                    req.context.account_id)
        resp.context.data = routes.view(row)
        resp.status = falcon.HTTP_201


class FaxRouteItem(_Routes):
    def _route(self, owner, route_id) -> dict:
        row = self._store.get_route(owner, check_id(route_id, "route"))
        if row is None:
            raise not_found(f"bad identifier: route {route_id} not found")
        return row

    def on_get(self, req, resp, route_id, account_id=None):
        owner, _ = self._scope(req, account_id)
        resp.context.data = routes.view(self._route(owner, route_id))

    def on_post(self, req, resp, route_id, account_id=None):
        """Replace the route: settings left out are unset (they follow the job and the server)."""
        owner, admin = self._scope(req, account_id)
        current = self._route(owner, route_id)
        doc = unwrap(read_json(req))
        if not admin and isinstance(doc, dict):
            # a tenant's replace keeps what a super-admin set on its route
            doc = {**{k: current[k] for k in routes.NETWORK_FIELDS if current.get(k) is not None}, **doc}
        self._save(req, resp, owner, route_id, self._checked(doc, current, admin))

    def on_patch(self, req, resp, route_id, account_id=None):
        """Change the settings given (null: unset), keep the others."""
        owner, admin = self._scope(req, account_id)
        current = self._route(owner, route_id)
        data = unwrap(read_json(req))
        if not isinstance(data, dict):
            raise invalid_data({"data": {"type": {"message": "a fax route is a JSON object"}}})
        merged = {k: current[k] for k in routes.FIELDS if current.get(k) is not None}
        merged.update(data)
        merged = {k: v for k, v in merged.items() if v is not None}
        self._save(req, resp, owner, route_id, self._checked(merged, current, admin))

    def _checked(self, doc, current: dict, admin: bool) -> dict:
        """Validated; a tenant may keep the network settings a super-admin set, not change them."""
        if admin or not isinstance(doc, dict):
            return self._validate(doc, admin)
        for k in routes.NETWORK_FIELDS:
            if doc.get(k) != current.get(k):
                if doc.get(k) is None:
                    message = f"only a super-admin can set {k}: it reaches the telephone network as it is"
                    raise KazooError(falcon.HTTP_403, message, {k: {"forbidden": {"message": message}}})
                return self._validate(doc, False)   # a new value: 403 names it
        return self._validate(doc, True)

    def _save(self, req, resp, owner, route_id, columns) -> None:
        row = self._store.update_route(owner, route_id, columns)
        if row is None:
            raise not_found(f"bad identifier: route {route_id} not found")
        resp.context.data = routes.view(row)

    def on_delete(self, req, resp, route_id, account_id=None):
        owner, _ = self._scope(req, account_id)
        if not self._store.delete_route(owner, check_id(route_id, "route")):
            raise not_found(f"bad identifier: route {route_id} not found")
        resp.context.data = {"id": route_id}


class Learned(_Routes):
    """What faxd learned per number: read it, or forget it (every number, or one)."""

    def _number(self, number: str | None) -> str | None:
        if number is None:
            return None
        try:
            return normalize(number, self._config.default_region)
        except InvalidNumber as e:
            raise not_found(f"bad identifier: {e}") from None

    def on_get(self, req, resp, account_id, number=None):
        owner, _ = self._scope(req, account_id)
        rows = self._store.list_learned(owner, datetime.now(timezone.utc), self._number(number))
        if number is not None:
            if not rows:
                raise not_found(f"nothing learned for {number}")
            resp.context.data = rows[0]
        else:
            resp.context.data = rows

    def on_delete(self, req, resp, account_id, number=None):
        owner, _ = self._scope(req, account_id)
        n = self._store.forget_learned(owner, self._number(number))
        if number is not None and not n:
            raise not_found(f"nothing learned for {number}")
        resp.context.data = {"forgotten": n}

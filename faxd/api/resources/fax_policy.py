"""GET/POST/PATCH /v2/accounts/{ACCOUNT_ID}/fax_policy: where an account may fax, how many.

Any account reads its own policy; only a super-admin (``superduper_admin``, Kazoo's flag; the
bootstrap account) changes one, its own or another account's. For anyone else another
account's policy does not exist (404, as every other account's id), and a change to its own
is 403.
"""
from __future__ import annotations

import logging

import falcon

from faxd.api.body import read_json
from faxd.api.envelope import unwrap
from faxd.api.errors import KazooError, not_found
from faxd.api.resources.base import Resource, check_id
from faxd.policy import Policy, validate_policy

logger = logging.getLogger(__name__)


class FaxPolicy(Resource):
    # The Authentication middleware lets a token reach another account's path here; the
    # resource itself lets only super-admins through.
    any_account = True

    def _target(self, req, account_id: str, change: bool) -> dict:
        caller = req.context.account_id
        if account_id != caller:
            if not self._store.is_superduper_admin(caller):
                raise not_found("bad identifier: no such account")
        row = self._store.get_fax_policy(check_id(account_id, "account"))
        if row is None:
            raise not_found("bad identifier: no such account")
        if change and not (account_id != caller or row["superduper_admin"]):
            raise KazooError(falcon.HTTP_403, "only a super-admin can change a fax policy",
                             {"message": "only a super-admin can change a fax policy; "
                                         "this account can read its own"})
        return row

    def _show(self, resp, row) -> None:
        data = Policy.effective(self._config, row["fax_policy"]).view()
        data["id"] = row["id"]
        resp.context.data = data

    def on_get(self, req, resp, account_id):
        self._show(resp, self._target(req, account_id, change=False))

    def on_post(self, req, resp, account_id):
        """Replace the account's overrides: keys left out follow the server's defaults."""
        self._target(req, account_id, change=True)
        overrides = validate_policy(unwrap(read_json(req)))
        self._save(req, resp, account_id, overrides)

    def on_patch(self, req, resp, account_id):
        """Change the keys given (null: back to the server's default), keep the others."""
        row = self._target(req, account_id, change=True)
        data = unwrap(read_json(req))
        changes = validate_policy(data)
        overrides = {k: v for k, v in (row["fax_policy"] or {}).items() if data.get(k, v) is not None}
        overrides.update(changes)
        self._save(req, resp, account_id, overrides)

    def _save(self, req, resp, account_id, overrides) -> None:
        row = self._store.set_fax_policy(account_id, overrides)
        if row is None:
            raise not_found("bad identifier: no such account")
        logger.info("fax policy of account %s set by account %s: %s", account_id, req.context.account_id,
                    overrides)
        self._show(resp, row)

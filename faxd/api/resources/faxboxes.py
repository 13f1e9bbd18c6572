"""Faxboxes: create (PUT), read, replace (POST), patch, delete; If-Match guards updates."""
from __future__ import annotations

import falcon

from faxd.api.body import read_json
from faxd.api.envelope import unwrap
from faxd.api.errors import KazooError, field_error, not_found
from faxd.api.params import list_query
from faxd.api.resources.base import Resource, check_id
from faxd.api.schemas import validate_faxbox
from faxd.smtp import domains


def if_match(req) -> int | None:
    """The revision an update is based on (If-Match), None when the client gave none."""
    raw = req.get_header("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit() or len(value) > 9:
        raise KazooError(falcon.HTTP_409, "stale revision: If-Match names no revision of this faxbox")
    return int(value)


def check_smtp_settings(config, account_id: str, doc: dict, current: dict | None) -> None:
    """Rules that need more than the document: a new custom domain must be granted to the
    account (smtp_custom_domains), and a required SMTP AUTH needs a password."""
    domain = doc.get("custom_smtp_email_address")
    if domain and domain != (current or {}).get("custom_smtp_email_address") \
            and not domains.may_claim(config.smtp_custom_domains, domain, account_id):
        raise field_error("custom_smtp_email_address", "forbidden",
                          f"{domain} is not granted to this account: the server's operator grants custom "
                          f"email domains (setting smtp_custom_domains) once the domain's owner is known")
    auth = doc.get("smtp_auth")
    if auth and auth["required"] and auth["password"] is None and not (current or {}).get("smtp_auth"):
        raise field_error("smtp_auth.password", "required",
                          "smtp_auth.required needs a password: set smtp_auth.password")


class Faxboxes(Resource):
    def on_get(self, req, resp, account_id):
        page = self._store.list_faxboxes(account_id, list_query(req))
        resp.context.data = page.rows
        resp.context.page = page

    def on_put(self, req, resp, account_id):
        doc = validate_faxbox(unwrap(read_json(req)), region=self._config.default_region)
        check_smtp_settings(self._config, account_id, doc, None)
        resp.context.data = self._store.create_faxbox(account_id, doc, self._config.smtp_domain)
        resp.status = falcon.HTTP_201


class FaxboxItem(Resource):
    def _faxbox(self, account_id, faxbox_id):
        box = self._store.get_faxbox(account_id, check_id(faxbox_id, "faxbox"))
        if box is None:
            raise not_found(f"bad identifier: faxbox {faxbox_id} not found")
        return box

    def on_get(self, req, resp, account_id, faxbox_id):
        resp.context.data = self._faxbox(account_id, faxbox_id)

    def on_post(self, req, resp, account_id, faxbox_id):
        """Replace the faxbox's document."""
        box = self._faxbox(account_id, faxbox_id)
        doc = validate_faxbox(unwrap(read_json(req)), region=self._config.default_region)
        check_smtp_settings(self._config, account_id, doc, box)
        resp.context.data = self._store.update_faxbox(account_id, faxbox_id, doc, revision=if_match(req))

    on_put = on_post

    def on_patch(self, req, resp, account_id, faxbox_id):
        """Change the fields given, keep the others."""
        box = self._faxbox(account_id, faxbox_id)
        changes = unwrap(read_json(req))
        merged = {k: v for k, v in box.items() if not k.startswith("_")}
        merged.update(changes)
        doc = validate_faxbox(merged, region=self._config.default_region)
        check_smtp_settings(self._config, account_id, doc, box)
        revision = if_match(req)
        resp.context.data = self._store.update_faxbox(
            account_id, faxbox_id, doc, revision=revision if revision is not None else box["_rev"])

    def on_delete(self, req, resp, account_id, faxbox_id):
        check_id(faxbox_id, "faxbox")
        self._store.delete_faxbox(account_id, faxbox_id, revision=if_match(req))
        resp.context.data = {"id": faxbox_id, "deleted": True}

"""Store methods: faxboxes (CRUD for the API) and the inbound numbers they own."""
from __future__ import annotations

from typing import Any

import psycopg2.errors
from psycopg2.extras import Json

from faxd import ids, passwords
from faxd.errors import Conflict, NotFound
from faxd.models import gregorian
from faxd.store.listing import ListQuery, Listing, Page, list_page

# Columns of the faxboxes table that the client document sets.
COLUMNS = ("name", "caller_name", "caller_id", "fax_header", "fax_identity", "fax_timezone",
           "retries", "custom_smtp_email_address")
JSON_COLUMNS = {"smtp_permission_list": [], "notifications": {}, "media": {}}
_SYSTEM = frozenset({"id", "numbers", "smtp_email_address", "created", "modified", "revision", "smtp_auth"})

FAXBOX_LISTING = Listing(
    table="faxboxes",
    columns="id, name, caller_name, caller_id, smtp_email_address, custom_smtp_email_address, created, modified",
    filters=("id", "name", "caller_name", "caller_id", "smtp_email_address", "custom_smtp_email_address"),
    doc_column="doc",
)


class DuplicateValue(Conflict):
    """A value that must be unique on this server is taken."""

    def __init__(self, field: str, value: str, message: str):
        super().__init__(message)
        self.field = field
        self.value = value


def faxbox_view(row: dict) -> dict:
    doc = row.get("doc") or {}
    out: dict[str, Any] = {k: v for k, v in doc.items() if k not in _SYSTEM}
    for name in COLUMNS:
        if row[name] is not None:
            out[name] = row[name]
        else:
            out.pop(name, None)
    for name in JSON_COLUMNS:
        out[name] = row[name]
    if row.get("smtp_auth_set"):
        # the password is stored only as a hash and never shown; the user name is the address
        out["smtp_auth"] = {"username": row["smtp_email_address"], "required": bool(row["smtp_auth_required"])}
    out.update(id=row["id"], numbers=list(row["numbers"]), smtp_email_address=row["smtp_email_address"],
               created=gregorian(row["created"]), modified=gregorian(row["modified"]),
               _rev=row["revision"])
    return out


def faxbox_summary(row: dict) -> dict:
    out = {"id": row["id"], "name": row["name"], "smtp_email_address": row["smtp_email_address"],
           "created": gregorian(row["created"]), "modified": gregorian(row["modified"])}
    for name in ("caller_name", "caller_id", "custom_smtp_email_address"):
        if row[name] is not None:
            out[name] = row[name]
    return out


class FaxboxesMixin:
    def get_faxbox(self, account_id: str, faxbox_id: str, cur=None) -> dict | None:
        params = {"id": faxbox_id, "account_id": account_id}
        row = self._one("get_faxbox", params, cur=cur) if cur is not None else self.read_one("get_faxbox", params)
        return faxbox_view(row) if row else None

    def list_faxboxes(self, account_id: str, q: ListQuery) -> Page:
        return list_page(self, FAXBOX_LISTING, {"account_id": account_id}, q, view=faxbox_summary)

    def create_faxbox(self, account_id: str, doc: dict, smtp_domain: str) -> dict:
        """Create a faxbox from a validated document; ``numbers`` become its inbound DIDs."""
        faxbox_id = ids.new_id()
        with self.transaction() as c:
            params = _params(doc, faxbox_id, account_id)
            params["smtp_email_address"] = f"{faxbox_id}.{smtp_domain}"
            with _duplicates():
                self._one("insert_faxbox", params, cur=c)
            self._set_numbers(c, account_id, faxbox_id, doc.get("numbers") or [])
            return self.get_faxbox(account_id, faxbox_id, cur=c)

    def update_faxbox(self, account_id: str, faxbox_id: str, doc: dict,
                      revision: int | None = None) -> dict:
        """Replace a faxbox's document; Conflict when ``revision`` is given and stale."""
        with self.transaction() as c:
            self._check_revision(c, account_id, faxbox_id, revision)
            params = _params(doc, faxbox_id, account_id)
            params["revision"] = revision
            with _duplicates():
                self._one("update_faxbox", params, cur=c)
            self._set_numbers(c, account_id, faxbox_id, doc.get("numbers") or [])
            return self.get_faxbox(account_id, faxbox_id, cur=c)

    def delete_faxbox(self, account_id: str, faxbox_id: str, revision: int | None = None) -> None:
        """Delete a faxbox and its numbers; its faxes stay, without a faxbox."""
        with self.transaction() as c:
            self._check_revision(c, account_id, faxbox_id, revision)
            self._one("delete_faxbox", {"id": faxbox_id, "account_id": account_id}, cur=c)

    def _check_revision(self, c, account_id, faxbox_id, revision):
        row = self._one("lock_faxbox", {"id": faxbox_id, "account_id": account_id}, cur=c)
        if row is None:
            raise NotFound(f"faxbox {faxbox_id} not found")
        if revision is not None and row["revision"] != revision:
            raise Conflict(f"faxbox {faxbox_id} was changed (revision {row['revision']}, not {revision})")

    def _set_numbers(self, c, account_id, faxbox_id, numbers):
        taken = self._all("numbers_owned_elsewhere", {"numbers": list(numbers), "id": faxbox_id}, cur=c)
        if taken:
            n = taken[0]["number"]
            raise DuplicateValue("numbers", n, f"number {n} already belongs to another faxbox")
        self._one("delete_faxbox_numbers", {"id": faxbox_id}, cur=c)
        for number in numbers:
            try:
                self._one("insert_faxbox_number", {"number": number, "account_id": account_id,
                                                   "id": faxbox_id}, cur=c)
            except psycopg2.errors.UniqueViolation:
                raise DuplicateValue("numbers", number,
                                     f"number {number} already belongs to another faxbox") from None


class _duplicates:
    """Turn the unique index on custom_smtp_email_address into a DuplicateValue."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, psycopg2.errors.UniqueViolation):
            raise DuplicateValue("custom_smtp_email_address", "",
                                 "this email address is already used by another faxbox") from None
        return False


def _params(doc: dict, faxbox_id: str, account_id: str) -> dict:
    params: dict[str, Any] = {"id": faxbox_id, "account_id": account_id}
    for name in COLUMNS:
        params[name] = doc.get(name)
    for name, default in JSON_COLUMNS.items():
        params[name] = Json(doc.get(name, default))
    params["doc"] = Json({k: v for k, v in doc.items() if k not in _SYSTEM})
    params.update(_smtp_auth_params(doc))
    return params


def _smtp_auth_params(doc: dict) -> dict:
    """``smtp_auth`` as validated by the API: absent keeps the credentials as they are (a Kazoo
    client replacing the document must not drop them unawares); None removes them; a password
    sets a new one (hashed here: the clear password goes no further); no password keeps the
    stored one."""
    if "smtp_auth" not in doc:
        return {"smtp_auth_keep": True, "smtp_auth_hash": None,
                "smtp_auth_keep_required": True, "smtp_auth_required": False}
    auth = doc["smtp_auth"]
    if not auth:
        return {"smtp_auth_keep": False, "smtp_auth_hash": None,
                "smtp_auth_keep_required": False, "smtp_auth_required": False}
    password = auth.get("password")
    return {"smtp_auth_keep": password is None,
            "smtp_auth_hash": passwords.off_hub(passwords.hash_password, password) if password is not None else None,
            "smtp_auth_keep_required": False, "smtp_auth_required": bool(auth.get("required"))}

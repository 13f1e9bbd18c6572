"""Accounts, API keys, auth tokens, the bootstrap account and node heartbeats."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass

import psycopg2.errors

from faxd import ids
from faxd.errors import AccountDisabled, Conflict, NotFound
from faxd.store.listener import Listener

AUTH_CHANNEL = "faxd_auth"


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    api_key: str


@dataclass(frozen=True)
class Bootstrap:
    account_id: str
    api_key: str
    faxbox_id: str
    fax_number: str

    def as_dict(self) -> dict:
        return {"account_id": self.account_id, "api_key": self.api_key,
                "faxbox_id": self.faxbox_id, "fax_number": self.fax_number}


class AccountsMixin:
    def create_account(self, name: str, cur=None) -> NewAccount:
        """Create an account and its first API key (the key is returned once, kept hashed)."""
        def run(c):
            account_id = ids.new_id()
            key = ids.new_api_key()
            self._one("create_account", {"id": account_id, "name": name}, cur=c)
            self._one("create_api_key", {"key_hash": ids.digest(key), "account_id": account_id}, cur=c)
            return NewAccount(account_id, key)
        if cur is not None:
            return run(cur)
        with self.transaction() as c:
            return run(c)

    def get_account(self, account_id: str) -> dict | None:
        return self._one("get_account", {"id": account_id})

    def create_auth_token(self, api_key: str, ttl: int) -> tuple[str, str] | None:
        """Exchange an API key for (account_id, token); None when the key is unknown or revoked,
        AccountDisabled when its account is disabled."""
        with self.transaction() as c:
            row = self._one("account_for_api_key", {"key_hash": ids.digest(api_key)}, cur=c)
            if row is None:
                return None
            if row["disabled"]:
                raise AccountDisabled(row["account_id"])
            token = ids.new_token()
            self._one("create_auth_token", {"token_hash": ids.digest(token),
                                            "account_id": row["account_id"], "ttl": ttl}, cur=c)
            return row["account_id"], token

    def account_for_token(self, token: str) -> str | None:
        """The account of a live token (not expired, not revoked, account enabled)."""
        row = self.token_status(ids.digest(token))
        return row["account_id"] if row and not row["revoked"] and not row["disabled"] else None

    def token_status(self, token_hash: bytes) -> dict | None:
        """``{account_id, expires, revoked, disabled}`` of an unexpired token, None if unknown."""
        return self._one("account_for_token", {"token_hash": token_hash})

    def revoke_token(self, token: str) -> str | None:
        """Revoke one live token (logout); its account id, or None when it was not live.
        Every node's token cache hears of it at commit (NOTIFY faxd_auth)."""
        token_hash = ids.digest(token)
        with self.transaction() as c:
            row = self._one("revoke_token", {"token_hash": token_hash}, cur=c)
            if row is None:
                return None
            self._one("notify_auth", {"payload": "token:" + token_hash.hex()}, cur=c)
            return row["account_id"]

    def _lock_account(self, account_id: str, c) -> dict:
        row = self._one("lock_account", {"id": account_id}, cur=c)
        if row is None:
            raise NotFound(f"no such account {account_id}")
        return row

    def set_account_disabled(self, account_id: str, disabled: bool) -> dict:
        """Disable (its tokens are revoked, its keys refused) or enable an account."""
        with self.transaction() as c:
            self._lock_account(account_id, c)
            row = self._one("set_account_disabled", {"id": account_id, "disabled": disabled}, cur=c)
            if disabled:
                self._one("revoke_account_tokens", {"account_id": account_id}, cur=c)
            self._one("notify_auth", {"payload": "account:" + account_id}, cur=c)
            return row

    def rotate_api_key(self, account_id: str) -> NewAccount:
        """A new API key for the account; its other keys and every token are revoked."""
        with self.transaction() as c:
            self._lock_account(account_id, c)
            self._one("revoke_api_keys", {"account_id": account_id}, cur=c)
            key = ids.new_api_key()
            self._one("create_api_key", {"key_hash": ids.digest(key), "account_id": account_id}, cur=c)
            self._one("revoke_account_tokens", {"account_id": account_id}, cur=c)
            self._one("notify_auth", {"payload": "account:" + account_id}, cur=c)
            return NewAccount(account_id, key)

    def list_accounts(self) -> list[dict]:
        return self._all("list_accounts")

    # --- failed API key attempts (shared by every node)

    def auth_lockout(self, subjects: list[str]) -> tuple[str, int] | None:
        """(subject, seconds left) of the longest running lockout among ``subjects``."""
        row = self._one("auth_locked", {"subjects": subjects})
        return (row["subject"], max(1, row["retry_after"])) if row else None

    def auth_failed(self, subjects: list[str], *, max_failures: int, window: float, lockout: float) -> list[dict]:
        """Count a failed attempt for each subject: ``[{subject, failures, locked}]``."""
        return self._all("auth_failed", {"subjects": subjects, "max_failures": max_failures,
                                         "window": window, "lockout": lockout})

    def sweep_auth(self, window: float) -> None:
        """Forget expired tokens and failure counts whose window and lockout are over."""
        self._one("delete_expired_tokens")
        self._one("sweep_auth_failures", {"window": window})

    def auth_listener(self, callback) -> "object":
        """LISTEN faxd_auth on a connection of its own, started on first use and stopped by
        close(); ``callback(payload)`` gets each revocation, and None after each (re)connect."""
        listener = self.__dict__.get("_auth_listener")
        callbacks = self.__dict__.setdefault("_auth_callbacks", [])
        callbacks.append(callback)
        if listener is None:
            listener = Listener(self.dsn, {AUTH_CHANNEL: callbacks})
            listener.start()
            self._auth_listener = listener
        return listener

    def _stop_auth_listener(self) -> None:
        listener = self.__dict__.pop("_auth_listener", None)
        if listener is not None:
            listener.stop()

    def delete_expired_tokens(self) -> None:
        self._one("delete_expired_tokens")

    def count_accounts(self) -> int:
        return self._one("count_accounts")["n"]

    def bootstrap(self, fax_number: str, smtp_domain: str, station_id: str) -> Bootstrap | None:
        """On an empty database, create the bootstrap account (a super-admin), faxbox and number."""
        with self.transaction() as c:
            self._one("lock_bootstrap", cur=c)
            if self._one("count_accounts", cur=c)["n"] > 0:
                return None
            acct = self.create_account("bootstrap", cur=c)
            self.make_superduper_admin(acct.account_id, cur=c)
            faxbox_id = ids.new_id()
            self._one("create_faxbox", {
                "id": faxbox_id, "account_id": acct.account_id, "name": "Bootstrap faxbox",
                "caller_name": "faxd", "caller_id": fax_number, "fax_identity": station_id,
                "smtp_email_address": f"{faxbox_id}.{smtp_domain}",
                "doc": json.dumps({}),
            }, cur=c)
            try:
                self._one("add_number", {"number": fax_number, "account_id": acct.account_id,
                                         "faxbox_id": faxbox_id}, cur=c)
            except psycopg2.errors.UniqueViolation:
                raise Conflict(f"number {fax_number} already belongs to a faxbox") from None
            return Bootstrap(acct.account_id, acct.api_key, faxbox_id, fax_number)

    def faxbox_for_number(self, number: str) -> dict | None:
        return self._one("faxbox_for_number", {"number": number})

    def is_local_number(self, number: str) -> bool:
        """Whether a faxbox on this server owns ``number`` (the software switch's routing)."""
        return self._one("is_local_number", {"number": number})["local"]

    # --- nodes (liveness of faxd processes, for lease takeover)

    def heartbeat(self, node_id: str) -> None:
        self._one("upsert_node", {"id": node_id, "hostname": socket.gethostname(), "pid": os.getpid()})

    def forget_node(self, node_id: str) -> None:
        self._one("delete_node", {"id": node_id})

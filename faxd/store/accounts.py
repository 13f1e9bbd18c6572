"""Accounts, API keys, auth tokens, the bootstrap account and node heartbeats."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass

import psycopg2.errors

from faxd import ids
from faxd.errors import Conflict


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
        """Exchange an API key for (account_id, token); None when the key is unknown."""
        with self.transaction() as c:
            row = self._one("account_for_api_key", {"key_hash": ids.digest(api_key)}, cur=c)
            if row is None:
                return None
            token = ids.new_token()
            self._one("create_auth_token", {"token_hash": ids.digest(token),
                                            "account_id": row["account_id"], "ttl": ttl}, cur=c)
            return row["account_id"], token

    def account_for_token(self, token: str) -> str | None:
        row = self._one("account_for_token", {"token_hash": ids.digest(token)})
        return row["account_id"] if row else None

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

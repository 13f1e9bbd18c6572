"""A per-process cache of valid auth tokens that every node empties at once on revocation.

A token lookup on every request would double the database round trips of the cheap reads, so
valid tokens are kept for a few seconds. Revocations (logout, key rotation, account disabled)
are NOTIFYed on ``faxd_auth`` in the transaction that makes them; each process LISTENs on a
connection of its own and drops what a notification names. The cache is trusted only while
that connection is up: before the first LISTEN and after a lost connection every request asks
the database, and a reconnect empties the cache (what was revoked meanwhile was not heard).
"""
from __future__ import annotations

import time


class TokenCache:
    def __init__(self, store, seconds: float = 10.0, max_entries: int = 10000, clock=time.monotonic):
        self._store = store
        self._seconds = seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[str, float]] = {}
        self._generation = 0
        self._listener = None

    @property
    def live(self) -> bool:
        """Whether revocations are being heard (the cache is used only then)."""
        if self._listener is None:
            if getattr(self._store, "dsn", None) is None:
                return False
            self._listener = self._store.auth_listener(self.revoked)
        return bool(self._listener.connected)

    @property
    def generation(self) -> int:
        """Changes with every revocation heard: a lookup started before one is not cached."""
        return self._generation

    def get(self, token_hash: bytes) -> str | None:
        if not self.live:
            return None
        hit = self._entries.get(token_hash)
        if hit is not None and hit[1] > self._clock():
            return hit[0]
        return None

    def put(self, token_hash: bytes, account_id: str, generation: int) -> None:
        if generation != self._generation or not self.live:
            return  # a revocation arrived while the database was asked: it may be this token
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[token_hash] = (account_id, self._clock() + self._seconds)

    def revoked(self, payload: str | None) -> None:
        """A NOTIFY faxd_auth: ``token:<digest hex>``, ``account:<id>``; None after a (re)connect."""
        self._generation += 1
        kind, _, value = (payload or "").partition(":")
        if kind == "token":
            try:
                self._entries.pop(bytes.fromhex(value), None)
            except ValueError:
                self._entries.clear()
        elif kind == "account":
            for key in [k for k, (acct, _) in self._entries.items() if acct == value]:
                del self._entries[key]
        else:
            self._entries.clear()

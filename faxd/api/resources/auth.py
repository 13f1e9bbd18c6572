"""/v2/api_auth: PUT exchanges an API key for an expiring token (stored hashed); DELETE revokes
the token of the request (logout; Kazoo has no such endpoint).

Failed attempts are counted in PostgreSQL, so every node sees the same counts, per client
address and per key prefix. Past ``auth_max_failures`` within ``auth_failure_window`` the
address (or prefix) is answered 429 with Retry-After for ``auth_lockout`` seconds, whatever
the key, before the key is even looked up. A success does not reset the counts: an attacker
holding one valid key could otherwise interleave it with guesses.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import time

import falcon

from faxd.api.body import read_json
from faxd.api.envelope import unwrap
from faxd.api.errors import field_error, too_many_attempts, unauthorized
from faxd.api.resources.base import Resource

logger = logging.getLogger("faxd.api.auth")

PREFIX_LENGTH = 8
SWEEP_INTERVAL = 60.0
REFUSAL_LOG_INTERVAL = 10.0


def key_fingerprint(key: str) -> str:
    """What logs and the database keep of a submitted key: a digest of its first characters."""
    return hashlib.sha256(key[:PREFIX_LENGTH].encode("utf-8", "surrogatepass")).hexdigest()[:16]


def client_block(address: str | None) -> str:
    """What failures are counted against: the IPv4 address, or the IPv6 /64 (one host usually
    holds a whole /64, so counting single IPv6 addresses would be no limit at all)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class ApiAuth(Resource):
    public = True

    def __init__(self, config, store):
        super().__init__(config, store)
        self._next_sweep = 0.0
        self._refusals_logged: dict[str, float] = {}
        self._refusals_suppressed: dict[str, int] = {}

    def on_put(self, req, resp):
        data = unwrap(read_json(req))
        key = data.get("api_key")
        if key is None:
            raise field_error("api_key", "required", "Field is required but missing")
        if not isinstance(key, str):
            raise field_error("api_key", "type", "Value did not match type(s): string")
        address, fingerprint = client_block(req.remote_addr), key_fingerprint(key)
        subjects = [f"addr:{address}", f"prefix:{fingerprint}"]
        locked = self._store.auth_lockout(subjects)
        if locked is not None:
            subject, retry_after = locked
            self._log_refusal(subject, address, fingerprint, retry_after)
            raise too_many_attempts(retry_after)
        result = self._store.create_auth_token(key, self._config.token_ttl) if 1 <= len(key) <= 256 else None
        if result is None:
            self._failed(address, fingerprint, subjects)
            raise unauthorized("invalid API key")
        account_id, token = result
        self._sweep()
        req.context.auth_token = token
        resp.context.data = {"account_id": account_id, "expires_in": self._config.token_ttl}
        resp.status = falcon.HTTP_201

    def on_delete(self, req, resp):
        token = req.get_header("X-Auth-Token")
        if not token:
            raise unauthorized("missing X-Auth-Token header: send the token to revoke")
        account_id = self._store.revoke_token(token) if len(token) <= 256 else None
        if account_id is None:
            raise unauthorized("invalid, expired or already revoked auth token")
        logger.info("auth token of account %s revoked by its holder from %s", account_id, req.remote_addr)
        resp.context.data = {"account_id": account_id, "revoked": True}

    def _failed(self, address: str, fingerprint: str, subjects: list[str]) -> None:
        c = self._config
        rows = self._store.auth_failed(subjects, max_failures=c.auth_max_failures, window=c.auth_failure_window,
                                       lockout=c.auth_lockout)
        counts = {r["subject"].partition(":")[0]: r for r in rows}
        logger.warning("api_auth: wrong API key from %s (key fingerprint %s; failures: address %d, prefix %d)",
                       address, fingerprint, counts["addr"]["failures"], counts["prefix"]["failures"])
        for kind, row in counts.items():
            if row["locked"]:
                logger.warning("api_auth: %s %s locked out for %g s after %d failed attempts",
                               "client address" if kind == "addr" else "key fingerprint",
                               address if kind == "addr" else fingerprint, c.auth_lockout, c.auth_max_failures)

    def _log_refusal(self, subject: str, address: str, fingerprint: str, retry_after: int) -> None:
        """One line per locked subject per REFUSAL_LOG_INTERVAL: a flood of 429s is no log flood."""
        now = time.monotonic()
        if self._refusals_logged.get(subject, 0.0) > now:
            self._refusals_suppressed[subject] = self._refusals_suppressed.get(subject, 0) + 1
            return
        if len(self._refusals_logged) > 10000:
            self._refusals_logged.clear()
            self._refusals_suppressed.clear()
        self._refusals_logged[subject] = now + REFUSAL_LOG_INTERVAL
        what = "the client address" if subject.startswith("addr:") else "the key prefix"
        suppressed = self._refusals_suppressed.pop(subject, 0)
        logger.warning("api_auth refused from %s (key fingerprint %s): %s is locked out for %d s more%s",
                       address, fingerprint, what, retry_after,
                       f" ({suppressed} more refused since the last line)" if suppressed else "")

    def _sweep(self) -> None:
        """Expired tokens and stale failure counts go, at most once a minute per process."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self._store.sweep_auth(self._config.auth_failure_window)

"""Idempotent submission: one job per (account, key) for 24 hours, however often or
concurrently the request is repeated.

The key row and the job are written in one transaction. A second request with the key waits
on the first one's row lock (``INSERT ... ON CONFLICT``), so two racing requests create one
job between them and the loser reads the winner's job.
"""
from __future__ import annotations

import time

from faxd.errors import Conflict

SWEEP_INTERVAL = 60.0   # seconds between sweeps of expired keys, per process
SWEEP_BATCH = 1000


class IdempotencyMixin:
    _next_key_sweep = 0.0

    def enqueue_job_once(self, account_id: str, key: str, request_hash: str, doc: dict,
                         **enqueue) -> tuple[dict, bool]:
        """(job, replayed): the job this key created, or a new one queued under it.

        Raises Conflict when the key came with a different request, or when the job it
        created has since been deleted. ``enqueue`` is passed to :meth:`enqueue_job`.
        """
        self._sweep_keys()
        with self.transaction() as c:
            held = self.claim_key(c, account_id, key, request_hash)
            if held is None:
                job = self.enqueue_job(account_id, doc, cur=c, **enqueue)
                self.bind_key(c, account_id, key, job["id"])
                return job, False
        return self.job_under_key(account_id, key, request_hash, held), True

    def job_under_key(self, account_id: str, key: str, request_hash: str, held: dict) -> dict:
        if held["request_hash"] != request_hash:
            raise Conflict(f"Idempotency-Key {key!r} was used within the last 24 hours with a different "
                           "request: send this request with a new key")
        job = self.get_job(account_id, held["job_id"]) if held["job_id"] else None
        if job is None:
            raise Conflict(f"the fax queued with Idempotency-Key {key!r} has been deleted: "
                           "send this request with a new key to queue it again")
        return job

    def held_idempotency_key(self, account_id: str, key: str) -> dict | None:
        """What an unexpired key holds (``request_hash``, ``job_id``), or None."""
        return self._one("held_idempotency_key", {"account_id": account_id, "key": key})

    def claim_key(self, cur, account_id: str, key: str, request_hash: str) -> dict | None:
        """Inside the caller's transaction: None when the key is now this request's (the caller
        then calls :meth:`bind_key` with the job it creates), else what the key holds."""
        scope = {"account_id": account_id, "key": key}
        if self._one("claim_idempotency_key", {**scope, "request_hash": request_hash}, cur=cur):
            return None
        return self._one("idempotency_key", scope, cur=cur)

    def bind_key(self, cur, account_id: str, key: str, job_id: str) -> None:
        self._one("set_idempotency_job", {"account_id": account_id, "key": key, "job_id": job_id}, cur=cur)

    def _sweep_keys(self) -> None:
        now = time.monotonic()
        if now >= self._next_key_sweep:
            self._next_key_sweep = now + SWEEP_INTERVAL
            self._all("sweep_idempotency_keys", {"batch": SWEEP_BATCH})

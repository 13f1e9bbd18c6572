"""Liveness and readiness: the database, each switch connection, and every service.

``/health`` answers 200 only when faxd is ready: the database answers, every switch
connection is up, and every service (API, dispatcher, switch connections, SMTP gateway, ...)
has started and says it is ready; otherwise 503 with ``not_ready`` naming what is not.
"""
from __future__ import annotations

from typing import Callable


class Health:
    """Collects the state of the parts faxd depends on."""

    def __init__(self, store, switches: Callable[[], list[dict]] | None = None,
                 counters: Callable[[], dict[str, int]] | None = None,
                 not_ready: Callable[[], list[str]] | None = None):
        self._store = store
        self._switches = switches or (lambda: [])
        self._counters = counters or (lambda: {})
        self._not_ready = not_ready or (lambda: [])

    def check(self) -> tuple[bool, dict]:
        db_ok = self._store.ping()
        switches = self._switches()
        waiting = list(self._not_ready())
        if not db_ok:
            waiting.append("database")
        for s in switches:
            if not s.get("connected", False):
                waiting.append(f"switch {s.get('name') or s.get('url') or '?'}")
        ok = not waiting
        body = {
            "status": "ok" if ok else "degraded",
            "ready": ok,
            "not_ready": waiting,
            "database": {"connected": db_ok},
            "switches": switches,
            "counters": self._counters(),
        }
        return ok, body

"""Liveness and readiness: the database and each switch connection."""
from __future__ import annotations

from typing import Callable


class Health:
    """Collects the state of the parts faxd depends on."""

    def __init__(self, store, switches: Callable[[], list[dict]] | None = None,
                 counters: Callable[[], dict[str, int]] | None = None):
        self._store = store
        self._switches = switches or (lambda: [])
        self._counters = counters or (lambda: {})

    def check(self) -> tuple[bool, dict]:
        db_ok = self._store.ping()
        switches = self._switches()
        ok = db_ok and all(s.get("connected", False) for s in switches)
        return ok, {
            "status": "ok" if ok else "degraded",
            "database": {"connected": db_ok},
            "switches": switches,
            "counters": self._counters(),
        }

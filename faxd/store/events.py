"""The event stream's table (migration 0006) and the counts /metrics reads from the database."""
from __future__ import annotations

from psycopg2.extras import Json


class EventsMixin:
    def events_since(self, after: int, limit: int = 1000) -> tuple[list[dict], list[str]]:
        """Events after ``after`` in id order, and the transactions running in the same
        snapshot (the ones that may still commit an event with a smaller id)."""
        with self.transaction() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            xip = self._one("events_xip", cur=cur)["xip"]
            rows = self._all("events_after", {"after": after, "limit": limit}, cur=cur)
        return rows, list(xip)

    def events_running(self, xids: list[str]) -> int:
        if not xids:
            return 0
        return self._one("events_running", {"xids": xids})["n"]

    def events_renumber(self, ids: list[int]) -> int:
        """Give the events with these ids (if they exist now) new ids; how many there were."""
        return self._one("events_renumber", {"ids": ids})["n"]

    def events_last_id(self) -> int:
        return self._one("events_last_id")["id"]

    def events_first_id(self) -> int | None:
        return self._one("events_first_id")["id"]

    def events_between(self, account_id: str | None, after: int, upto: int, limit: int = 1000) -> list[dict]:
        """An account's events (every account's for None) with ``after < id <= upto``."""
        if account_id is None:
            return self._all("all_events_between", {"after": after, "upto": upto, "limit": limit})
        return self._all("account_events_between", {"account_id": account_id, "after": after,
                                                     "upto": upto, "limit": limit})

    def add_event(self, kind: str, payload: dict) -> None:
        """An event of no account (a switch connection up or down)."""
        self._one("add_event", {"kind": kind, "payload": Json(payload)})

    def sweep_events(self, window: float) -> None:
        self._one("sweep_events", {"window": window})

    def metrics_counts(self) -> dict:
        """What /metrics must take from the database to agree across nodes."""
        with self.statement() as cur:
            cur.execute(self.sql("metrics_jobs_by_account"))
            jobs = cur.fetchall()
            cur.execute(self.sql("metrics_notifications_pending"))
            pending = cur.fetchone()["n"]
        return {"jobs": jobs, "notifications_pending": pending}

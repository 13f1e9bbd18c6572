"""Store methods: the notifications outbox (queued with the change, delivered afterwards)."""
from __future__ import annotations

import json

from faxd import ids
from faxd import notification_plan as _plan


class NotificationsMixin:
    def queue_notifications(self, cur, event: str, *, job_id: str | None = None,
                            inbox_id: str | None = None, smtplog_id: str | None = None,
                            context: dict | None = None) -> list[dict]:
        """Queue the notifications ``event`` needs, inside the caller's transaction ``cur``.

        One row per (channel, target), each with its own ``event_id`` and a snapshot of the
        job/inbox/smtplog row as it is now. ``context``: facts the row does not hold, for the
        plan (``sender_accepted`` for ``smtp_refused``). Returns the rows written (may be empty).
        """
        if event in _plan.OUTBOUND_EVENTS:
            row = self._one("notification_job", {"id": job_id}, cur=cur)
        elif event in _plan.INBOUND_EVENTS:
            row = self._one("notification_inbox", {"id": inbox_id}, cur=cur)
        elif event == "smtp_refused":
            row = self._one("notification_smtplog", {"id": smtplog_id}, cur=cur)
        else:
            raise ValueError(f"unknown notification event {event!r}")
        if row is None:
            return []
        if context:
            row = {**row, **context}
        return self._queue_planned(cur, event, row, job_id=job_id, inbox_id=inbox_id, smtplog_id=smtplog_id)

    def queue_job_notifications(self, cur, event: str, job_ids: list[str]) -> list[dict]:
        """``queue_notifications`` for several jobs (an outbound event), their rows read in one
        query: a batch of jobs changing together costs one read, not one per job."""
        if event not in _plan.OUTBOUND_EVENTS:
            raise ValueError(f"{event!r} is not an outbound event")
        if not job_ids:
            return []
        rows = {row["id"]: row for row in self._all("notification_jobs", {"ids": list(job_ids)}, cur=cur)}
        written = []
        for job_id in job_ids:
            if job_id in rows:
                written += self._queue_planned(cur, event, rows[job_id], job_id=job_id)
        return written

    def _queue_planned(self, cur, event: str, row: dict, *, job_id: str | None = None,
                       inbox_id: str | None = None, smtplog_id: str | None = None) -> list[dict]:
        targets = _plan.plan(event, row)
        if not targets:
            return []
        cur.execute("SELECT now() AS now")
        now = cur.fetchone()["now"]
        snap = _plan.snapshot(event, row, now)
        written = []
        for channel, target, options in targets:
            event_id = ids.new_id()
            payload = dict(snap, event_id=event_id)
            if options:
                payload["_delivery"] = options
            written.append(self._one("insert_notification", {
                "event_id": event_id, "account_id": row.get("account_id"), "channel": channel,
                "event": event, "job_id": job_id, "inbox_id": inbox_id, "smtplog_id": smtplog_id,
                "target": target, "payload": json.dumps(payload, default=str),
            }, cur=cur))
        self._one("wake_notifier", cur=cur)
        return written

    def _async_commit(self, name: str, params: dict, rows: bool = False):
        """Run ``name`` in its own transaction that does not wait for the WAL flush."""
        with self.transaction() as cur:
            self._one("notifications_async_commit", cur=cur)
            return self._all(name, params, cur=cur) if rows else self._one(name, params, cur=cur)

    def claim_due_notifications(self, limit: int = 20, lease: float = 300.0) -> list[dict]:
        """Take up to ``limit`` due notifications; each is retried after ``lease`` if not settled."""
        return self._async_commit("claim_due_notifications", {"limit": limit, "lease": lease}, rows=True)

    def next_notification_due(self) -> float | None:
        """Seconds until the next pending notification is due (<= 0: now); None when none is pending."""
        row = self._one("next_notification_due")
        return None if row is None or row["seconds"] is None else float(row["seconds"])

    def mark_notification_delivered(self, notification_id: int) -> None:
        self._async_commit("mark_notification_delivered", {"id": notification_id})

    def mark_notification_retry(self, notification_id: int, delay: float, error: str) -> None:
        self._async_commit("mark_notification_retry", {"id": notification_id, "delay": delay, "error": error[:2000]})

    def mark_notification_final(self, notification_id: int, status: str, error: str) -> None:
        """End a notification as ``failed`` (gave up) or ``undeliverable`` (no way to send it)."""
        if status not in ("failed", "undeliverable"):
            raise ValueError(status)
        self._one("mark_notification_final", {"id": notification_id, "status": status, "error": error[:2000]})

    def list_notifications(self, *, job_id: str | None = None, inbox_id: str | None = None,
                           smtplog_id: str | None = None) -> list[dict]:
        return self._all("list_notifications", {"job_id": job_id, "inbox_id": inbox_id,
                                                "smtplog_id": smtplog_id})


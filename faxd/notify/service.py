"""NotificationService: delivers the notifications outbox with retries and backoff.

Rows are written by the job engine, the inbound router and the SMTP gateway in the same
transaction as the change they describe. This service claims due rows (``FOR UPDATE SKIP
LOCKED`` plus a lease, so several nodes can run it and a crash only delays a row), delivers
each in its own greenlet, and records the outcome. It wakes on ``NOTIFY faxd_notifications``
(sent at commit by ``queue_notifications``) and otherwise sleeps until the next row is due.
A delivery never touches the fax it describes.
"""
from __future__ import annotations

import logging
import os

import gevent
import gevent.pool

from faxd.errors import StoreError
from faxd.notify import channels, templates
from faxd.notify.signing import load_or_create_secret
from faxd.service import Service
from faxd.store.listener import Listener

logger = logging.getLogger(__name__)

_MAX_IDLE = 5.0  # longest sleep without looking (covers a lost NOTIFY)


def backoff(attempts: int, base: float, cap: float) -> float:
    """Delay before the next try after ``attempts`` tries: base, 2*base, 4*base ... capped."""
    return min(cap, base * (2 ** max(0, attempts - 1)))


class NotificationService(Service):
    name = "notifications"
    work_kill_timeout = 2.0

    def __init__(self, config, store, *, concurrency: int = 10, batch: int = 20,
                 lease: float = 300.0, request=channels.http_request):
        super().__init__(work=gevent.pool.Pool(concurrency))
        self._config = config
        self._store = store
        self._batch = batch
        self._lease = lease
        self._timers = gevent.pool.Group()  # retry wake-up timers
        # NOTIFY faxd_notifications (sent at commit by queue_notifications) and every
        # (re)connect of the listener (catch up on what was queued meanwhile) wake the loop.
        self._listener = Listener(store.dsn, {"faxd_notifications": [lambda _payload: self.wake()]},
                                  idle_timeout=_MAX_IDLE, application_name="faxd-notify")
        self._secret: str | None = config.webhook_secret
        sender = config.notify_from or f"faxd@{config.smtp_domain}"
        self.email = channels.EmailChannel(config.smtp_relay, sender)
        self.webhook = channels.WebhookChannel(self.secret_for, config.fetch_allow, request=request)
        self.sms = channels.SmsChannel(config.sms_url_template, config.sms_body_template,
                                       config.sms_auth, config.fetch_allow, request=request)
        self._sender = sender

    # --- Service

    def start(self):
        return self._listener.start() + self.spawn_loops(self._run)

    def stop(self):
        super().stop()
        self._timers.kill(block=True, timeout=2)
        self._listener.stop()

    def wake(self) -> None:
        self.wakeup.set()

    # --- secrets

    def secret_for(self, delivery: dict) -> str:
        """A callback's own ``secret``, else FAXD_WEBHOOK_SECRET, else $FAXD_HOME/webhook.key."""
        if delivery.get("secret"):
            return delivery["secret"]
        if self._secret is None:
            self._secret = load_or_create_secret(os.path.join(self._config.home, "webhook.key"))
        return self._secret

    # --- the loop

    def _run(self):
        while self.accepting:
            self.wakeup.clear()
            try:
                rows = self._store.claim_due_notifications(self._batch, self._lease)
            except StoreError as e:
                logger.warning("notifications: cannot claim: %s", e)
                self.wakeup.wait(timeout=2.0)
                continue
            for row in rows:
                self.work.spawn(self.deliver_one, row)
            if len(rows) == self._batch:
                self.work.wait_available()
                continue
            try:
                due = self._store.next_notification_due()
            except StoreError:
                due = 1.0
            if due is not None and due <= 0:
                # due now but claimed by another node (or in flight here): look again shortly
                due = 0.5
            self.wakeup.wait(timeout=min(_MAX_IDLE, due if due is not None else _MAX_IDLE))

    # --- one delivery

    def deliver_one(self, row: dict) -> str:
        """Deliver one claimed row and record the outcome; returns the new status."""
        try:
            self._deliver(row)
        except channels.Undeliverable as e:
            return self._settle(row, "undeliverable", str(e))
        except channels.GiveUp as e:
            return self._settle(row, "failed", str(e))
        except channels.Retry as e:
            return self._retry(row, str(e))
        except Exception as e:  # greenlet boundary: a bug in one delivery must not stop the others
            logger.exception("notification %s (%s to %s) failed", row["event_id"], row["channel"], row["target"])
            return self._retry(row, f"internal error: {e!r}")
        try:
            self._store.mark_notification_delivered(row["id"])
        except StoreError as e:  # delivered; the lease will send it again (receivers de-duplicate)
            logger.warning("notification %s delivered but not recorded: %s", row["event_id"], e)
        logger.info("notification %s %s %s to %s delivered", row["event_id"], row["event"], row["channel"],
                    row["target"])
        return "delivered"

    def _retry(self, row: dict, error: str) -> str:
        if row["attempts"] >= self._config.notify_max_attempts:
            return self._settle(row, "failed", f"gave up after {row['attempts']} attempts: {error}")
        delay = backoff(row["attempts"], self._config.notify_retry_base, self._config.notify_retry_max)
        logger.info("notification %s %s to %s: %s; retry in %.1fs", row["event_id"], row["channel"],
                    row["target"], error, delay)
        try:
            self._store.mark_notification_retry(row["id"], delay, error)
        except StoreError as e:
            logger.warning("notification %s: cannot record retry: %s", row["event_id"], e)
        self._wake_at(delay)
        return "pending"

    def _settle(self, row: dict, status: str, error: str) -> str:
        logger.warning("notification %s %s to %s %s: %s", row["event_id"], row["channel"], row["target"],
                       status, error)
        try:
            self._store.mark_notification_final(row["id"], status, error)
        except StoreError as e:
            logger.warning("notification %s: cannot record outcome: %s", row["event_id"], e)
        return status

    def _wake_at(self, delay: float) -> None:
        if delay < _MAX_IDLE and self.accepting:
            self._timers.add(gevent.spawn_later(delay, self.wakeup.set))

    def _deliver(self, row: dict) -> None:
        payload = row["payload"] or {}
        channel, event = row["channel"], row["event"]
        if channel == "webhook":
            self.webhook.deliver(row["target"], payload)
        elif channel == "sms":
            self.sms.deliver(row["target"], templates.sms(event, payload))
        elif channel == "email":
            pdf = self._pdf(row, event)
            msg = channels.build_email(event, payload, row["target"], self._sender, pdf)
            try:
                self.email.send(msg, row["target"])
            except channels.MessageTooLarge:
                if pdf is None:
                    raise
                # the notice matters more than the attachment: send it without the PDF
                msg = channels.build_email(event, payload, row["target"], self._sender, None,
                                           omitted_pdf=len(pdf))
                self.email.send(msg, row["target"])
        else:
            raise channels.GiveUp(f"unknown channel {channel!r}")

    def _pdf(self, row: dict, event: str) -> bytes | None:
        """The fax as PDF for success emails (the sent or received document), if stored."""
        if event not in ("outbound_success", "inbound_success", "outbound_failure"):
            return None
        key = {"job_id": row["job_id"]} if row.get("job_id") else {"inbox_id": row.get("inbox_id")}
        if not any(key.values()):
            return None
        get = getattr(self._store, "get_document", None)
        if get is None:
            return None
        try:
            doc = get(role="pdf", **key)
        except StoreError:
            raise
        except Exception as e:  # noqa: BLE001 - a missing document must not block the notice
            logger.info("notification %s: no PDF (%s)", row["event_id"], e)
            return None
        if doc is None:
            return None
        data = doc.get("data") if isinstance(doc, dict) else getattr(doc, "data", doc)
        if isinstance(data, memoryview):
            data = data.tobytes()
        return data if isinstance(data, (bytes, bytearray)) and data else None

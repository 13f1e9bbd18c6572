"""Notifications: email (SMTP relay), SMS (HTTP provider) and signed webhooks.

The job engine, the inbound router and the SMTP gateway call
``store.queue_notifications(cur, event, job_id=/inbox_id=/smtplog_id=)`` inside the
transaction of the change; :class:`~faxd.notify.service.NotificationService` delivers the
rows afterwards with retries. See docs/smtp-and-notifications.md.
"""
from faxd.notification_plan import EVENTS

__all__ = ["EVENTS"]

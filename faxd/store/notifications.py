"""Store methods: notifications."""
from __future__ import annotations


class NotificationsMixin:
    pass

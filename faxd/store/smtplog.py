"""Store methods: smtplog."""
from __future__ import annotations


class SmtplogMixin:
    pass

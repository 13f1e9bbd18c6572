"""Store methods: inbox."""
from __future__ import annotations


class InboxMixin:
    pass

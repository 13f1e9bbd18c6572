"""Store methods: incoming."""
from __future__ import annotations


class IncomingMixin:
    pass

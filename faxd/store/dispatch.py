"""Store methods: dispatch."""
from __future__ import annotations


class DispatchMixin:
    pass

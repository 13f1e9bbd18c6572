"""Store methods: documents."""
from __future__ import annotations


class DocumentsMixin:
    pass

"""Store methods: faxboxes."""
from __future__ import annotations


class FaxboxesMixin:
    pass

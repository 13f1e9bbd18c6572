"""Store methods: jobs."""
from __future__ import annotations


class JobsMixin:
    pass

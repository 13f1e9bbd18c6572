"""Retention: documents deleted N days after a fax is final, whole faxes M days after."""
from __future__ import annotations

import time
from datetime import datetime
from typing import Callable

# Order matters only for the counts: purging a job takes its documents with it.
SWEEPS = (("documents", "retention_job_documents"), ("documents", "retention_inbox_documents"),
          ("jobs", "retention_jobs"), ("inbox", "retention_inbox"))


class RetentionMixin:
    def sweep_retention(self, now: datetime, *, documents_days: int, purge_days: int,
                        batch: int = 500, max_batches: int = 1000,
                        rest: Callable[[float], None] | None = None) -> dict[str, int]:
        """Delete what the policies say is past its time, a batch per statement (each its own
        short transaction); returns how many documents, jobs and received faxes went.
        ``rest(seconds the batch took)`` runs after each full batch (the sweeper's pacing)."""
        counts = {"documents": 0, "jobs": 0, "inbox": 0}
        params = {"now": now, "documents_days": documents_days, "purge_days": purge_days, "batch": batch}
        for what, query in SWEEPS:
            for _ in range(max_batches):
                started = time.monotonic()
                n = len(self._all(query, params))
                counts[what] += n
                if n < batch:
                    break
                if rest is not None:
                    rest(time.monotonic() - started)
        return counts

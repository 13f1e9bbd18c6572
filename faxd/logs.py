"""Logging: one line per event; fax records carry job_id/call_id."""
from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup(level: str = "info", stream=None) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that announce themselves when imported (lazily, after this set-up).
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


QUIET = ("pikepdf._core",)


class FaxAdapter(logging.LoggerAdapter):
    """Prefix every record of one fax with its job and call ids."""

    def process(self, msg, kwargs):
        ids = " ".join(f"{k}={v}" for k, v in self.extra.items() if v)
        return (f"[{ids}] {msg}" if ids else msg), kwargs

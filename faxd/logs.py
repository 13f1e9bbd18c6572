"""Logging: one line per event; fax records carry job_id/call_id (and account_id).

``log_format`` (FAXD_LOG_FORMAT): ``text`` (the default) prints
``time LEVEL logger: [job=... call=...] message``; ``json`` prints one JSON object per line
with ``time``, ``level``, ``logger``, ``message`` and, where known, ``job_id``, ``call_id``,
``account_id`` (and ``faxbox_id``), plus ``exception`` when there is one.
"""
from __future__ import annotations

import json
import logging
import sys
import time

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# FaxAdapter keys -> JSON field names; the text prefix shows the keys in TEXT_KEYS.
_JSON_KEYS = {"job": "job_id", "call": "call_id", "account": "account_id", "faxbox": "faxbox_id"}
TEXT_KEYS = ("job", "call", "faxbox")


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(_FORMAT)

    def formatMessage(self, record):
        ids = getattr(record, "fax_ids", None)
        if ids:
            prefix = " ".join(f"{k}={v}" for k, v in ids.items() if v and k in TEXT_KEYS)
            if prefix:
                record.message = f"[{prefix}] {record.message}"
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                       + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for k, v in (getattr(record, "fax_ids", None) or {}).items():
            if v:
                out[_JSON_KEYS.get(k, k)] = v
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup(level: str = "info", stream=None, fmt: str = "text") -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that announce themselves when imported (lazily, after this set-up).
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


QUIET = ("pikepdf._core",)


class FaxAdapter(logging.LoggerAdapter):
    """Every record of one fax carries its ids (``fax_ids``): a prefix in text, fields in JSON."""

    def process(self, msg, kwargs):
        kwargs["extra"] = {**kwargs.get("extra", {}), "fax_ids": self.extra}
        return msg, kwargs

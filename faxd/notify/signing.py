"""Webhook signatures: HMAC-SHA256 over ``"<timestamp>.<body>"``.

Header ``X-Faxd-Signature: t=<unix seconds>,v1=<hex digest>`` (Stripe's scheme: the timestamp
is inside the MAC, so a captured request cannot be replayed later with a fresh time).
A receiver recomputes the digest with the shared secret, compares in constant time and
rejects timestamps outside its tolerance; ``X-Faxd-Event-Id`` de-duplicates retries.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time

SIGNATURE_HEADER = "X-Faxd-Signature"
EVENT_ID_HEADER = "X-Faxd-Event-Id"
EVENT_HEADER = "X-Faxd-Event"


def _key(secret: str | bytes) -> bytes:
    # A key read from a file may end with the newline an editor or `echo` adds: it is not
    # part of the key (faxd writes webhook.key without one and reads every key this way).
    key = secret if isinstance(secret, bytes) else secret.encode("utf-8")
    return key.rstrip(b"\r\n")


def digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(_key(secret), str(int(timestamp)).encode("ascii") + b"." + body,
                    hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},v1={digest(secret, ts, body)}"


def parse_header(value: str) -> tuple[int, list[str]]:
    ts, sigs = None, []
    for item in (value or "").split(","):
        k, _, v = item.strip().partition("=")
        if k == "t" and v.isdigit():
            ts = int(v)
        elif k == "v1" and v:
            sigs.append(v)
    if ts is None or not sigs:
        raise ValueError("malformed signature header")
    return ts, sigs


def verify(secret: str | bytes, header: str, body: bytes, *, tolerance: float = 300.0,
           now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its time is within ``tolerance``."""
    try:
        ts, sigs = parse_header(header)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance:
        return False
    expected = digest(secret, ts, body)
    return any(hmac.compare_digest(expected, s) for s in sigs)


def load_or_create_secret(path: str) -> str:
    """The generated webhook key kept in ``path`` (0600), created on first use."""
    try:
        with open(path) as f:
            key = f.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        with open(path) as f:
            return f.read().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)   # no newline: `open(...).read()` and `$(cat ...)` give the key itself
    return key

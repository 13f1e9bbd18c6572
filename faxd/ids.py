"""Identifiers and secrets: ids are 32 hex characters, like Kazoo's."""
from __future__ import annotations

import hashlib
import secrets
import uuid


def new_id() -> str:
    return uuid.uuid4().hex


def new_api_key() -> str:
    return secrets.token_hex(32)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """What the database keeps of an API key or token."""
    return hashlib.sha256(secret.encode("utf-8")).digest()

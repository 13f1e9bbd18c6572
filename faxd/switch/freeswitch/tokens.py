"""Unguessable per-call URLs: ``<base><prefix><token>.tif`` names one file while a call lasts.

The spool server publishes outbound TIFFs this way (``/spool/``) and takes received faxes back
(``/received/``): the token, 256 random bits made for one call, is the request's credential.
"""
from __future__ import annotations

import secrets


class TokenPaths:
    """File paths by token, each reachable at ``<base><prefix><token>.tif`` until removed."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._paths: dict[str, str] = {}

    def add(self, path: str, base_url: str) -> tuple[str, str]:
        """A fresh token for ``path``: (token, its URL under ``base_url``)."""
        token = secrets.token_hex(32)
        self._paths[token] = path
        return token, f"{base_url.rstrip('/')}{self.prefix}{token}.tif"

    def remove(self, token: str) -> None:
        self._paths.pop(token, None)

    def handles(self, environ) -> bool:
        """The request is under this prefix."""
        return environ.get("PATH_INFO", "").startswith(self.prefix)

    def lookup(self, environ) -> tuple[str, str | None]:
        """The request's token and the path it names (None: no such token, or another URL)."""
        path = environ.get("PATH_INFO", "")
        if not (path.startswith(self.prefix) and path.endswith(".tif")):
            return "", None
        token = path[len(self.prefix):-len(".tif")]
        return token, self._paths.get(token)

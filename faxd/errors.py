"""faxd's exception tree. The docstring is the default message."""
from __future__ import annotations

import re

# A Python object's repr, as libraries put them in messages ("stream <_io.BytesIO object at
# 0x7f…>: ..."): a heap address and an internal type name, nothing the user can act on.
_OBJECT_REPR = re.compile(r"(?:\bstream\s+)?<[^<>]*? at 0x[0-9a-fA-F]+>:?\s*")


def public_text(message: str) -> str:
    """An error message fit to show a client: without object reprs and heap addresses."""
    return _OBJECT_REPR.sub("", message).strip()


class FaxdError(Exception):
    """faxd error."""

    def __init__(self, message: str | None = None):
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(FaxdError):
    """Invalid configuration."""


class StartupError(FaxdError):
    """faxd could not start."""


class StoreError(FaxdError):
    """Database error."""


class StoreUnavailable(StoreError):
    """The database is unavailable."""


class NotFound(StoreError):
    """No such object."""


class Conflict(StoreError):
    """The object was changed by someone else."""


class AccountDisabled(FaxdError):
    """The account is disabled."""

    def __init__(self, account_id: str):
        super().__init__(f"account {account_id} is disabled")
        self.account_id = account_id


class EmbeddedPostgresError(StartupError):
    """The embedded PostgreSQL cluster could not be started."""


class DocumentKeyError(FaxdError):
    """A stored document cannot be opened: its key is missing or wrong, or it was damaged."""

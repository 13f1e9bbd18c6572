"""faxd's exception tree. The docstring is the default message."""
from __future__ import annotations


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

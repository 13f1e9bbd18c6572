"""Errors raised by the spandsp bindings. Each carries data, not just text."""
from __future__ import annotations

from faxd.errors import FaxdError


class SpandspError(FaxdError):
    """spandsp call failed."""


class T30Error(SpandspError):
    """The T.30 session failed."""

    def __init__(self, result_code: int, result_text: str, detail: str = ""):
        self.result_code = result_code
        self.result_text = result_text
        self.detail = detail
        msg = f"{result_text} (T.30 code {result_code})"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class DocumentError(T30Error):
    """spandsp cannot send this TIFF."""

    def __init__(self, path: str, result_code: int, result_text: str, detail: str):
        self.path = path
        super().__init__(result_code, result_text, f"{path}: {detail}")


class CallbackError(SpandspError):
    """A Python callback raised inside a C call; the original is ``__cause__``."""

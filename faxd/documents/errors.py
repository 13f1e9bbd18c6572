"""Document errors: each names the problem and carries the HTTP status the API answers with."""
from __future__ import annotations

from faxd.errors import FaxdError


class DocumentError(FaxdError):
    """The document could not be converted."""

    http_status = 422


class UnsupportedDocument(DocumentError):
    """The document type is not supported."""

    http_status = 415


class DocumentTooLarge(DocumentError):
    """The document is too large."""

    http_status = 413


class ConversionTimeout(DocumentError):
    """The document conversion took too long."""


class FetchError(DocumentError):
    """The document URL could not be fetched."""

    http_status = 422

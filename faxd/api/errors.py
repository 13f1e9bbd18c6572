"""HTTP errors in Kazoo's shape, the one error serializer, and domain -> HTTP handlers.

Every error body is ``{"data": {...}, "error": "<code>", "message": "...", "status": "error",
"request_id": ...}``; a validation error's data names each field and the rule it broke:
``{"to_number": {"required": {"message": "Field is required but missing"}}}``.
"""
from __future__ import annotations

import json
import logging

import falcon

from faxd.documents.errors import DocumentError
from faxd.errors import AccountDisabled, Conflict, DocumentKeyError, NotFound, StoreUnavailable, public_text
from faxd.httpserver import ClientDisconnected
from faxd.numbers import InvalidNumber
from faxd.policy import PolicyError, SubmissionRefused
from faxd.store.faxboxes import DuplicateValue
from faxd.store.listing import InvalidListQuery

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class KazooError(falcon.HTTPError):
    """An HTTP error whose body data is given (Kazoo's ``data`` object)."""

    def __init__(self, status, message: str, data: dict | None = None, headers=None):
        super().__init__(status, title=message, description=message, headers=headers)
        self.data = data if data is not None else {"message": message}
        self.message = message


def invalid_data(errors: dict) -> KazooError:
    """400 naming each field and broken rule."""
    return KazooError(falcon.HTTP_400, "invalid data", errors)


def field_error(field: str, rule: str, message: str, **extra) -> KazooError:
    return invalid_data({field: {rule: {"message": message, **extra}}})


def not_found(message: str = "bad identifier") -> KazooError:
    return KazooError(falcon.HTTP_404, message)


def unauthorized(message: str) -> KazooError:
    return KazooError(falcon.HTTP_401, message, headers={"WWW-Authenticate": 'Token realm="faxd"'})


def account_disabled(account_id: str) -> KazooError:
    message = f"account {account_id} is disabled: its API keys and tokens are refused until an operator enables it"
    return KazooError(falcon.HTTP_403, message)


def too_many_attempts(retry_after: int) -> KazooError:
    message = f"too many failed API key attempts: try again in {retry_after} s"
    return KazooError(falcon.HTTP_429, message, {"message": message, "retry_after": retry_after},
                      headers={"Retry-After": str(retry_after)})


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """The one error serializer: Kazoo's envelope, always JSON, whatever Accept says."""
    code = exc.status_code
    data = getattr(exc, "data", None)
    message = getattr(exc, "message", None)
    if data is None:
        message = _message(exc)
        data = {"message": message}
    body = {
        "data": data,
        "error": str(code),
        "message": message or _message(exc),
        "status": "error",
        "request_id": getattr(req.context, "request_id", None),
    }
    resp.data = json.dumps(body).encode()
    resp.content_type = falcon.MEDIA_JSON


def _message(exc: falcon.HTTPError) -> str:
    """Falcon's own errors: the description when there is one, else the status phrase."""
    if exc.description:
        return exc.description
    title = exc.title or ""
    code, _, phrase = title.partition(" ")
    return (phrase if code.isdigit() and phrase else title).lower()


def add_handlers(app: falcon.App) -> None:
    """Map domain errors to HTTP once, for every resource."""
    app.set_error_serializer(serialize_error)
    # Falcon picks the most specific handler for an exception, whatever the order here.
    for error, handler in (
            (Exception, _internal),
            (StoreUnavailable, _unavailable),
            (DocumentKeyError, _undecryptable),
            (ClientDisconnected, _abandoned),
            (AccountDisabled, _disabled),
            (NotFound, _not_found),
            (Conflict, _conflict),
            (DuplicateValue, _duplicate),
            (InvalidListQuery, _bad_list_query),
            (InvalidNumber, _bad_number),
            (DocumentError, _document),
            (SubmissionRefused, _refused),
            (PolicyError, _bad_policy),
    ):
        app.add_error_handler(error, handler)


def _internal(req, resp, ex, params):
    logger.exception("request %s %s failed (request_id %s)", req.method, req.path,
                     getattr(req.context, "request_id", None))
    raise KazooError(falcon.HTTP_500, "internal error; the request id identifies it in the log")


def _abandoned(req, resp, ex, params):
    # The client's problem, not the server's: one line, no traceback.
    logger.info("request %s %s abandoned by the client from %s: %s (request_id %s)", req.method, req.path,
                req.remote_addr, ex, getattr(req.context, "request_id", None))
    raise KazooError(falcon.HTTP_400, "the request body was not sent completely",
                     headers={"Connection": "close"})


def _disabled(req, resp, ex, params):
    raise account_disabled(ex.account_id)


def _unavailable(req, resp, ex, params):
    logger.warning("database unavailable: %s", ex)
    raise KazooError(falcon.HTTP_503, "the database is unavailable; retry later",
                     headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _undecryptable(req, resp, ex, params):
    logger.error("document of %s cannot be decrypted: %s", req.path, ex)
    raise KazooError(falcon.HTTP_503, f"the document cannot be read: {ex}",
                     headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _not_found(req, resp, ex, params):
    raise not_found(str(ex))


def _conflict(req, resp, ex, params):
    raise KazooError(falcon.HTTP_409, str(ex))


def _duplicate(req, resp, ex, params):
    raise field_error(ex.field, "unique", str(ex), cause=ex.value)


def _bad_list_query(req, resp, ex, params):
    raise field_error(ex.param, ex.rule, str(ex))


def _bad_number(req, resp, ex, params):
    raise KazooError(falcon.HTTP_400, str(ex))


def _document(req, resp, ex, params):
    status = {413: falcon.HTTP_413, 415: falcon.HTTP_415}.get(ex.http_status, falcon.HTTP_422)
    message = public_text(str(ex))
    raise KazooError(status, message, {"document": {"message": message}})


def _refused(req, resp, ex, params):
    """A refused destination is the request's fault (400, naming the rule); a rate or quota
    refusal passes with time (429 and Retry-After)."""
    d = ex.decision
    if d.permanent:
        raise KazooError(falcon.HTTP_400, d.message, {"to_number": {d.rule: {
            "message": d.message, "value": ex.destination}}})
    raise KazooError(falcon.HTTP_429, d.message,
                     {"message": d.message, "rule": d.rule, "limit": d.limit, "retry_after": d.retry_after},
                     headers={"Retry-After": str(d.retry_after)})


def _bad_policy(req, resp, ex, params):
    raise invalid_data(ex.errors)

"""Request guards: body limits, Accept negotiation, X-Auth-Token and the account scope."""
from __future__ import annotations

import time

import falcon

from faxd.api.errors import KazooError, account_disabled, not_found, unauthorized
from faxd.api.tokens import TokenCache
from faxd import ids

JSON_BODY_LIMIT = 1024 * 1024           # a job or faxbox document
MULTIPART_OVERHEAD = 1024 * 1024        # JSON part and part headers on top of the document
_BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})


class BodyLimits:
    """413 above the limit, 411 for a chunked upload.

    Falcon has no overall body limit and reads a chunked body as empty under gevent.pywsgi
    (a multipart parse then fails with an AssertionError, a 500), so both are refused here,
    before anything reads the body.
    """

    def __init__(self, max_upload_bytes: int):
        self._multipart_limit = max_upload_bytes + MULTIPART_OVERHEAD

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.method not in _BODY_METHODS:
            return
        length = req.content_length
        if length is None:
            if req.get_header("Transfer-Encoding"):
                raise KazooError(falcon.HTTP_411, "Content-Length is required for uploads")
            return
        is_multipart = (req.content_type or "").lower().startswith("multipart/")
        limit = self._multipart_limit if is_multipart else JSON_BODY_LIMIT
        if length > limit:
            raise KazooError(falcon.HTTP_413, f"the request body is larger than {limit} bytes",
                             {"message": f"the request body is larger than {limit} bytes",
                              "limit": limit})


class AcceptJson:
    """406 when the client accepts no JSON (attachments negotiate for themselves)."""

    def process_resource(self, req, resp, resource, params) -> None:
        if resource is None or (req.uri_template or "").endswith("/attachment") \
                or getattr(resource, "any_content", False):
            return
        if req.get_header("Accept") and not req.client_accepts_json:
            raise KazooError(falcon.HTTP_406, "only application/json responses are available here")


class Authentication:
    """X-Auth-Token on every request but the public ones; a token sees only its own account.

    Another account's ids answer 404, never 403, so that a token cannot learn which accounts
    exist. A disabled account's tokens answer 403, a revoked token 401 saying so. Valid tokens
    are cached for a few seconds (:class:`faxd.api.tokens.TokenCache`), emptied on every node the
    moment a token or account is revoked. A resource marked ``any_account`` (fax_policy)
    makes the account check itself, for super-admins.
    """

    def __init__(self, store, cache_seconds: float = 10.0, max_cached: int = 10000, clock=time.monotonic):
        self._store = store
        self._cache = TokenCache(store, cache_seconds, max_cached, clock)

    def process_resource(self, req, resp, resource, params) -> None:
        if resource is None or getattr(resource, "public", False):
            return
        token = req.get_header("X-Auth-Token")
        if not token and getattr(resource, "query_token", False):
            token = req.get_param("auth_token")   # the event stream: EventSource sends no headers
        if not token:
            if getattr(resource, "token_optional", False):   # /metrics: other credentials too
                req.context.account_id = None
                return
            raise unauthorized("missing X-Auth-Token header: get a token with PUT /v2/api_auth")
        account_id = self._account_for(token)
        req.context.account_id = account_id
        req.context.auth_token = token
        if params.get("account_id", account_id) != account_id and not getattr(resource, "any_account", False):
            raise not_found("bad identifier: no such account")

    def _account_for(self, token: str) -> str:
        if len(token) > 256:
            raise unauthorized("invalid or expired auth token")
        token_hash = ids.digest(token)
        account_id = self._cache.get(token_hash)
        if account_id is not None:
            return account_id
        generation = self._cache.generation
        row = self._store.token_status(token_hash)
        if row is None:
            raise unauthorized("invalid or expired auth token")
        if row["disabled"]:
            raise account_disabled(row["account_id"])
        if row["revoked"]:
            raise unauthorized("this auth token was revoked: get a new one with PUT /v2/api_auth")
        self._cache.put(token_hash, row["account_id"], generation)
        return row["account_id"]

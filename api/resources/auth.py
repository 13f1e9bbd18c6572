"""PUT /v2/api_auth: an API key for an expiring token (stored hashed)."""
from __future__ import annotations

import falcon

from api.body import read_json
from api.envelope import unwrap
from api.errors import field_error, unauthorized
from api.resources.base import Resource


class ApiAuth(Resource):
    public = True

    def on_put(self, req, resp):
        data = unwrap(read_json(req))
        key = data.get("api_key")
        if key is None:
            raise field_error("api_key", "required", "Field is required but missing")
        if not isinstance(key, str):
            raise field_error("api_key", "type", "Value did not match type(s): string")
        if not 1 <= len(key) <= 256:
            raise unauthorized("invalid API key")
        result = self._store.create_auth_token(key, self._config.token_ttl)
        if result is None:
            raise unauthorized("invalid API key")
        account_id, token = result
        req.context.auth_token = token
        resp.context.data = {"account_id": account_id, "expires_in": self._config.token_ttl}
        resp.status = falcon.HTTP_201


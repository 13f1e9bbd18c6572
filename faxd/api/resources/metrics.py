"""GET /metrics: Prometheus exposition (faxd/metrics.py).

Who may read it: a caller on the loopback interface while ``metrics_loopback`` holds (the
default: a Prometheus on the same host, ``faxd top``); anyone with ``Authorization: Bearer
<metrics_token>``; a super-admin's X-Auth-Token. Without credentials the answer is 401; an
X-Auth-Token of an account that is not a super-admin is 403.
"""
import hmac
import ipaddress

import falcon

from faxd.api.errors import KazooError, unauthorized
from faxd.metrics import exposition


def is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


class MetricsResource:
    token_optional = True     # the Authentication middleware checks an X-Auth-Token if one is sent
    any_content = True

    def __init__(self, config, store):
        self._token = config.metrics_token
        self._loopback = config.metrics_loopback
        self._store = store

    def _allowed(self, req) -> None:
        if self._loopback and is_loopback(req.remote_addr):
            return
        auth = req.get_header("Authorization") or ""
        if self._token and auth[:7].lower() == "bearer " and \
                hmac.compare_digest(auth[7:].strip().encode(), self._token.encode()):
            return
        account_id = req.context.account_id
        if account_id is None:
            raise unauthorized("/metrics needs Authorization: Bearer <metrics_token> or a super-admin's "
                               "X-Auth-Token")
        if not self._store.is_superduper_admin(account_id):
            raise KazooError(falcon.HTTP_403, "only a super-admin's token can read /metrics",
                             {"message": "only a super-admin's token can read /metrics"})

    def on_get(self, req, resp):
        self._allowed(req)
        body, content_type = exposition()
        resp.status = falcon.HTTP_200
        resp.content_type = content_type
        resp.data = body

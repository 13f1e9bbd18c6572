"""GET /metrics: Prometheus exposition (faxd/metrics.py). Public, like /health."""
import falcon

from faxd.metrics import exposition


class MetricsResource:
    public = True
    any_content = True

    def on_get(self, req, resp):
        body, content_type = exposition()
        resp.status = falcon.HTTP_200
        resp.content_type = content_type
        resp.data = body

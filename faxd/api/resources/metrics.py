"""GET /metrics: Prometheus exposition (faxd/metrics.py). Public, like /health."""
import falcon


class MetricsResource:
    public = True
    any_content = True

    def on_get(self, req, resp):
        from faxd.metrics import exposition
        body, content_type = exposition()
        resp.status = falcon.HTTP_200
        resp.content_type = content_type
        resp.data = body

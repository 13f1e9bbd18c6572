"""GET /health: 200 when the database and every switch connection are up, else 503."""
import falcon


class HealthResource:
    public = True

    def __init__(self, health):
        self._health = health

    def on_get(self, req, resp):
        ok, body = self._health.check()
        resp.media = body
        resp.status = falcon.HTTP_200 if ok else falcon.HTTP_503
        if not ok:
            resp.set_header("Retry-After", "5")

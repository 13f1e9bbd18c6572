"""/health's readiness: 503 naming what is not ready."""
from falcon import testing

from faxd.api.app import create_app
from faxd.health import Health


class _Store:
    def __init__(self, up=True):
        self.up = up

    def ping(self):
        return self.up


def _client(config, store, **kw):
    return testing.TestClient(create_app(config, store, health=Health(_Store(), **kw)))


def test_503_names_every_part_that_is_not_ready(config, store):
    waiting = ["dispatcher", "smtp"]
    client = _client(config, store, switches=lambda: [{"name": "esl1", "connected": False}],
                     not_ready=lambda: list(waiting))
    r = client.simulate_get("/health")
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.json["not_ready"] == ["dispatcher", "smtp", "switch esl1"] and r.json["ready"] is False
    client = _client(config, store, switches=lambda: [{"name": "esl1", "connected": True}], not_ready=lambda: [])
    r = client.simulate_get("/health")
    assert r.status_code == 200 and r.json["ready"] is True and r.json["not_ready"] == []

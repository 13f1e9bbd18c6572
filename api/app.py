"""create_app(): the composition root of the HTTP API and its whole route table."""
from __future__ import annotations

import falcon

from api.resources.health import HealthResource
from faxd.health import Health


def create_app(config, store, documents=None, health: Health | None = None) -> falcon.App:
    app = falcon.App()
    app.add_route("/health", HealthResource(health or Health(store)))
    return app

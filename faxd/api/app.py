"""create_app(): the composition root of the HTTP API and its whole route table."""
from __future__ import annotations

import json

import falcon
import falcon.media
import orjson

from faxd.api import openapi
from faxd.api.body import multipart_handler
from faxd.api.envelope import Envelope
from faxd.api.errors import add_handlers
from faxd.api.middleware import AcceptJson, Authentication, BodyLimits
from faxd.api.resources.auth import ApiAuth
from faxd.api.resources.fax_policy import FaxPolicy
from faxd.api.resources.fax_routes import FaxRouteItem, FaxRoutes, Learned
from faxd.api.resources.faxboxes import FaxboxItem, Faxboxes
from faxd.api.resources.events import AccountEvents, AllEvents
from faxd.api.resources.health import HealthResource
from faxd.api.resources.metrics import MetricsResource
from faxd.api.resources.ops import OpsPage
from faxd.api.resources.inbox import Inbox, InboxItem
from faxd.api.resources.incoming import Incoming, IncomingItem
from faxd.api.resources.outbox import Outbox, OutboxItem
from faxd.api.resources.outgoing import Batch, Outgoing, OutgoingItem, Queue
from faxd.api.resources.notifications import Notifications
from faxd.api.resources.smtplog import Smtplog, SmtplogItem
from faxd.health import Health

ACCOUNT = "/v2/accounts/{account_id}"
FAXBOX = ACCOUNT + "/faxboxes/{faxbox_id}"


def _dumps(obj) -> bytes:
    """orjson, or the standard library for what orjson cannot encode: integers beyond 64 bits,
    which a client's 1e64 becomes once stored in a jsonb document and read back."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj).encode()


def create_app(config, store, documents=None, health: Health | None = None, events=None) -> falcon.App:
    """The Falcon app: Kazoo's Faxes API under /v2, /health, and /v2/openapi.json.

    ``documents`` (the DocumentPipeline) converts a broadcast's document, once, in the request
    (made on first use when not given, e.g. under gunicorn); every other upload is stored
    through ``store`` and converted by the job engine.
    """
    app = falcon.App(middleware=[
        Envelope(),
        BodyLimits(config.max_upload_bytes),
        AcceptJson(),
        Authentication(store),
    ])
    app.req_options.strip_url_path_trailing_slash = True
    multipart = multipart_handler(config.max_upload_bytes)
    app.req_options.media_handlers["multipart/mixed"] = multipart
    app.req_options.media_handlers["multipart/form-data"] = multipart
    # orjson: several times faster than json for the listings' 50-row bodies.
    json_handler = falcon.media.JSONHandler(dumps=_dumps, loads=orjson.loads)
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    add_handlers(app)

    app.add_route("/health", HealthResource(health or Health(store)))
    app.add_route("/metrics", MetricsResource(config, store))
    ops = OpsPage()
    app.add_route("/ops", ops)
    app.add_route("/ops/{name}", ops, suffix="asset")
    app.add_route("/v2/events", AllEvents(store, events))
    app.add_route(ACCOUNT + "/faxes/events", AccountEvents(store, events))
    app.add_route("/v2/openapi.json", openapi.OpenApiResource())
    app.add_route("/v2/api_auth", ApiAuth(config, store))

    queue = Queue(config, store)
    queue.documents = documents   # broadcasts convert their document once, in the request
    batch = Batch(config, store)
    outgoing, outgoing_item = Outgoing(config, store), OutgoingItem(config, store)
    outbox, outbox_item = Outbox(config, store), OutboxItem(config, store)
    inbox, inbox_item = Inbox(config, store), InboxItem(config, store)
    incoming, incoming_item = Incoming(config, store), IncomingItem(config, store)
    smtplog, smtplog_item = Smtplog(config, store), SmtplogItem(config, store)
    # The faxes routes, once for the account and once scoped to one of its faxboxes.
    for base in (ACCOUNT, FAXBOX):
        app.add_route(base + "/faxes", queue)
        app.add_route(base + "/faxes/batches/{batch_id}", batch)
        app.add_route(base + "/faxes/outgoing", outgoing)
        app.add_route(base + "/faxes/outgoing/{fax_id}", outgoing_item)
        app.add_route(base + "/faxes/outbox", outbox)
        app.add_route(base + "/faxes/outbox/{fax_id}", outbox_item)
        app.add_route(base + "/faxes/outbox/{fax_id}/attachment", outbox_item, suffix="attachment")
        app.add_route(base + "/faxes/inbox", inbox)
        app.add_route(base + "/faxes/inbox/{fax_id}", inbox_item)
        app.add_route(base + "/faxes/inbox/{fax_id}/attachment", inbox_item, suffix="attachment")
        app.add_route(base + "/faxes/incoming", incoming)
        app.add_route(base + "/faxes/incoming/{fax_id}", incoming_item)
        app.add_route(base + "/faxes/smtplog", smtplog)
        app.add_route(base + "/faxes/smtplog/{attempt_id}", smtplog_item)
    app.add_route(ACCOUNT + "/notifications", Notifications(config, store))
    app.add_route(ACCOUNT + "/faxboxes", Faxboxes(config, store))
    app.add_route(FAXBOX, FaxboxItem(config, store))
    app.add_route(ACCOUNT + "/fax_policy", FaxPolicy(config, store))
    # Routes per destination: an account's own, and the server's defaults (super-admins).
    fax_routes, fax_route, learned = FaxRoutes(config, store), FaxRouteItem(config, store), Learned(config, store)
    for base in (ACCOUNT, "/v2"):
        app.add_route(base + "/fax_routes", fax_routes)
        app.add_route(base + "/fax_routes/{route_id}", fax_route)
    app.add_route(ACCOUNT + "/fax_routes/learned", learned)
    app.add_route(ACCOUNT + "/fax_routes/learned/{number}", learned)
    return app

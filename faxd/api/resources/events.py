"""Server-Sent Events: GET /v2/accounts/{ACCOUNT_ID}/faxes/events and GET /v2/events.

The account's stream carries its own events only; a super-admin (``superduper_admin``) may
also read another account's and the all-accounts stream ``/v2/events``; for anyone else
another account does not exist (404) and ``/v2/events`` is 403. Browsers' EventSource cannot
set headers, so these routes also take the token as ``?auth_token=``.

A client that reconnects sends ``Last-Event-ID`` (or ``?last_event_id=``) and gets the events
after it that are still within the window, then the live ones. Events older than the window
are gone: the stream then starts with an ``expired`` event saying from which id it resumes.

Under ``faxd run`` the request is checked here and the connection is then handed to the
fan-out process (faxd/fanout.py), which writes the whole response; with an in-process
:class:`faxd.events.EventHub` (``events_process = false``) the response streams from here.
"""
from __future__ import annotations

import falcon

from faxd.api.errors import KazooError, field_error, not_found
from faxd.api.resources.base import check_id
from faxd.errors import StoreError
from faxd.fanout import response_head

STREAM_TYPE = "text/event-stream"


class _Stream:
    query_token = True      # ?auth_token= (EventSource sends no headers)
    any_content = True      # text/event-stream, whatever Accept says

    def __init__(self, store, hub):
        self._store = store
        self._hub = hub

    def _after(self, req) -> int | None:
        raw = req.get_header("Last-Event-ID") or req.get_param("last_event_id")
        if raw is None or raw == "":
            return None
        raw = raw.strip()
        if not raw.isdigit() or len(raw) > 18:
            raise field_error("Last-Event-ID", "type", "Last-Event-ID must be an event id (a non-negative integer)")
        return int(raw)

    def _open(self, req, resp, account_id: str | None) -> None:
        if self._hub is None:
            raise KazooError(falcon.HTTP_503, "the event stream runs inside 'faxd run' only",
                             headers={"Retry-After": "5"})
        after = self._after(req)
        if hasattr(self._hub, "handoff"):
            self._hand_off(req, resp, account_id, after)
            return
        try:
            frames = self._hub.stream(account_id, after)
        except StoreError as e:
            raise KazooError(falcon.HTTP_503, f"the event stream is not available: {e}",
                             headers={"Retry-After": "5"}) from None
        resp.status = falcon.HTTP_200
        resp.content_type = STREAM_TYPE
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")   # nginx: do not buffer the stream
        resp.stream = frames


    def _hand_off(self, req, resp, account_id: str | None, after: int | None) -> None:
        """The stream is written by the fan-out process (faxd/fanout.py): give it the socket."""
        detach = req.env.get("faxd.detach")
        if detach is None:
            raise KazooError(falcon.HTTP_503, "the event stream needs faxd's own HTTP server",
                             headers={"Retry-After": "5"})
        head = response_head(getattr(req.context, "request_id", None))
        if not detach(lambda sock: self._hub.handoff(sock, account_id, after, head)):
            raise KazooError(falcon.HTTP_503, "the event stream is not available: its process is restarting",
                             headers={"Retry-After": "2"})
        resp.status = falcon.HTTP_200      # written by the fan-out process, with the head above
        resp.content_type = STREAM_TYPE


class AccountEvents(_Stream):
    any_account = True   # super-admins may watch another account; checked here

    def on_get(self, req, resp, account_id: str):
        caller = req.context.account_id
        if account_id != caller:
            check_id(account_id, "account")
            if not self._store.is_superduper_admin(caller):
                raise not_found("bad identifier: no such account")
            if self._store.get_fax_policy(account_id) is None:
                raise not_found("bad identifier: no such account")
        self._open(req, resp, account_id)


class AllEvents(_Stream):
    def on_get(self, req, resp):
        if not self._store.is_superduper_admin(req.context.account_id):
            raise KazooError(falcon.HTTP_403, "only a super-admin can read every account's events",
                             {"message": "only a super-admin can read every account's events; "
                                         "read /v2/accounts/{ACCOUNT_ID}/faxes/events"})
        self._open(req, resp, None)

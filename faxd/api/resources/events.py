"""Server-Sent Events: GET /v2/accounts/{ACCOUNT_ID}/faxes/events and GET /v2/events.

The account's stream carries its own events only; a super-admin (``superduper_admin``) may
also read another account's and the all-accounts stream ``/v2/events``; for anyone else
another account does not exist (404) and ``/v2/events`` is 403. Browsers' EventSource cannot
set headers, so these routes also take the token as ``?auth_token=``.

A client that reconnects sends ``Last-Event-ID`` (or ``?last_event_id=``) and gets the events
after it that are still within the window, then the live ones. Events older than the window
are gone: the stream then starts with an ``expired`` event saying from which id it resumes.
"""
from __future__ import annotations

import falcon
import gevent.queue
import orjson

from faxd.api.errors import KazooError, field_error, not_found
from faxd.api.resources.base import check_id
from faxd.errors import StoreError
from faxd.events import CLOSE

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
        try:
            sub, upto = self._hub.subscribe(account_id, after)
        except StoreError as e:
            raise KazooError(falcon.HTTP_503, f"the event stream is not available: {e}",
                             headers={"Retry-After": "5"}) from None
        hub = self._hub
        first = None
        if after is not None and after < upto:
            try:
                first = self._store.events_first_id()
            except StoreError:
                hub.unsubscribe(sub)
                raise

        def stream():
            try:
                yield b"retry: 2000\n: faxd event stream\n\n"
                if after is not None and after < upto:
                    if first is not None and first > after + 1:
                        body = orjson.dumps({"after": after, "resumes_at": first,
                                             "message": "events before resumes_at are older than the window"})
                        yield b"event: expired\ndata: " + body + b"\n\n"
                    yield from hub.backlog(account_id, after, upto)
                while True:
                    try:
                        data = sub.queue.get(timeout=hub.heartbeat)
                    except gevent.queue.Empty:
                        yield b": heartbeat\n\n"
                        continue
                    if data is CLOSE:
                        return
                    if sub.queue.qsize():
                        # A burst: one write for all that is waiting, not one per event.
                        batch = [data]
                        while not sub.queue.empty():
                            data = sub.queue.get_nowait()
                            if data is CLOSE:
                                yield b"".join(batch)
                                return
                            batch.append(data)
                        data = b"".join(batch)
                    yield data
            finally:
                hub.unsubscribe(sub)

        resp.status = falcon.HTTP_200
        resp.content_type = STREAM_TYPE
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")   # nginx: do not buffer the stream
        resp.stream = stream()


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

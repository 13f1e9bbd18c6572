"""The live event stream: one reader per node fans PostgreSQL's events out to every client.

Events are rows of the ``events`` table (migration 0006), written by triggers in the
transaction of the change they describe. Each node runs one :class:`EventHub`: a NOTIFY on
``faxd_events`` (through the node's one LISTEN connection) wakes it, it reads the new rows
once and hands the formatted frame to every subscribed stream of that account (and to the
super-admins' all-accounts streams). A client costs a queue, not a query per event.

Ids come from a sequence, so a transaction can commit id 11 before id 10. The hub delivers
ids in order and never passes a gap while a transaction that might fill it is still running
(the snapshot's running transactions are noted when the gap is first seen, then checked with
``pg_xact_status``); a gap left by a rollback is passed once those transactions end (or after
``gap_timeout``). Hence every stream sees increasing ids, and a client that reconnects with
``Last-Event-ID`` gets exactly the events after it (read back from the table), never one
twice, as long as they are younger than the window (``events_window``, swept here).
"""
from __future__ import annotations

import calendar
import logging
import time
from collections import defaultdict

import gevent
import gevent.event
import gevent.queue
import orjson

from faxd.errors import StoreError
from faxd.service import Service

logger = logging.getLogger(__name__)

GREGORIAN_OFFSET = 62167219200       # Gregorian seconds (Kazoo's timestamps) at the Unix epoch
CLOSE = object()                      # ends a subscription's stream


def event_dict(row: dict) -> dict:
    created = row["created"]
    unix = calendar.timegm(created.utctimetuple()) + created.microsecond / 1e6
    return {"id": row["id"], "event": row["kind"], "account_id": row["account_id"], "fax_id": row["job_id"],
            "call_id": row["call_id"], "timestamp": int(unix) + GREGORIAN_OFFSET, "time": round(unix, 3),
            "data": row["payload"] or {}}


def frame(row: dict) -> bytes:
    """One Server-Sent Events message: ``id:``, ``event:`` (the kind), ``data:`` (JSON)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (row["id"], row["kind"].encode(), orjson.dumps(event_dict(row)))


class Subscription:
    """One client's stream: frames after ``after`` for one account (None: every account)."""

    def __init__(self, account_id: str | None, after: int, maxsize: int):
        self.account_id = account_id
        self.after = after
        self.queue: gevent.queue.Queue = gevent.queue.Queue(maxsize=maxsize)
        self.overflowed = False

    def offer(self, event_id: int, data: bytes) -> None:
        if event_id <= self.after or self.overflowed:
            return
        try:
            self.queue.put_nowait(data)
        except gevent.queue.Full:
            # A client too slow to keep up is closed; it reconnects with Last-Event-ID and
            # reads what it missed from the table instead of holding the hub back.
            self.overflowed = True
            self.queue.queue.clear()
            self.queue.put_nowait(CLOSE)


class EventHub(Service):
    """The node's event reader and fan-out; also sweeps events older than the window."""

    name = "events"

    def __init__(self, store, window: float = 600.0, heartbeat: float = 15.0, poll: float = 2.0,
                 gap_timeout: float = 10.0, batch: int = 2000, queue_size: int = 10000, linger: float = 0.05):
        super().__init__()
        self._store = store
        self.window = window
        self.heartbeat = heartbeat
        self._poll = poll
        self._gap_timeout = gap_timeout
        self._batch = batch
        self._queue_size = queue_size
        self._linger = linger
        self._wake = gevent.event.Event()
        self._by_account: dict[str, set[Subscription]] = defaultdict(set)
        self._all: set[Subscription] = set()
        self._gap: tuple[float, list[str], int] | None = None   # (first seen, running xids, first id above)
        self._timed_out = 0                # the last id of a gap passed on gap_timeout
        # Holes passed on gap_timeout while their transactions still ran: (since, xids, ids).
        self._late: list[tuple[float, list[str], list[int]]] = []
        self._late_ids: set[int] = set()   # never served from the table: renumbered when they commit
        self.last_id: int | None = None                          # delivered up to here
        self.delivered = 0

    # --- Service

    def start(self):
        self.last_id = self._store.events_last_id()
        return self.spawn_loops(self._run, self._sweep)

    def stop_intake(self):
        super().stop_intake()
        for sub in list(self._all) + [s for subs in self._by_account.values() for s in subs]:
            sub.queue.queue.clear()      # the stream ends now; the client resumes elsewhere
            sub.queue.put_nowait(CLOSE)

    def ready(self) -> bool:
        return self.last_id is not None

    # --- wake-up (the listener greenlet calls this on NOTIFY faxd_events, and None on reconnect)

    def wake(self, payload=None) -> None:
        self._wake.set()

    @property
    def clients(self) -> int:
        return len(self._all) + sum(len(s) for s in self._by_account.values())

    # --- subscriptions

    def subscribe(self, account_id: str | None, after: int | None) -> tuple[Subscription, int]:
        """A new stream; returns it and the id up to which the caller reads the table itself
        (``backlog``); live frames after that arrive on the subscription's queue."""
        if self.last_id is None:
            raise StoreError("the event stream is not running")
        upto = self.last_id
        sub = Subscription(account_id, max(after or 0, upto), self._queue_size)
        (self._all if account_id is None else self._by_account[account_id]).add(sub)
        return sub, upto

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.account_id is None:
            self._all.discard(sub)
        else:
            subs = self._by_account.get(sub.account_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_account[sub.account_id]

    def backlog(self, account_id: str | None, after: int, upto: int):
        """Frames of the events ``after < id <= upto`` (a reconnecting client's missed ones)."""
        while after < upto:
            rows = self._store.events_between(account_id, after, upto, self._batch)
            if not rows:
                return
            for row in rows:
                if row["id"] not in self._late_ids:
                    yield frame(row)
            after = rows[-1]["id"]

    def stream(self, account_id: str | None, after: int | None):
        """One client's whole stream as pieces of bytes: the ``retry`` hint, an ``expired`` event
        when ``after`` is older than the window, the events it missed (read from the table),
        then the live ones and heartbeat comments until the hub closes it. Subscribes at once
        (StoreError when the hub is not running), so that nothing between now and the first
        read of the generator is missed; unsubscribes when the generator ends or is closed."""
        sub, upto = self.subscribe(account_id, after)
        first = None
        if after is not None and after < upto:
            try:
                first = self._store.events_first_id()
            except StoreError:
                self.unsubscribe(sub)
                raise
        return self._frames(sub, account_id, after, upto, first)

    def _frames(self, sub: Subscription, account_id: str | None, after: int | None, upto: int, first: int | None):
        try:
            yield b"retry: 2000\n: faxd event stream\n\n"
            if after is not None and after < upto:
                if first is not None and first > after + 1:
                    body = orjson.dumps({"after": after, "resumes_at": first,
                                         "message": "events before resumes_at are older than the window"})
                    yield b"event: expired\ndata: " + body + b"\n\n"
                yield from self.backlog(account_id, after, upto)
            while True:
                try:
                    data = sub.queue.get(timeout=self.heartbeat)
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
            self.unsubscribe(sub)

    # --- the reader

    def _run(self) -> None:
        while self.accepting:
            wait = self._poll if self._gap is None else 0.05
            if self._late:
                wait = min(wait, self.late_check)
            self._wake.wait(timeout=wait)
            self._wake.clear()
            try:
                if self._late:
                    self._renumber_late()
                while self._read():
                    pass
            except StoreError as e:
                logger.warning("event stream: %s", e)
                gevent.sleep(1.0)
            # Events that come within ``linger`` go out together: one write per client for a
            # burst (a fax's pages, many faxes at once) instead of one per event.
            gevent.sleep(self._linger)

    def _gap_passable(self) -> int:
        """Ids up to which holes may be passed (0: none yet)."""
        if self._gap is None:
            return 0
        seen, xids, above = self._gap
        if time.monotonic() - seen > self._gap_timeout:
            logger.warning("event stream: passing ids before %d after %.0f s (transactions still running); "
                           "an event they commit later gets a new id", above, self._gap_timeout)
            self._timed_out = above
            return above
        if self._store.events_running(xids) == 0:
            return above
        return 0

    def _read(self) -> bool:
        """Deliver what is new; True when a full batch suggests more is waiting."""
        passable = self._gap_passable()
        rows, xip = self._store.events_since(self.last_id, self._batch)
        if passable:
            self._gap_xids = self._gap[1]
            self._gap = None
        ready = []
        more = len(rows) == self._batch
        for row in rows:
            event_id = row["id"]
            if event_id != self.last_id + 1 and event_id > passable:
                if self._gap is None:
                    self._gap = (time.monotonic(), xip, event_id)
                more = False
                break
            if event_id != self.last_id + 1 and event_id <= self._timed_out and self._gap_xids:
                self._note_late(range(self.last_id + 1, event_id))
            self.last_id = event_id
            ready.append(row)
        if ready:
            self._deliver(ready)
        return more

    # --- events committed after their hole was passed (held > gap_timeout before commit)
    #
    # Live streams are past such an event's id when it commits, so the reader gives it a new
    # id from the sequence (an UPDATE of the row, committed at once): it then arrives like any
    # new event, on every node. Until then its old id is never served from the table (a
    # resuming client would otherwise get it twice, under both ids). Holes are followed until
    # the transactions that might fill them end, at most ``window`` seconds.

    _gap_xids: list[str] = []
    late_limit = 10000                # ids followed at most (a hole of rolled-back ids can be large)
    late_check = 0.5                  # seconds between looks for them
    _late_next = 0.0

    def _note_late(self, ids: range) -> None:
        if len(self._late_ids) + len(ids) > self.late_limit:
            logger.warning("event stream: not following %d more passed ids (limit %d)", len(ids), self.late_limit)
            return
        self._late.append((time.monotonic(), list(self._gap_xids), list(ids)))
        self._late_ids.update(ids)

    def _renumber_late(self) -> None:
        now = time.monotonic()
        if now < self._late_next:
            return
        self._late_next = now + self.late_check
        # Which holes' transactions have all ended (or outlived the window), before renumbering:
        # one that commits in between is then still followed, and renumbered next time.
        ended = [entry for entry in self._late
                 if now - entry[0] >= self.window or not self._store.events_running(entry[1])]
        moved = self._store.events_renumber(sorted(self._late_ids))
        if moved:
            logger.warning("event stream: %d event(s) committed after their ids were passed: renumbered", moved)
        for entry in ended:
            self._late.remove(entry)
            self._late_ids.difference_update(entry[2])

    def _deliver(self, rows: list[dict]) -> None:
        """Hand each stream its share of ``rows`` (in id order) as one piece of bytes."""
        frames = [(row["id"], row["account_id"], frame(row)) for row in rows]
        if self._all:
            self._offer(self._all, frames)
        if self._by_account:
            by_account: dict[str, list] = defaultdict(list)
            for f in frames:
                if f[1] in self._by_account:
                    by_account[f[1]].append(f)
            for account_id, mine in by_account.items():
                self._offer(self._by_account[account_id], mine)

    def _offer(self, subs, frames: list) -> None:
        joined = b"".join(f[2] for f in frames)
        first, last = frames[0][0], frames[-1][0]
        for sub in list(subs):
            if sub.after < first:
                sub.offer(last, joined)
            elif sub.after < last:     # subscribed in the middle of this batch: only what is newer
                sub.offer(last, b"".join(f[2] for f in frames if f[0] > sub.after))
        self.delivered += len(subs) * len(frames)

    def _sweep(self) -> None:
        while True:
            gevent.sleep(min(60.0, max(1.0, self.window / 10)))
            try:
                self._store.sweep_events(self.window)
            except StoreError as e:
                logger.warning("event sweep: %s", e)

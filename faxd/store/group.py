"""Group commit: the small writes of many live calls share one transaction.

Every call on the line writes a little, often: its progress (a page sent, the speed
negotiated), its lease, its attempt's end. One transaction each costs one commit each, and a
commit waits for the WAL to reach the disk (about 5 ms on a VM's disk): a node with thousands
of calls spends its database on fsyncs, and ``pg_notify`` in the events trigger serialises
notifying commits on top of that. Here the writes of many calls go into one transaction
instead, as PostgreSQL's own group commit does for its clients:

- a writer takes every write waiting when it is free, runs them in order in one transaction
  and commits; what arrives meanwhile forms the next group. The writer is the first caller
  that finds it free (as PostgreSQL's WAL flush is done by whichever backend gets there
  first), so an idle system waits for nothing and hands nothing over: a group of one is
  that caller's own statement. Under load groups grow by themselves;
- a caller gets its result only after the group's COMMIT: what it acknowledges next (an
  event, an answer, the next step of the call) is durable first, exactly as before;
- writes are spread over ``writers`` by a key (the job), so one job's writes keep their
  order and two groups never hold rows of the same job (no deadlock between writers);
- the frequent writes of a call (its progress, its lease, its start and its end) are
  :class:`Mergeable`: a group's run of each kind is one statement, so a group costs a few
  round trips whatever its size;
- when one write of a group fails, the group is rolled back and each of its writes runs
  again on its own: only the write that failed fails. A lost connection fails the group's
  writes with the error a single write would have had (:class:`faxd.errors.StoreUnavailable`).
"""
from __future__ import annotations

import collections
import logging
import zlib
from typing import Any, Callable

import gevent
import gevent.event

from faxd.errors import StoreUnavailable

logger = logging.getLogger(__name__)

Work = Callable[[Any], Any]          # work(cursor) -> result, inside the group's transaction


class Mergeable:
    """A write that shares one statement with the same kind of write of other calls in its
    group: ``merge(cursor, payloads)`` writes them all (in their order) at once and returns
    one result per payload, in order (or None: no results). A call's progress and its lease
    are the most frequent writes, its end the next: a group of hundreds of them is a few
    statements instead of hundreds of round trips. Alone, it is ``merge(cursor, [payload])``."""
    __slots__ = ("merge", "payload")

    def __init__(self, merge: Callable[[Any, list], list | None], payload):
        self.merge = merge
        self.payload = payload

    def __call__(self, cur):
        results = self.merge(cur, [self.payload])
        return results[0] if results else None


class CommitGroups:
    def __init__(self, db, writers: int = 2, max_group: int = 256):
        self._db = db
        self._max = max_group
        self._queues = [collections.deque() for _ in range(writers)]
        self._busy = [False] * writers
        self._greenlets: set[gevent.Greenlet] = set()
        self.commits = 0             # transactions committed (groups and writes run alone)
        self.writes = 0              # writes committed

    def run(self, key: str, work: Work, one_statement: bool = False):
        """``work(cursor)`` committed in a group; returns its result once the group is durable.

        The first caller to find its writer free is the writer (no hand-over to another
        greenlet when nothing else is waiting): it commits what is queued, group by group,
        until its own write is done, then leaves the rest to a greenlet of its own.
        ``one_statement``: the work is one statement, atomic alone (run without BEGIN and
        COMMIT when its group is itself).
        """
        i = zlib.crc32(key.encode()) % len(self._queues)
        done = gevent.event.AsyncResult()
        self._queues[i].append((key, work, done, one_statement))
        if not self._busy[i]:
            self._busy[i] = True
            self._drain(i, until=done)
        return done.get()

    def close(self) -> None:
        for g in list(self._greenlets):
            g.kill()

    def _drain(self, i: int, until: gevent.event.AsyncResult | None) -> None:
        queue = self._queues[i]
        try:
            while queue and not (until is not None and until.ready()):
                group = [queue.popleft() for _ in range(min(len(queue), self._max))]
                try:
                    self._commit(group)
                except BaseException:
                    # The writer was killed mid-group (the store closing; a caller killed while
                    # it writes is alone in its group): never leave another caller waiting, nor
                    # hand it a GreenletExit. The transaction was rolled back, or is in doubt
                    # if the kill came during its COMMIT, as for a connection lost then.
                    for _, _, done, _ in group:
                        if not done.ready():
                            done.set_exception(StoreUnavailable("database write interrupted: its writer stopped"))
                    raise
        finally:
            if queue:
                # Writes arrived meanwhile: a greenlet commits them (this caller returns).
                g = gevent.spawn(self._drain, i, None)
                self._greenlets.add(g)
                g.link(self._greenlets.discard)
            else:
                self._busy[i] = False

    def _commit(self, group: list) -> None:
        if len(group) == 1:
            self._alone(*group[0][1:])
            return
        try:
            with (self._db.statement() if _one_statement(group) else self._db.transaction()) as cur:
                results = _run_in_order(cur, [(key, work) for key, work, _, _ in group])
        except StoreUnavailable as e:
            for _, _, done, _ in group:
                done.set_exception(e)
            return
        except Exception as e:
            logger.debug("a write of a group of %d failed (%s): each runs alone", len(group), e)
            for item in group:
                self._alone(*item[1:])
            return
        self.commits += 1
        self.writes += len(group)
        for (_, _, done, _), value in zip(group, results):
            done.set(value)

    def _alone(self, work: Work, done: gevent.event.AsyncResult, one_statement: bool) -> None:
        try:
            with (self._db.statement() if one_statement else self._db.transaction()) as cur:
                value = work(cur)
        except Exception as e:
            done.set_exception(e)
            return
        self.commits += 1
        self.writes += 1
        done.set(value)


def _one_statement(group: list) -> bool:
    """The group is one statement, atomic alone (no BEGIN and COMMIT: one round trip): writes
    of one Mergeable kind, each a statement alone, each of another job."""
    first = group[0][1]
    if not isinstance(first, Mergeable):
        return False
    keys = set()
    for key, work, _, one_statement in group:
        if not (one_statement and isinstance(work, Mergeable) and work.merge == first.merge) or key in keys:
            return False
        keys.add(key)
    return True


def _run_in_order(cur, items: list[tuple[str, Work]]) -> list:
    """Each work's result, in the group's order; the Mergeable writes of a kind share one merge.

    A job's writes keep their order: its first write in the group is in the first layer, its
    second in the second, and so on; the layers run one after the other. Writes of different
    jobs come from callers that wait for nothing of each other, so within a layer the writes
    of a kind run together (one statement) and each job appears in a merge at most once.
    """
    results: list = [None] * len(items)
    depth: dict[str, int] = {}
    layers: list[list[int]] = []
    for n, (key, _) in enumerate(items):
        d = depth.get(key, 0)
        depth[key] = d + 1
        if d == len(layers):
            layers.append([])
        layers[d].append(n)
    for layer in layers:
        kinds: dict[Any, list[int]] = {}
        for n in layer:
            work = items[n][1]
            if isinstance(work, Mergeable):
                kinds.setdefault(work.merge, []).append(n)
            else:
                results[n] = work(cur)
        for merge, ns in kinds.items():
            merged = merge(cur, [items[n][1].payload for n in ns])
            if merged is not None:
                for n, value in zip(ns, merged):
                    results[n] = value
    return results

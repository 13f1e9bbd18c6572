"""Group commit: the small writes of many live calls share one transaction.

Every call on the line writes a little, often: its progress (a page sent, the speed
negotiated), its lease, its attempt's end. One transaction each costs one commit each, and a
commit waits for the WAL to reach the disk (about 5 ms on a VM's disk): a node with thousands
of calls spends its database on fsyncs, and ``pg_notify`` in the events trigger serialises
notifying commits on top of that. Here the writes of many calls go into one transaction
instead, as PostgreSQL's own group commit does for its clients:

- a writer takes every write waiting when it is free, runs them in order in one transaction
  and commits; what arrives meanwhile forms the next group. An idle system waits for
  nothing (a group of one is committed at once); under load groups grow by themselves;
- a caller gets its result only after the group's COMMIT: what it acknowledges next (an
  event, an answer, the next step of the call) is durable first, exactly as before;
- writes are spread over ``writers`` by a key (the job), so one job's writes keep their
  order and two groups never hold rows of the same job (no deadlock between writers);
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


class CommitGroups:
    def __init__(self, db, writers: int = 2, max_group: int = 256):
        self._db = db
        self._max = max_group
        self._queues = [collections.deque() for _ in range(writers)]
        self._wakes = [gevent.event.Event() for _ in range(writers)]
        self._writers: list[gevent.Greenlet | None] = [None] * writers
        self.commits = 0             # transactions committed (groups and writes run alone)
        self.writes = 0              # writes committed

    def run(self, key: str, work: Work):
        """``work(cursor)`` committed in a group; returns its result once the group is durable."""
        i = zlib.crc32(key.encode()) % len(self._queues)
        done = gevent.event.AsyncResult()
        self._queues[i].append((work, done))
        writer = self._writers[i]
        if writer is None or writer.dead:
            self._writers[i] = gevent.spawn(self._write, i)
        self._wakes[i].set()
        return done.get()

    def close(self) -> None:
        for writer in self._writers:
            if writer is not None:
                writer.kill()

    def _write(self, i: int) -> None:
        queue, wake = self._queues[i], self._wakes[i]
        while True:
            wake.wait()
            wake.clear()
            while queue:
                group = [queue.popleft() for _ in range(min(len(queue), self._max))]
                try:
                    self._commit(group)
                except BaseException as e:          # never leave a caller waiting
                    for _, done in group:
                        if not done.ready():
                            done.set_exception(e)
                    if isinstance(e, gevent.GreenletExit):
                        raise

    def _commit(self, group: list) -> None:
        if len(group) == 1:
            self._alone(*group[0])
            return
        try:
            with self._db.transaction() as cur:
                results = [work(cur) for work, _ in group]
        except StoreUnavailable as e:
            for _, done in group:
                done.set_exception(e)
            return
        except Exception as e:
            logger.debug("a write of a group of %d failed (%s): each runs alone", len(group), e)
            for work, done in group:
                self._alone(work, done)
            return
        self.commits += 1
        self.writes += len(group)
        for (_, done), value in zip(group, results):
            done.set(value)

    def _alone(self, work: Work, done: gevent.event.AsyncResult) -> None:
        try:
            with self._db.transaction() as cur:
                value = work(cur)
        except Exception as e:
            done.set_exception(e)
            return
        self.commits += 1
        self.writes += 1
        done.set(value)

"""Store methods for the fraud and abuse controls: counters, fax policies, super-admins.

The decisions are :mod:`faxd.policy`'s; these are its round trips.
"""
from __future__ import annotations

import gevent.event
import gevent.pool
from psycopg2.extras import Json


class SubmissionBatcher:
    """Submissions of one account at the same moment share one counter UPDATE.

    Every submission of an account updates the same row, so one UPDATE per submission would
    line them up behind the row lock, commit after commit (and the jobs would then reach
    :class:`~faxd.store.jobs.InsertBatcher` one by one instead of together). As there, the first
    caller starts a flusher greenlet for its account; callers that arrive while its UPDATE is in
    flight go in the next one, which asks for all of them at once: the first ``granted`` of
    them are let through, in order of arrival.
    """

    def __init__(self, store):
        self._store = store
        # (account_id, rate_limit, daily_quota, window) -> waiters for the next UPDATE
        self._pending: dict[tuple, list[gevent.event.AsyncResult]] = {}
        self._group = gevent.pool.Group()

    def take(self, account_id: str, rate_limit: int, daily_quota: int, window: float) -> dict | None:
        """The counter row for this one submission, ``granted`` 1 or 0; None: no such account."""
        key = (account_id, rate_limit, daily_quota, window)
        result = gevent.event.AsyncResult()
        waiting = self._pending.get(key)
        if waiting is None:
            self._pending[key] = [result]
            self._group.spawn(self._flush, key)
        else:
            waiting.append(result)
        return result.get()

    def _flush(self, key: tuple) -> None:
        account_id, rate_limit, daily_quota, window = key
        try:
            while self._pending.get(key):
                batch = self._pending[key]
                self._pending[key] = []
                try:
                    row = self._store.take_submissions(account_id, len(batch), rate_limit=rate_limit,
                                                       daily_quota=daily_quota, window=window)
                except Exception as e:  # greenlet boundary: every waiter gets the error
                    for r in batch:
                        r.set_exception(e)
                    continue
                for i, r in enumerate(batch):
                    r.set(None if row is None else dict(row, granted=int(i < row["granted"])))
        finally:
            self._pending.pop(key, None)


def submission_batcher(store) -> SubmissionBatcher:
    batcher = store.__dict__.get("_submission_batcher")
    if batcher is None:
        batcher = store.__dict__["_submission_batcher"] = SubmissionBatcher(store)
    return batcher


class LimitsMixin:
    def take_submission(self, account_id: str, *, rate_limit: int, daily_quota: int,
                        window: float) -> dict | None:
        """One submission, taken together with the account's concurrent ones (SubmissionBatcher)."""
        return submission_batcher(self).take(account_id, rate_limit, daily_quota, window)

    def take_submissions(self, account_id: str, wanted: int, *, rate_limit: int, daily_quota: int,
                         window: float) -> dict | None:
        """Take up to ``wanted`` submissions (see queries/limits.sql); None when no such account.

        The row has ``granted``, the account's ``fax_policy_text`` (JSON), the limits applied, the counts and
        the seconds left in the window (``window_left``) and the UTC day (``day_left``).
        """
        params = {"account_id": account_id, "wanted": wanted, "rate_limit": rate_limit,
                  "daily_quota": daily_quota, "window": window}
        row = self._one("take_submissions", params)
        if row is None:
            # The account's first submission (or no such account): its counter row, then again.
            self._one("insert_submission_counter", {"account_id": account_id})
            row = self._one("take_submissions", params)
        return row

    def give_back_submissions(self, account_id: str, n: int, window_start, day) -> None:
        self._one("give_back_submissions", {"account_id": account_id, "n": n,
                                             "window_start": window_start, "day": day})

    def get_fax_policy(self, account_id: str) -> dict | None:
        """``{"id", "superduper_admin", "fax_policy"}`` of an account, or None."""
        return self._one("get_fax_policy", {"account_id": account_id})

    def set_fax_policy(self, account_id: str, overrides: dict) -> dict | None:
        return self._one("set_fax_policy", {"account_id": account_id, "fax_policy": Json(overrides)})

    def is_superduper_admin(self, account_id: str) -> bool:
        row = self.get_fax_policy(account_id)
        return bool(row and row["superduper_admin"])

    def make_superduper_admin(self, account_id: str, cur=None) -> None:
        self._one("make_superduper_admin", {"account_id": account_id}, cur=cur)

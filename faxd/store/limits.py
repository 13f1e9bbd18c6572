"""Store methods for the fraud and abuse controls: counters, fax policies, super-admins.

The decisions are :mod:`faxd.policy`'s; these are its round trips.
"""
from __future__ import annotations

from psycopg2.extras import Json


class LimitsMixin:
    def take_submissions(self, account_id: str, wanted: int, *, rate_limit: int, daily_quota: int,
                         window: float) -> dict | None:
        """Take up to ``wanted`` submissions (see queries/limits.sql); None when no such account.

        The row has ``granted``, the account's ``fax_policy``, the limits applied, the counts and
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

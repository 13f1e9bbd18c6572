"""Every reserved test number of the software line ends with the error_class and error_code
that docs/errors.md gives for what it does (over real T.30 where there is a call)."""
from __future__ import annotations

import os
import re

from faxd.switch.software import TEST_NUMBERS
from tests.integration.engine.harness import enqueue, fast, running, wait_final

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def documented() -> dict[str, tuple[str, str]]:
    """docs/errors.md's rows: T.30 code or cause name -> (error_class, error_code)."""
    with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as f:
        rows = re.findall(r"^\| (\w+) \| [^|]* \| (\w+) \| (\w+) \| (?:yes|no) \|", f.read(), re.M)
    return {key: (cls, code) for key, cls, code in rows}


# What each behaviour ends with, by the key of its docs/errors.md row.
EXPECTED_ROW = {"busy": "USER_BUSY", "no_answer": "NO_ANSWER", "hangup_page_2": "49", "not_fax": "2",
                "reject": "CALL_REJECTED", "unallocated": "UNALLOCATED_NUMBER"}


def test_reserved_numbers_end_with_their_documented_class_and_code(config, store):
    table = documented()
    acct = store.create_account("taxonomy")
    numbers = {t.behaviour: n for n, t in TEST_NUMBERS.items() if t.behaviour in EXPECTED_ROW}
    with running(fast(config, originate_timeout=3)):
        jobs = {b: enqueue(store, acct.account_id, n, pages=3 if b == "hangup_page_2" else 1, retries=1)
                for b, n in numbers.items()}
        done = wait_final(store, acct.account_id, list(jobs.values()), timeout=150)
    for behaviour, job_id in jobs.items():
        tx = done[job_id]["tx_result"]
        assert done[job_id]["status"] == "failed", (behaviour, tx)
        assert (tx["error_class"], tx["error_code"]) == table[EXPECTED_ROW[behaviour]], (behaviour, tx)
        assert tx["error_advice"], behaviour

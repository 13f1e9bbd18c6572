"""The batched claim keeps every rule of the single claim: fairness across accounts, each
account's max_outbound, one call per number, the switch's max_channels, the due time; and it takes
exactly what single claims one after the other would."""
import psycopg2
import pytest

from faxd.store.dispatch import BLOCKED

from .harness import job_doc


def _account(store, name, max_outbound=10):
    acct = store.create_account(name).account_id
    with store.transaction() as cur:
        cur.execute("UPDATE accounts SET max_outbound = %s WHERE id = %s", (max_outbound, acct))
    return acct


def _job(store, account_id, number, due_minutes_ago, status="pending", switch=None):
    """A fax-ready job due ``due_minutes_ago`` minutes ago (negative: not yet due)."""
    with store.transaction() as cur:
        job = store.enqueue_job(account_id, job_doc(number), status="pending", cur=cur)
        store.add_document(account_id, job_id=job["id"], role="fax_tiff", content_type="image/tiff",
                           data=b"II*\x00", pages=1, cur=cur)
        cur.execute("UPDATE jobs SET run_after = now() - make_interval(mins => %s), status = %s, switch = %s "
                    "WHERE id = %s", (due_minutes_ago, status, switch, job["id"]))
    return job["id"]


@pytest.fixture
def conn(dsn):
    c = psycopg2.connect(dsn)
    yield c
    c.rollback()
    c.close()


def _batch(conn, limit, switch="sw", max_channels=100):
    with conn.cursor() as cur:
        cur.execute("SELECT id, status FROM faxd_claim_jobs('n1', %s, %s, 30, %s)", (switch, max_channels, limit))
        return [r[0] for r in cur.fetchall()]


def _singles(conn, n, switch="sw", max_channels=100):
    taken = []
    with conn.cursor() as cur:
        for _ in range(n):
            cur.execute("SELECT id FROM faxd_claim_job('n1', %s, %s, 30)", (switch, max_channels))
            row = cur.fetchone()
            if row is None or row[0] is None:
                break
            taken.append(row[0])
    return taken


def test_a_batch_serves_the_accounts_in_turn_fewest_calls_first(store, conn):
    a = _account(store, "a")
    b = _account(store, "b")
    c = _account(store, "c", max_outbound=3)
    a_jobs = [_job(store, a, f"+1202555010{i}", 60 - i) for i in range(5)]
    b_jobs = [_job(store, b, f"+1202555020{i}", 50 - i) for i in range(2)]
    _job(store, c, "+12025550300", 90, status="processing", switch="other")   # one call in progress
    c_jobs = [_job(store, c, f"+1202555030{i + 1}", 70 - i) for i in range(4)]
    _job(store, a, "+12025550199", -5)                                           # not due yet

    batch = _batch(conn, 100)
    conn.rollback()
    # Turn 1: a and b (no calls); turn 2: a, b, and c (one call); then a and c until c's
    # max_outbound of 3; then the rest of a. Within a turn, the account whose next job is older first.
    assert batch == [a_jobs[0], b_jobs[0], c_jobs[0], a_jobs[1], b_jobs[1], c_jobs[1], a_jobs[2], a_jobs[3],
                     a_jobs[4]]
    # Exactly what single claims one after the other take.
    assert _singles(conn, 100) == batch


def test_a_batch_keeps_one_call_per_number_and_the_switch_channels(store, conn):
    a = _account(store, "a")
    b = _account(store, "b")
    _job(store, a, "+12025550400", 99, status="processing", switch="sw")   # this number is in a call
    busy = _job(store, b, "+12025550400", 90)
    first = _job(store, a, "+12025550401", 80)
    twin = _job(store, b, "+12025550401", 70)        # same number as a's job: not in the same batch
    b_other = _job(store, b, "+12025550402", 60)
    a_twin = _job(store, a, "+12025550402", 50)
    a_last = _job(store, a, "+12025550403", 40)

    # b first (no call in progress): its job to the number in a call is passed over, then twin.
    # Then a's first job (older than b's next) goes to twin's number: passed over, and a_twin
    # to b_other's number, as a's turn comes after b_other's.
    batch = _batch(conn, 100)
    conn.rollback()
    assert batch == [twin, b_other, a_last]
    assert _singles(conn, 100) == batch
    conn.rollback()
    # The switch has 1 call of its max_channels 3: two more at most.
    assert _batch(conn, 100, max_channels=3) == [twin, b_other]
    conn.rollback()
    assert _batch(conn, 100, max_channels=1) == [None]   # blocked: due jobs wait for a channel
    conn.rollback()
    assert busy and first and a_twin


def test_claims_from_two_switches_at_once_take_different_accounts_and_hold_max_outbound(store, dsn, conn):
    a = _account(store, "a", max_outbound=2)
    b = _account(store, "b", max_outbound=2)
    a_jobs = [_job(store, a, f"+1202555050{i}", 60 - i) for i in range(4)]
    b_jobs = [_job(store, b, f"+1202555060{i}", 50 - i) for i in range(4)]

    first = _batch(conn, 1, switch="sw1")            # holds account a until it commits
    assert first == [a_jobs[0]]
    other = psycopg2.connect(dsn)
    try:
        # a is being claimed elsewhere: this claim takes from b without waiting for it.
        assert _batch(other, 10, switch="sw2") == b_jobs[:2]
        other.commit()
        conn.commit()
        assert _batch(conn, 10, switch="sw1") == [a_jobs[1]]   # a at its max_outbound of 2
        conn.commit()
        assert store.claim_jobs("n1", "sw2", 100, 30, 10) == BLOCKED
    finally:
        other.close()


def test_the_store_returns_a_batch_as_jobs_in_order(store):
    a = _account(store, "a")
    ids = [_job(store, a, f"+1202555070{i}", 30 - i) for i in range(3)]
    assert store.claim_jobs("n1", "sw", 100, 30, 2) is not None
    jobs = store.claim_jobs("n1", "sw", 100, 30, 5)
    assert [j.id for j in jobs] == ids[2:]
    assert jobs[0].fax_tiff == b"II*\x00" and jobs[0].call_id and jobs[0].claimed is not None
    assert store.claim_jobs("n1", "sw", 100, 30, 5) is None


def test_claims_from_two_switches_pass_over_the_numbers_the_other_is_taking(store, dsn, conn):
    """Accounts faxing the same numbers: batches on two switches neither wait for each other
    (crossed waits on the unique index could deadlock) nor put two calls on one number."""
    a = _account(store, "a")
    b = _account(store, "b")
    c = _account(store, "c")
    numbers = [f"+1202555080{i}" for i in range(4)]
    a_jobs = [_job(store, a, n, 60 - i) for i, n in enumerate(numbers)]
    b_jobs = [_job(store, b, n, 50 - i) for i, n in enumerate(reversed(numbers))]
    c_jobs = [_job(store, c, n, 40 - i) for i, n in enumerate(numbers)]

    # Holds a and b, and takes numbers[0] and numbers[3].
    assert _batch(conn, 2, switch="sw1") == [a_jobs[0], b_jobs[0]]
    other = psycopg2.connect(dsn)
    try:
        with other.cursor() as cur:
            cur.execute("SET statement_timeout = '5s'")
        # c's jobs to those two numbers are passed over, not waited for.
        assert _batch(other, 10, switch="sw2") == [c_jobs[1], c_jobs[2]]
        other.commit()
        conn.commit()
    finally:
        other.close()
    with conn.cursor() as cur:
        cur.execute("SELECT to_number, count(*) FROM jobs WHERE status = 'processing' GROUP BY 1 ORDER BY 1")
        assert cur.fetchall() == [(n, 1) for n in numbers]


def test_a_document_this_node_cannot_open_goes_back_to_the_queue_and_the_rest_of_the_batch_is_sent(store, dsn, tmp_path):
    """A node whose key file lacks the key that sealed a job's TIFF does not dial it, nor lose
    it, nor hold the batch's other jobs: that job waits in the queue (attempt not counted)
    for a node that can open it; when nothing opens, the error says why."""
    from datetime import datetime, timezone

    from faxd.errors import DocumentKeyError
    from faxd.store import PostgresStore
    from faxd.store.crypto import DocumentCipher, new_key_line
    from faxd.store.dispatch import UNOPENED_RETRY

    (tmp_path / "keys").write_text(new_key_line("k1") + "\n")
    sealing = PostgresStore(dsn, 2, cipher=DocumentCipher.from_file(str(tmp_path / "keys")))
    try:
        acct = _account(store, "a")
        sealed = _job(sealing, acct, "+13125550101", 5)
        plain = _job(store, acct, "+13125550102", 4)
        jobs = store.claim_jobs("n1", "sw", 100, 30, 10)        # this store has no key at all
        assert [j.id for j in jobs] == [plain] and jobs[0].fax_tiff == b"II*\x00"
        with store.transaction() as cur:
            cur.execute("SELECT status, attempts, lease_owner, run_after, progress FROM jobs WHERE id = %s", (sealed,))
            row = cur.fetchone()
            cur.execute("SELECT count(*) AS n FROM job_attempts WHERE job_id = %s", (sealed,))
            assert cur.fetchone()["n"] == 0
        assert (row["status"], row["attempts"], row["lease_owner"]) == ("pending", 0, None)
        wait = (row["run_after"] - datetime.now(timezone.utc)).total_seconds()
        assert UNOPENED_RETRY - 5 < wait <= UNOPENED_RETRY, wait
        assert row["progress"]["text"] == "Waiting for a node that can open its document"

        with store.transaction() as cur:
            cur.execute("UPDATE jobs SET run_after = now() WHERE id = %s", (sealed,))
        with pytest.raises(DocumentKeyError):
            store.claim_jobs("n1", "sw", 100, 30, 10)            # only the sealed one is due
        with store.transaction() as cur:
            cur.execute("UPDATE jobs SET run_after = now() WHERE id = %s", (sealed,))
        [job] = sealing.claim_jobs("n2", "sw", 100, 30, 10)      # a node with the key sends it
        assert job.id == sealed and job.attempts == 1 and job.fax_tiff == b"II*\x00"
    finally:
        sealing.close()

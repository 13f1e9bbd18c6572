"""The events table's triggers and the node's reader, on the real database: inbound and
email events, and ids delivered in order when transactions commit out of order."""
from __future__ import annotations

import json

import gevent
import psycopg2

from faxd.events import EventHub


def _kinds(dsn, account_id):
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT kind, job_id, call_id, payload FROM events WHERE account_id = %s ORDER BY id",
                        (account_id,))
            return cur.fetchall()
    finally:
        conn.close()


def test_inbound_and_email_events_come_from_their_tables(store, dsn):
    acct = store.create_account("triggers")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("INSERT INTO faxboxes (id, account_id, name, smtp_email_address) VALUES (%s, %s, 'fb', %s)",
                    ("fb1", acct.account_id, "fb1@example.com"))
        cur.execute("""INSERT INTO incoming_calls (id, account_id, faxbox_id, call_id, to_number, from_number, progress)
                       VALUES ('in1', %s, 'fb1', 'c1', '+1202', '+1303', '{"pages_received": 0, "fax_speed": 0}')""",
                    (acct.account_id,))
        cur.execute("""UPDATE incoming_calls SET progress = '{"pages_received": 0, "fax_speed": 9600,
                       "ecm": true, "remote_station_id": "THEM"}' WHERE id = 'in1'""")
        cur.execute("UPDATE incoming_calls SET progress = progress WHERE id = 'in1'")          # lease renewal
        cur.execute("""UPDATE incoming_calls SET progress = '{"pages_received": 2, "fax_speed": 9600}'
                       WHERE id = 'in1'""")
        cur.execute("""INSERT INTO inbox (id, account_id, faxbox_id, call_id, status, to_number, page_count, rx_result)
                       VALUES ('ib1', %s, 'fb1', 'c1', 'received', '+1202', 2, '{"result_code": 0}')""",
                    (acct.account_id,))
        cur.execute("""INSERT INTO smtplog (id, account_id, faxbox_id, mail_from, rcpt_to, errors, smtp_code, smtp_text)
                       VALUES ('s1', %s, 'fb1', 'a@b.c', 'fb1@example.com', '["no attachment"]', 550, 'no document')""",
                    (acct.account_id,))
    conn.close()
    rows = _kinds(dsn, acct.account_id)
    assert [r[0] for r in rows] == ["inbound_started", "inbound_negotiated", "inbound_page", "inbound_page",
                                    "inbound_received", "email_refused"]
    assert rows[1][3] == {"fax_speed": 9600, "ecm": True, "remote_station_id": "THEM"}
    assert [r[3]["page"] for r in rows[2:4]] == [1, 2]
    assert rows[4][1:3] == ("ib1", "c1") and rows[4][3]["pages"] == 2
    assert rows[5][3]["smtp_code"] == 550 and rows[5][3]["errors"] == ["no attachment"]


def _event(conn, account_id, kind):
    with conn.cursor() as cur:
        cur.execute("SELECT faxd_event(%s, %s, NULL, NULL, '{}')", (account_id, kind))


def test_the_reader_never_passes_an_id_whose_transaction_may_still_commit(store, dsn):
    acct = store.create_account("order")
    hub = EventHub(store, poll=0.05, linger=0.0, gap_timeout=30)
    hub.start()
    sub, _ = hub.subscribe(acct.account_id, None)
    a, b = psycopg2.connect(dsn), psycopg2.connect(dsn)
    try:
        _event(a, acct.account_id, "first")          # id n, not committed yet
        _event(b, acct.account_id, "second")         # id n+1
        b.commit()
        gevent.sleep(0.5)
        assert sub.queue.empty(), "id n+1 went out while id n could still commit"
        a.commit()
        got = b""
        with gevent.Timeout(5):
            while got.count(b"\n\n") < 2:
                got += sub.queue.get()
        assert got.index(b"event: first") < got.index(b"event: second")
        # A rolled-back event leaves a hole that is passed once its transaction has ended.
        _event(a, acct.account_id, "rolled_back")
        a.rollback()
        _event(b, acct.account_id, "third")
        b.commit()
        with gevent.Timeout(5):
            third = sub.queue.get()
        assert b"event: third" in third and b"rolled_back" not in third
        ids_seen = [int(l.split()[1]) for l in (got + third).decode().splitlines() if l.startswith("id: ")]
        assert ids_seen == sorted(ids_seen) and len(set(ids_seen)) == 3
        # A late client resuming after the first event gets the rest from the table, once each.
        backlog = b"".join(hub.backlog(acct.account_id, ids_seen[0], hub.last_id))
        assert [json.loads(l[6:])["event"] for l in backlog.decode().splitlines() if l.startswith("data: ")] == \
            ["second", "third"]
    finally:
        a.close()
        b.close()
        hub.stop()


def test_an_event_committed_after_the_reader_passed_its_id_arrives_with_a_new_id_once(store, dsn):
    acct = store.create_account("late")
    hub = EventHub(store, poll=0.05, linger=0.0, gap_timeout=0.5)
    hub.late_check = 0.1
    hub.start()
    sub, _ = hub.subscribe(acct.account_id, None)
    a, b = psycopg2.connect(dsn), psycopg2.connect(dsn)
    try:
        start = hub.last_id
        _event(a, acct.account_id, "late")           # id n, held past gap_timeout
        _event(b, acct.account_id, "on_time")        # id n+1
        b.commit()
        with gevent.Timeout(5):
            first = sub.queue.get()                  # passed after gap_timeout
        assert b"event: on_time" in first and b"event: late" not in first
        on_time = int(first.split(b"\n")[0].split()[1])
        a.commit()
        with gevent.Timeout(5):
            late = sub.queue.get()
        assert b"event: late" in late
        late_id = int(late.split(b"\n")[0].split()[1])
        assert late_id > on_time                     # a new id: after what the stream has seen
        backlog = b"".join(hub.backlog(acct.account_id, start, hub.last_id)).decode()
        assert [json.loads(l[6:])["event"] for l in backlog.splitlines() if l.startswith("data: ")] == \
            ["on_time", "late"]
        assert [int(l.split()[1]) for l in backlog.splitlines() if l.startswith("id: ")] == [on_time, late_id]
        gevent.sleep(0.5)
        assert sub.queue.empty(), "the late event arrived twice"
        assert not hub._late and not hub._late_ids
    finally:
        a.close()
        b.close()
        hub.stop()

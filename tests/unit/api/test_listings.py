"""Listings: page_size, start_key/next_start_key, paginate=false, ascending, created range, filters."""
from __future__ import annotations

import json
from urllib.parse import quote

from faxd.models import gregorian
from faxd.store.listing import ListQuery, decode_key, encode_key


def _seed_jobs(store, account_id, n, *, start="2026-01-01", status="completed", step="1 minute"):
    """n jobs one ``step`` apart from ``start`` (as the engine leaves them), newest last."""
    with store.transaction() as c:
        c.execute(
            "INSERT INTO jobs (id, account_id, status, to_number, from_number, doc, created, modified) "
            "SELECT md5(%(a)s || %(start)s || %(s)s || g::text), %(a)s, %(s)s, '+1888473' || lpad(g::text, 4, '0'), '+18884732963', "
            "  jsonb_build_object('tag', CASE WHEN g %% 2 = 0 THEN 'even' ELSE 'odd' END), "
            "  %(start)s::timestamptz + g * %(step)s::interval, now() "
            "FROM generate_series(1, %(n)s) g", {"a": account_id, "s": status, "n": n, "start": start,
                                                 "step": step})


def _get(client, acct, folder, query=""):
    r = client.simulate_get(f"{acct.base}/faxes/{folder}?{query}", headers=acct.headers)
    assert r.status_code == 200, r.text
    return r.json


def test_key_round_trip():
    from datetime import datetime, timezone
    t = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert decode_key(encode_key(t, "abc")) == (t, "abc")


def test_pages_cover_everything_once_newest_first(client, acct, store):
    _seed_jobs(store, acct.id, 23)
    seen, key, pages = [], None, 0
    while True:
        body = _get(client, acct, "outbox", "page_size=10" + (f"&start_key={key}" if key else ""))
        pages += 1
        seen += [r["id"] for r in body["data"]]
        assert body["page_size"] == len(body["data"])
        assert isinstance(body["start_key"], list)     # as the seed shows it
        if "next_start_key" not in body:
            break
        # Kazoo clients send the key back as JSON; the bare string works as well.
        nxt = body["next_start_key"]
        key = quote(json.dumps(nxt)) if pages % 2 else nxt[0]
    assert pages == 3 and len(seen) == len(set(seen)) == 23
    created = [r["created"] for r in _get(client, acct, "outbox", "paginate=false")["data"]]
    assert created == sorted(created, reverse=True) and len(created) == 23
    asc = _get(client, acct, "outbox", "ascending=true&page_size=5")["data"]
    assert [r["created"] for r in asc] == sorted(created)[:5]


def test_pages_are_stable_under_concurrent_inserts(client, acct, store):
    _seed_jobs(store, acct.id, 30)
    first = _get(client, acct, "outbox", "page_size=10")
    # New faxes arrive while the client pages through: they are newer, so nothing shifts.
    _seed_jobs(store, acct.id, 5, start="2027-01-01")
    second = _get(client, acct, "outbox", f"page_size=10&start_key={first['next_start_key'][0]}")
    all_before = _get(client, acct, "outbox", "paginate=false")["data"][5:]
    assert [r["id"] for r in first["data"] + second["data"]] == [r["id"] for r in all_before[:20]]


def test_created_range_and_filters(client, acct, store):
    _seed_jobs(store, acct.id, 10, step="1 day")
    rows = _get(client, acct, "outbox", "paginate=false")["data"]
    times = sorted(r["created"] for r in rows)
    got = _get(client, acct, "outbox", f"created_from={times[2]}&created_to={times[5]}&paginate=false")["data"]
    assert sorted(r["created"] for r in got) == times[2:6]
    to = rows[0]["to"]
    assert [r["to"] for r in _get(client, acct, "outbox", f"filter_to={to.replace('+', '%2B')}")["data"]] == [to]
    assert len(_get(client, acct, "outbox", "filter_tag=even")["data"]) == 5      # unknown field: the document
    assert _get(client, acct, "outbox", "filter_status=pending")["data"] == []


def test_outgoing_and_outbox_split_by_status(client, acct, store):
    _seed_jobs(store, acct.id, 3, status="pending")
    _seed_jobs(store, acct.id, 2, status="failed", start="2026-02-01")
    assert len(_get(client, acct, "outgoing")["data"]) == 3
    out = _get(client, acct, "outbox")["data"]
    assert len(out) == 2 and {r["status"] for r in out} == {"failed"}


def test_list_jobs_store_api(store, acct):
    _seed_jobs(store, acct.id, 4)
    page = store.list_jobs(acct.id, None, ListQuery(page_size=3))
    assert len(page.rows) == 3 and page.next_start_key
    rest = store.list_jobs(acct.id, None, ListQuery(page_size=3, start_key=page.next_start_key))
    assert len(rest.rows) == 1 and rest.next_start_key is None
    assert rest.rows[0]["created"] < page.rows[-1]["created"]
    assert gregorian(None) is None

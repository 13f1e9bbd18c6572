"""Routes per destination and learning per number, through the whole engine over real T.30 on
the software line: the route's T.38, speed and limits reach the call, attempt_history records
them, and a number that refused T.38 starts in audio on its next fax."""
from __future__ import annotations

from datetime import timedelta

from faxd import routes
from faxd.retention import RetentionSweeper
from tests.integration.engine.harness import attempts_of, enqueue, fast, running, wait_final

NO_T38 = "+12025550106"     # the software line's reserved number that refuses T.38


def _route(store, account_id, **settings):
    return store.create_route(account_id, routes.validate(settings, super_admin=True))


def test_a_route_turns_t38_off_and_limits_the_speed(config, store):
    acct = store.create_account("routes")
    audio = _route(store, acct.account_id, prefix="+1202555", t38="off")
    slow = _route(store, acct.account_id, prefix="+12025557", max_speed=9600)       # longer prefix wins
    slowest = _route(store, acct.account_id, prefix="+12025558", max_speed=4800, ecm=False)
    with running(fast(config, t38="request")):
        jobs = {name: enqueue(store, acct.account_id, number) for name, number in (
            ("audio", "+12025550321"), ("v29", "+12025557321"), ("v27", "+12025558321"), ("none", "+12125550321"))}
        done = wait_final(store, acct.account_id, list(jobs.values()), timeout=120)
    for name, job_id in jobs.items():
        assert done[job_id]["status"] == "completed", (name, done[job_id]["attempt_history"])
    tx = {name: done[j]["tx_result"] for name, j in jobs.items()}
    hist = {name: done[j]["attempt_history"][-1]["route"] for name, j in jobs.items()}
    # T.38 off on the route: audio although the server asks for T.38; elsewhere T.38
    assert tx["audio"]["t38_used"] is False and tx["none"]["t38_used"] is True
    assert hist["audio"] == {"id": audio["id"], "prefix": "+1202555",
                             "settings": {"t38": "off", "ecm": True, "max_speed": 14400}}
    # the longer prefix's route: its own settings only (T.38 as the server says), 9,600 at most
    assert tx["v29"]["fax_speed"] == 9600 and tx["v29"]["t38_used"] is True
    assert hist["v29"]["id"] == slow["id"] and hist["v29"]["settings"]["max_speed"] == 9600
    assert tx["v27"]["fax_speed"] == 4800 and tx["v27"]["fax_error_correction"] is False
    assert hist["v27"]["id"] == slowest["id"] and hist["v27"]["settings"] == {"t38": "request", "ecm": False,
                                                                               "max_speed": 4800}
    assert tx["none"]["fax_speed"] == 14400
    assert hist["none"] == {"id": None, "prefix": None, "settings": {"t38": "request", "ecm": True, "max_speed": 14400}}


def test_the_server_default_route_applies_when_the_account_has_none(config, store):
    acct = store.create_account("defaults")
    default = _route(store, None, prefix="+1303", max_speed=9600)
    try:
        own = _route(store, acct.account_id, prefix="+130355", t38="off")   # the account's own wins
        with running(fast(config)):
            a = enqueue(store, acct.account_id, "+13035550100")
            b = enqueue(store, acct.account_id, "+13036660100")
            done = wait_final(store, acct.account_id, [a, b], timeout=90)
        assert done[a]["attempt_history"][0]["route"]["id"] == own["id"] and done[a]["tx_result"]["fax_speed"] == 14400
        assert done[b]["attempt_history"][0]["route"]["id"] == default["id"]
        assert done[b]["tx_result"]["fax_speed"] == 9600
    finally:
        store.delete_route(None, default["id"])


def test_a_number_that_refused_t38_starts_in_audio_next_time(config, store):
    acct = store.create_account("learning")
    with running(fast(config, t38="request", learn_days=7)):
        first = enqueue(store, acct.account_id, NO_T38)
        done = wait_final(store, acct.account_id, [first], timeout=120)
        a, b = done[first]["attempt_history"]
        assert a["tx_result"]["t38_used"] is True and a["outcome"] == "failed"
        assert b["tx_result"]["t38_used"] is False and b["outcome"] == "completed"
        (learned,) = store.list_learned(acct.account_id, store_now(store))
        assert learned["number"] == NO_T38 and learned["t38_off"] is True and learned["ecm_off"] is False
        assert learned["expires_at"] - learned["learned_at"] == 7 * 86400
        second = enqueue(store, acct.account_id, NO_T38)
        done = wait_final(store, acct.account_id, [second], timeout=120)
    (only,) = done[second]["attempt_history"]      # no T.38 attempt this time
    assert only["outcome"] == "completed" and only["tx_result"]["t38_used"] is False
    assert only["route"]["learned"] == {"t38_off": True} and only["route"]["settings"]["t38"] == "off"
    # forgotten: the next fax tries T.38 again
    assert store.forget_learned(acct.account_id, NO_T38) == 1
    assert store.list_learned(acct.account_id, store_now(store)) == []


def test_a_route_limits_calls_at_once_and_spaces_them(config, store):
    acct = store.create_account("limited")
    _route(store, acct.account_id, prefix="+1415", max_calls=1, min_gap=2)
    with running(fast(config, route_busy_wait=0.3)):
        jobs = [enqueue(store, acct.account_id, f"+1415555{i:04d}") for i in range(3)]
        other = enqueue(store, acct.account_id, "+15105550100")
        done = wait_final(store, acct.account_id, jobs + [other], timeout=120)
    assert all(done[j]["status"] == "completed" and done[j]["attempts"] == 1 for j in jobs + [other])
    rows = sorted((r for r in attempts_of(store, jobs)), key=lambda r: r["started"])
    assert len(rows) == 3      # the deferred claims left no attempt behind
    for before, after in zip(rows, rows[1:]):
        assert after["started"] >= before["ended"], (before, after)              # one at a time
        assert (after["started"] - before["started"]).total_seconds() >= 1.9      # min_gap between starts


def test_the_sweeper_forgets_what_expired(config, store):
    acct = store.create_account("forgetful")
    now = store_now(store)
    store.learn_number(acct.account_id, "+12025550199", t38_off=True, ecm_off=False, now=now, days=3)
    store.learn_number(acct.account_id, "+12025550198", t38_off=False, ecm_off=True, now=now, days=30)
    RetentionSweeper(config, store, now=lambda: now + timedelta(days=4)).sweep()
    assert [r["number"] for r in store.list_learned(acct.account_id, now)] == ["+12025550198"]


def store_now(store):
    with store.transaction() as cur:
        cur.execute("SELECT now() AS now")
        return cur.fetchone()["now"]

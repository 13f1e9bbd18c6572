"""Fraud and abuse controls through the real API on the real database: the destination policy
(premium-rate and international refused by default), who may change it (super-admins only),
the per-account submission rate and daily quota (429 + Retry-After), shared by every node."""
from __future__ import annotations

import datetime
import time

import gevent
import pytest
from falcon import testing

from faxd.api.app import create_app
from faxd.store import PostgresStore
from tests.unit.api.conftest import URL_JOB, Account
from tests.unit.api.helpers import add_inbox_fax, finish_job, make_tiff

PREMIUM = "+19005551234"
UK = "+442079460000"
DOMESTIC = "+12025550123"


def _job(to, **extra):
    return {**URL_JOB, "to_number": to, **extra}


def _put(client, acct, to, **extra):
    return client.simulate_put(acct.base + "/faxes", headers=acct.headers, json={"data": _job(to, **extra)})


def _outgoing(client, acct):
    return client.simulate_get(acct.base + "/faxes/outgoing?page_size=1000", headers=acct.headers).json["data"]


@pytest.fixture
def admin(client, store):
    """A super-admin account (as the bootstrap account is)."""
    a = Account(client, store, "super-admin")
    store.make_superduper_admin(a.id)
    return a


def _set_policy(client, admin, acct, method="POST", **policy):
    r = client.simulate_request(method, f"/v2/accounts/{acct.id}/fax_policy", headers=admin.headers,
                                json={"data": policy})
    assert r.status_code == 200, r.text
    return r.json["data"]


# --- the destination policy

def test_a_premium_rate_number_is_refused_by_default_with_a_clear_error(client, acct):
    r = _put(client, acct, "1 900 555 1234")
    assert r.status_code == 400
    message = "+1 900 numbers are premium-rate and blocked for this account; a super-admin can allow them"
    assert r.json["message"] == message and r.json["error"] == "400" and r.json["status"] == "error"
    assert r.json["data"] == {"to_number": {"premium_rate": {"message": message, "value": PREMIUM}}}
    assert _outgoing(client, acct) == []


def test_international_is_refused_for_a_new_account_until_a_super_admin_allows_it(client, acct, admin):
    r = _put(client, acct, UK)
    assert r.status_code == 400 and "international" in r.json["data"]["to_number"]
    assert r.json["message"].startswith("+442079460000 is in United Kingdom (GB), outside this account's "
                                        "home country US")
    assert _put(client, acct, "+14165550123").status_code == 400   # +1, yet Canada: international
    assert _put(client, acct, DOMESTIC).status_code == 201
    policy = _set_policy(client, admin, acct, allowed_countries=["gb"])
    assert policy["allowed_countries"] == ["GB"] and policy["allow_international"] is False
    assert _put(client, acct, UK).status_code == 201
    assert _put(client, acct, "+4930123456").status_code == 400   # only GB was allowed
    _set_policy(client, admin, acct, allow_international=True)
    assert _put(client, acct, "+4930123456").status_code == 201
    # International does not open premium-rate numbers abroad.
    r = _put(client, acct, "+449098790000")
    assert r.status_code == 400 and r.json["message"].startswith("+44 909 numbers are premium-rate")


def test_a_non_super_admin_cannot_change_its_own_policy(client, acct, other, admin):
    for method in ("POST", "PATCH"):
        r = client.simulate_request(method, acct.base + "/fax_policy", headers=acct.headers,
                                    json={"data": {"allow_international": True, "blocked_number_types": []}})
        assert r.status_code == 403 and "super-admin" in r.json["message"], r.text
    mine = client.simulate_get(acct.base + "/fax_policy", headers=acct.headers)
    assert mine.status_code == 200
    assert mine.json["data"]["allow_international"] is False
    assert mine.json["data"]["blocked_number_types"] == ["premium_rate", "shared_cost", "personal_number"]
    assert _put(client, acct, PREMIUM).status_code == 400
    # Another account's policy does not exist for it, to read or to change (404, never 403).
    assert client.simulate_get(other.base + "/fax_policy", headers=acct.headers).status_code == 404
    assert client.simulate_post(other.base + "/fax_policy", headers=acct.headers,
                                json={"data": {"allow_international": True}}).status_code == 404
    assert client.simulate_post(admin.base + "/fax_policy", headers=acct.headers,
                                json={"data": {}}).status_code == 404
    # A super-admin reads and changes any account's, and its own.
    assert client.simulate_get(acct.base + "/fax_policy", headers=admin.headers).status_code == 200
    assert _set_policy(client, admin, admin, submit_rate_limit=-1)["submit_rate_limit"] == -1
    assert client.simulate_get("/v2/accounts/" + "0" * 32 + "/fax_policy",
                               headers=admin.headers).status_code == 404


def test_post_replaces_patch_merges_and_null_means_the_default(client, acct, admin):
    p = _set_policy(client, admin, acct, allow_international=True, submit_daily_quota=5,
                    denied_prefixes=["+1 202 555"])
    assert p["denied_prefixes"] == ["+1202555"] and "submit_daily_quota" not in p["defaults"]
    r = _put(client, acct, DOMESTIC)
    assert r.status_code == 400 and r.json["data"] == {"to_number": {"denied_prefix": {
        "message": "+12025550123 matches +1202555, a prefix this account's fax policy denies; "
                   "a super-admin can change it", "value": DOMESTIC}}}
    p = _set_policy(client, admin, acct, "PATCH", submit_daily_quota=None, allowed_prefixes=["+12025550123"])
    assert p["allow_international"] is True and p["submit_daily_quota"] == 1000  # the server's default
    assert "submit_daily_quota" in p["defaults"]
    assert _put(client, acct, DOMESTIC).status_code == 201          # the longer prefix wins
    assert _put(client, acct, "+12025550124").status_code == 400
    p = _set_policy(client, admin, acct, "POST", allowed_prefixes=["+1900555"])
    assert p["allow_international"] is False and p["denied_prefixes"] == []
    assert _put(client, acct, PREMIUM).status_code == 201           # +1 900 555 only
    assert _put(client, acct, "+19002000000").status_code == 400


@pytest.mark.parametrize("policy, field", [
    ({"allow_international": "yes"}, "allow_international"),
    ({"submit_rate_limit": -2}, "submit_rate_limit"),
    ({"submit_daily_quota": True}, "submit_daily_quota"),
    ({"submit_daily_quota": 1e20}, "submit_daily_quota"),
    ({"home_region": "XX"}, "home_region"),
    ({"allowed_countries": ["GB", "Narnia"]}, "allowed_countries"),
    ({"blocked_number_types": ["premium"]}, "blocked_number_types"),
    ({"denied_prefixes": ["1900"]}, "denied_prefixes"),
    ({"denied_prefixes": ["+" + "9" * 40]}, "denied_prefixes"),
    ({"allowed_prefixes": [{"a": 1}]}, "allowed_prefixes"),
    ({"allowed_prefixes": ["+1"] * 1001}, "allowed_prefixes"),
    ({"typo_international": True}, "typo_international"),
])
def test_a_bad_policy_is_refused_naming_the_field(client, acct, admin, policy, field):
    r = client.simulate_post(acct.base + "/fax_policy", headers=admin.headers, json={"data": policy})
    assert r.status_code == 400 and field in r.json["data"], r.text
    assert client.simulate_get(acct.base + "/fax_policy", headers=acct.headers).json["data"]["defaults"] == [
        "submit_rate_limit", "submit_daily_quota", "home_region", "allow_international", "allowed_countries",
        "denied_countries", "blocked_number_types", "allowed_prefixes", "denied_prefixes",
        "retention_documents_days", "retention_purge_days"]


def test_resubmit_and_forward_obey_the_policy(client, acct, store):
    job = _put(client, acct, DOMESTIC).json["data"]
    finish_job(store, job["id"], status="failed")
    r = client.simulate_put(f"{acct.base}/faxes/outbox/{job['id']}", headers=acct.headers,
                            json={"action": "resubmit", "data": {"to_number": PREMIUM}})
    assert r.status_code == 400 and "premium_rate" in r.json["data"]["to_number"]
    fax_id = add_inbox_fax(store, acct.id, tiff=make_tiff())
    r = client.simulate_put(f"{acct.base}/faxes/inbox/{fax_id}", headers=acct.headers,
                            json={"action": "forward", "data": {"to_number": UK}})
    assert r.status_code == 400 and "international" in r.json["data"]["to_number"]
    assert [j["id"] for j in _outgoing(client, acct)] == []


# --- submission rate and daily quota

def test_over_the_rate_limit_put_answers_429_and_other_accounts_are_unaffected(client, acct, other, admin):
    _set_policy(client, admin, acct, submit_rate_limit=3)
    assert [_put(client, acct, DOMESTIC).status_code for _ in range(3)] == [201] * 3
    r = _put(client, acct, DOMESTIC)
    assert r.status_code == 429
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert r.json["error"] == "429" and r.json["status"] == "error"
    assert r.json["message"] == f"Too many faxes: this account may queue 3 faxes per 60 seconds; retry in {retry} s"
    assert r.json["data"]["rule"] == "submit_rate_limit" and r.json["data"]["retry_after"] == retry
    # the alias and the faxbox routes count the same
    assert client.simulate_put(acct.base + "/faxes/outgoing", headers=acct.headers,
                               json={"data": _job(DOMESTIC)}).status_code == 429
    assert len(_outgoing(client, acct)) == 3
    assert [_put(client, other, DOMESTIC).status_code for _ in range(5)] == [201] * 5


def test_a_refused_destination_does_not_count(client, acct, admin):
    _set_policy(client, admin, acct, submit_daily_quota=1)
    assert _put(client, acct, PREMIUM).status_code == 400
    assert _put(client, acct, DOMESTIC).status_code == 201
    assert _put(client, acct, DOMESTIC).status_code == 429


def test_the_daily_quota_answers_429_until_the_next_utc_day(client, acct, admin, store):
    _set_policy(client, admin, acct, submit_daily_quota=2)
    assert [_put(client, acct, DOMESTIC).status_code for _ in range(2)] == [201, 201]
    r = _put(client, acct, DOMESTIC)
    assert r.status_code == 429 and r.json["data"]["rule"] == "submit_daily_quota"
    assert "Daily fax quota reached: this account may queue 2 faxes per day (UTC)" in r.json["message"]
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(),
                                         datetime.timezone.utc)
    assert abs(int(r.headers["Retry-After"]) - (midnight - now).total_seconds()) < 5
    # The next UTC day (the counter row's day moved back: the clock is the database's).
    with store.transaction() as c:
        c.execute("UPDATE submission_counters SET day = day - 1 WHERE account_id = %s", (acct.id,))
    assert _put(client, acct, DOMESTIC).status_code == 201
    assert _put(client, acct, DOMESTIC).status_code == 201
    assert _put(client, acct, DOMESTIC).status_code == 429


def test_the_rate_window_passes_in_real_time(config, store):
    app = create_app(config.replace(submit_rate_limit=2, submit_rate_window=1.0), store)
    client = testing.TestClient(app)
    acct = Account(client, store, "window")
    # start just after a window boundary, so the two submissions share one window
    gevent.sleep(1.0 - time.time() % 1.0 + 0.05)
    assert [_put(client, acct, DOMESTIC).status_code for _ in range(2)] == [201, 201]
    r = _put(client, acct, DOMESTIC)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    gevent.sleep(1.0)
    assert _put(client, acct, DOMESTIC).status_code == 201


def test_two_app_instances_on_one_database_share_the_counter(config, dsn, store, admin, client):
    """Two nodes (each its own app and connection pool), one account, 24 submissions at once."""
    stores = [PostgresStore(dsn, pool_size=4) for _ in range(2)]
    try:
        clients = [testing.TestClient(create_app(config, s)) for s in stores]
        acct = Account(clients[0], stores[0], "two nodes")
        _set_policy(client, admin, acct, submit_rate_limit=10)
        greenlets = [gevent.spawn(_put, clients[i % 2], acct, DOMESTIC) for i in range(24)]
        gevent.joinall(greenlets, raise_error=True)
        codes = [g.value.status_code for g in greenlets]
        assert sorted(codes) == [201] * 10 + [429] * 14
        assert len(_outgoing(clients[1], acct)) == 10
        with store.transaction() as c:
            c.execute("SELECT window_count, day_count FROM submission_counters WHERE account_id = %s", (acct.id,))
            assert c.fetchone() == {"window_count": 10, "day_count": 10}
    finally:
        for s in stores:
            s.close()


def test_with_the_server_defaults_a_burst_stops_at_60_a_minute(client, acct):
    """The reproduction: hundreds of PUT /faxes in seconds were all accepted."""
    left = 60 - time.time() % 60
    if left < 15:  # keep the burst inside one rate window
        gevent.sleep(left + 0.1)
    codes = [_put(client, acct, DOMESTIC).status_code for _ in range(70)]
    assert codes == [201] * 60 + [429] * 10
    assert len(_outgoing(client, acct)) == 60


def test_concurrent_submissions_of_one_account_share_counter_updates(config, store, client, admin):
    """20 at once in one process: exactly the limit goes through, in fewer UPDATEs than submissions."""
    from faxd.policy import check_submission
    acct = Account(client, store, "burst")
    _set_policy(client, admin, acct, submit_rate_limit=7)
    updates = []
    real = store.take_submissions

    def counted(*args, **kwargs):
        updates.append(args[1])
        return real(*args, **kwargs)

    store.take_submissions = counted
    try:
        greenlets = [gevent.spawn(check_submission, store, config, acct.id, DOMESTIC) for _ in range(20)]
        gevent.joinall(greenlets, raise_error=True)
    finally:
        del store.take_submissions
    decisions = [g.value for g in greenlets]
    assert [d.allowed for d in decisions] == [True] * 7 + [False] * 13      # in order of arrival
    assert {d.reason for d in decisions[7:]} == {"rate_limited"}
    assert sum(updates) == 20 and len(updates) < 20, updates

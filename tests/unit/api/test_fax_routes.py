"""Routes per destination and what was learned per number, through the real API on the real
database: CRUD, validation errors in Kazoo's envelope, tenant isolation, the fields only a
super-admin may set, the server's defaults, and the learned list."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.unit.api.conftest import Account


@pytest.fixture
def admin(client, store):
    a = Account(client, store, "super-admin")
    store.make_superduper_admin(a.id)
    return a


def _put(client, acct, base=None, **route):
    return client.simulate_put((base or acct.base) + "/fax_routes", headers=acct.headers, json={"data": route})


def test_create_read_list_patch_replace_delete(client, acct):
    r = _put(client, acct, prefix="+1202", t38="off", max_speed=9600, ecm=True, max_calls=2, min_gap=1.5,
             retry_period=60, retry_overrides={"user_busy": 30})
    assert r.status_code == 201, r.text
    route = r.json["data"]
    rid = route["id"]
    assert route == {"id": rid, "prefix": "+1202", "t38": "off", "max_speed": 9600, "ecm": True, "max_calls": 2,
                     "min_gap": 1.5, "retry_period": 60, "retry_overrides": {"USER_BUSY": 30}}
    assert client.simulate_get(f"{acct.base}/fax_routes/{rid}", headers=acct.headers).json["data"] == route
    assert [x["id"] for x in client.simulate_get(acct.base + "/fax_routes", headers=acct.headers).json["data"]] == [rid]
    r = client.simulate_patch(f"{acct.base}/fax_routes/{rid}", headers=acct.headers,
                              json={"data": {"max_speed": 4800, "max_calls": None}})
    assert r.status_code == 200, r.text
    assert r.json["data"]["max_speed"] == 4800 and "max_calls" not in r.json["data"]
    assert r.json["data"]["t38"] == "off"   # kept
    r = client.simulate_post(f"{acct.base}/fax_routes/{rid}", headers=acct.headers,
                             json={"data": {"prefix": "+1203", "ecm": False}})
    assert r.status_code == 200 and r.json["data"] == {"id": rid, "prefix": "+1203", "ecm": False}
    assert client.simulate_delete(f"{acct.base}/fax_routes/{rid}", headers=acct.headers).status_code == 200
    assert client.simulate_get(f"{acct.base}/fax_routes/{rid}", headers=acct.headers).status_code == 404
    assert client.simulate_delete(f"{acct.base}/fax_routes/{rid}", headers=acct.headers).status_code == 404


@pytest.mark.parametrize("route, field, rule", [
    ({}, "prefix", "required"),
    ({"prefix": "1202"}, "prefix", "pattern"),
    ({"prefix": "+12a"}, "prefix", "pattern"),
    ({"prefix": "+1", "t38": "maybe"}, "t38", "enum"),
    ({"prefix": "+1", "max_speed": 12000}, "max_speed", "enum"),
    ({"prefix": "+1", "max_speed": "9600"}, "max_speed", "enum"),
    ({"prefix": "+1", "ecm": "no"}, "ecm", "type"),
    ({"prefix": "+1", "max_calls": 0}, "max_calls", "minimum"),
    ({"prefix": "+1", "min_gap": -1}, "min_gap", "minimum"),
    ({"prefix": "+1", "retry_period": 0}, "retry_period", "minimum"),
    ({"prefix": "+1", "retry_overrides": {"USER_BUSY": "soon"}}, "retry_overrides", "type"),
    ({"prefix": "+1", "colour": "red"}, "colour", "unknown"),
])
def test_validation_errors_name_the_field_and_rule(client, acct, route, field, rule):
    r = _put(client, acct, **route)
    assert r.status_code == 400, r.text
    assert r.json["status"] == "error" and r.json["error"] == "400"
    assert list(r.json["data"]) == [field] and list(r.json["data"][field]) == [rule]
    assert client.simulate_get(acct.base + "/fax_routes", headers=acct.headers).json["data"] == []


def test_a_second_route_for_the_same_prefix_is_a_conflict(client, acct):
    assert _put(client, acct, prefix="+44").status_code == 201
    r = _put(client, acct, prefix="+44", t38="off")
    assert r.status_code == 409 and "+44" in r.json["message"]


def test_another_account_cannot_see_or_change_routes(client, acct, other):
    rid = _put(client, acct, prefix="+1202", t38="off").json["data"]["id"]
    for method in ("GET", "POST", "PATCH", "DELETE"):
        r = client.simulate_request(method, f"{acct.base}/fax_routes/{rid}", headers=other.headers,
                                    json={"data": {"prefix": "+1"}})
        assert r.status_code == 404, (method, r.text)
        # nor through its own account's path
        r = client.simulate_request(method, f"{other.base}/fax_routes/{rid}", headers=other.headers,
                                    json={"data": {"prefix": "+1"}})
        assert r.status_code == 404, (method, r.text)
    assert client.simulate_get(acct.base + "/fax_routes", headers=other.headers).status_code == 404
    assert client.simulate_get(other.base + "/fax_routes", headers=other.headers).json["data"] == []
    assert client.simulate_get(f"{acct.base}/fax_routes/{rid}", headers=acct.headers).json["data"]["t38"] == "off"


@pytest.mark.parametrize("field, value", [("switch", "freeswitch"), ("dial_string", "sofia/gateway/x/{number}"),
                                          ("gateway", "carrier2")])
def test_network_settings_are_for_super_admins_only(client, acct, admin, field, value):
    r = _put(client, acct, prefix="+1", **{field: value})
    assert r.status_code == 403 and field in r.json["data"] and "super-admin" in r.json["message"]
    r = _put(client, admin, base=acct.base, prefix="+1", **{field: value})
    assert r.status_code == 201, r.text
    rid = r.json["data"]["id"]
    # the account sees it, may change its other settings, not this one
    r = client.simulate_patch(f"{acct.base}/fax_routes/{rid}", headers=acct.headers, json={"data": {"t38": "off"}})
    assert r.status_code == 200 and r.json["data"][field] == value and r.json["data"]["t38"] == "off"
    r = client.simulate_post(f"{acct.base}/fax_routes/{rid}", headers=acct.headers, json={"data": {"prefix": "+1"}})
    assert r.status_code == 200 and r.json["data"][field] == value
    r = client.simulate_patch(f"{acct.base}/fax_routes/{rid}", headers=acct.headers, json={"data": {field: None}})
    assert r.status_code == 403


def test_a_super_admin_manages_another_accounts_routes_and_no_others(client, acct, admin):
    r = _put(client, admin, base=acct.base, prefix="+1212", max_speed=4800)
    assert r.status_code == 201
    mine = client.simulate_get(acct.base + "/fax_routes", headers=acct.headers).json["data"]
    assert [x["id"] for x in mine] == [r.json["data"]["id"]]
    r = _put(client, admin, base="/v2/accounts/nosuchaccount", prefix="+1212")
    assert r.status_code == 404 and r.json["message"] == "bad identifier: no such account"


def test_dial_string_must_carry_the_number_and_nothing_that_breaks_out(client, admin):
    for bad in ("sofia/gateway/x/1234", "sofia/gateway/x/{number},other", "{absolute_codec_string=PCMU}x/{number}"):
        r = _put(client, admin, prefix="+1", dial_string=bad)
        assert r.status_code == 400 and "dial_string" in r.json["data"], bad
    r = _put(client, admin, prefix="+1", dial_string="sofia/gateway/x/{number}", gateway="y")
    assert r.status_code == 400 and r.json["data"]["gateway"]["conflict"]


def test_server_defaults_are_for_super_admins(client, acct, admin, store):
    assert client.simulate_get("/v2/fax_routes", headers=acct.headers).status_code == 403
    assert client.simulate_put("/v2/fax_routes", headers=acct.headers, json={"data": {"prefix": "+"}}).status_code == 403
    r = client.simulate_put("/v2/fax_routes", headers=admin.headers, json={"data": {"prefix": "+4930", "ecm": False}})
    assert r.status_code == 201 and r.json["data"]["server_default"] is True
    rid = r.json["data"]["id"]
    try:
        assert rid in [x["id"] for x in client.simulate_get("/v2/fax_routes", headers=admin.headers).json["data"]]
        # not an account's route: the account's path does not find it
        assert client.simulate_get(f"{acct.base}/fax_routes/{rid}", headers=acct.headers).status_code == 404
        # the engine sees it for every account
        routes, _, _ = store.routes_for_number(acct.id, "+49301234567", datetime.now(timezone.utc))
        assert [x["id"] for x in routes] == [rid]
    finally:
        assert client.simulate_delete(f"/v2/fax_routes/{rid}", headers=admin.headers).status_code == 200


def test_learned_numbers_are_listed_and_forgotten(client, acct, other, store):
    now = datetime.now(timezone.utc)
    store.learn_number(acct.id, "+12025550106", t38_off=True, ecm_off=False, now=now, days=30)
    store.learn_number(acct.id, "+12025550104", t38_off=False, ecm_off=True, now=now - timedelta(days=31), days=30)
    r = client.simulate_get(acct.base + "/fax_routes/learned", headers=acct.headers)
    assert r.status_code == 200
    assert [(x["number"], x["t38_off"], x["ecm_off"]) for x in r.json["data"]] == [("+12025550106", True, False)]
    assert r.json["data"][0]["expires_at"] - r.json["data"][0]["learned_at"] == 30 * 86400
    one = client.simulate_get(acct.base + "/fax_routes/learned/+12025550106", headers=acct.headers)
    assert one.status_code == 200 and one.json["data"]["t38_off"] is True
    assert client.simulate_get(acct.base + "/fax_routes/learned/+12025550104", headers=acct.headers).status_code == 404
    assert client.simulate_get(acct.base + "/fax_routes/learned", headers=other.headers).status_code == 404
    assert client.simulate_delete(acct.base + "/fax_routes/learned/+12025550106",
                                  headers=other.headers).status_code == 404
    assert store.expire_learned(now) == 1     # the expired one
    r = client.simulate_delete(acct.base + "/fax_routes/learned/+12025550106", headers=acct.headers)
    assert r.status_code == 200 and r.json["data"] == {"forgotten": 1}
    assert client.simulate_get(acct.base + "/fax_routes/learned", headers=acct.headers).json["data"] == []

"""Faxbox SMTP settings through the API: AUTH credentials (stored hashed, never shown) and
custom email domains, which only the operator can grant (a first claim hijacks nothing)."""
from __future__ import annotations

from falcon import testing

from faxd.api.app import create_app
from tests.unit.api.conftest import Account

PASSWORD = "correct horse battery staple"


def _stored(store, faxbox_id):
    with store.transaction() as c:
        c.execute("SELECT smtp_auth_hash, smtp_auth_required, doc::text AS doc FROM faxboxes WHERE id = %s",
                  (faxbox_id,))
        return c.fetchone()


def test_smtp_auth_is_set_hashed_kept_on_patch_and_removed_with_null(client, acct, store):
    r = client.simulate_put(acct.base + "/faxboxes", headers=acct.headers, json={"data": {
        "name": "Secure", "caller_id": "+12025550100", "smtp_auth": {"password": PASSWORD}}})
    assert r.status_code == 201, r.text
    box = r.json["data"]
    assert box["smtp_auth"] == {"username": box["smtp_email_address"], "required": True}
    assert PASSWORD not in r.text
    row = _stored(store, box["id"])
    assert row["smtp_auth_hash"].startswith("scrypt$") and PASSWORD not in row["smtp_auth_hash"]
    assert PASSWORD not in row["doc"] and row["smtp_auth_required"] is True
    url = f"{acct.base}/faxboxes/{box['id']}"
    # a PATCH of another field, and a POST of the document as read, keep the password
    r = client.simulate_patch(url, headers=acct.headers, json={"data": {"fax_header": "Hdr"}})
    assert r.status_code == 200 and r.json["data"]["smtp_auth"]["required"] is True
    r = client.simulate_post(url, headers=acct.headers, json={"data": r.json["data"]})
    assert r.status_code == 200 and _stored(store, box["id"])["smtp_auth_hash"] == row["smtp_auth_hash"]
    # a client that knows nothing of smtp_auth replaces the document: the credentials stay
    r = client.simulate_post(url, headers=acct.headers, json={"data": {"name": "Secure", "caller_id": "+12025550100"}})
    assert r.status_code == 200 and r.json["data"]["smtp_auth"]["required"] is True
    assert _stored(store, box["id"])["smtp_auth_hash"] == row["smtp_auth_hash"]
    # optional: the password stays, the faxbox also takes unauthenticated (listed) senders
    r = client.simulate_patch(url, headers=acct.headers, json={"data": {"smtp_auth": {"required": False}}})
    assert r.status_code == 200 and r.json["data"]["smtp_auth"]["required"] is False
    assert _stored(store, box["id"])["smtp_auth_hash"] == row["smtp_auth_hash"]
    r = client.simulate_patch(url, headers=acct.headers, json={"data": {"smtp_auth": None}})
    assert r.status_code == 200 and "smtp_auth" not in r.json["data"]
    assert _stored(store, box["id"])["smtp_auth_hash"] is None


def test_smtp_auth_refuses_what_cannot_work(client, acct):
    for auth, field in [({"password": "short"}, "smtp_auth.password"),
                        ({"required": True}, "smtp_auth.password"),
                        ({"password": PASSWORD, "required": "yes"}, "smtp_auth.required"),
                        ({"password": PASSWORD, "colour": 1}, "smtp_auth"),
                        ("secret", "smtp_auth")]:
        r = client.simulate_put(acct.base + "/faxboxes", headers=acct.headers,
                                json={"data": {"name": "x", "smtp_auth": auth}})
        assert r.status_code == 400 and field in r.json["data"], (auth, r.text)


def test_a_custom_domain_needs_the_operators_grant(config, store):
    client = testing.TestClient(create_app(config, store))
    a, b = Account(client, store, "owner"), Account(client, store, "squatter")
    granted = config.replace(smtp_custom_domains=(f"fax.owner.example={a.id}", f"*.owner.example.org={a.id}"))
    client = testing.TestClient(create_app(granted, store))
    # the squatter claims first: refused, so the domain is not taken from its owner
    r = client.simulate_put(b.base + "/faxboxes", headers=b.headers,
                            json={"data": {"name": "B", "custom_smtp_email_address": "fax.owner.example"}})
    assert r.status_code == 400 and "forbidden" in r.json["data"]["custom_smtp_email_address"]
    for domain in ("fax.owner.example", "Fax.Sub.Owner.Example.ORG"):
        r = client.simulate_put(a.base + "/faxboxes", headers=a.headers,
                                json={"data": {"name": "A", "custom_smtp_email_address": domain}})
        assert r.status_code == 201, r.text
    # a domain nobody granted (the default: no custom domains at all)
    r = client.simulate_put(a.base + "/faxboxes", headers=a.headers,
                            json={"data": {"name": "A", "custom_smtp_email_address": "owner.example.org"}})
    assert r.status_code == 400 and "forbidden" in r.json["data"]["custom_smtp_email_address"]

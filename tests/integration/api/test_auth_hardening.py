"""Authentication under attack, on two API nodes sharing one database: brute force is locked out
(429 + Retry-After) per client address and per key prefix, every failure is logged without the
key, and revocation (logout, key rotation, account disabled) reaches the other node at once.
"""
from __future__ import annotations

import http.client
import json
import logging
import time

import pytest

from faxd.api.app import create_app
from faxd import ids
from faxd.api.server import ApiServer
from faxd.store import PostgresStore
from tests.unit.api.conftest import config, dsn, store  # noqa: F401  (fixtures)


class Node:
    """One API process's worth: its own store (pool, token cache, LISTEN connection) and server."""

    def __init__(self, config, dsn):  # noqa: F811
        self.store = PostgresStore(dsn, pool_size=3)
        self.server = ApiServer(("127.0.0.1", 0), create_app(config, self.store))
        self.server.bind()
        self.server.start()
        self.address = self.server.address

    def call(self, method, path, body=None, token=None, source="127.0.0.1"):
        conn = http.client.HTTPConnection(*self.address, timeout=10, source_address=(source, 0))
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data) if data else None
        finally:
            conn.close()

    def login(self, key, source="127.0.0.1"):
        return self.call("PUT", "/v2/api_auth", {"data": {"api_key": key}}, source=source)

    def close(self):
        self.server.stop()
        self.store.close()


@pytest.fixture(scope="module")
def nodes(config, dsn):  # noqa: F811
    pair = [Node(config, dsn), Node(config, dsn)]
    yield pair
    for n in pair:
        n.close()


def token_for(node, key, source="127.0.0.1"):
    status, _, body = node.login(key, source)
    assert status == 201, body
    return body["auth_token"]


def outbox(node, account_id, token):
    status, _, body = node.call("GET", f"/v2/accounts/{account_id}/faxes/outbox", token=token)
    return status, body


def warm(node, account_id, *tokens):
    """Use the tokens on the node for a while: its LISTEN is up and they are in its cache."""
    started = time.monotonic()
    while time.monotonic() - started < 0.3:
        for t in tokens:
            assert outbox(node, account_id, t)[0] == 200
        time.sleep(0.03)


def refused_within(node, account_id, token, limit=1.0, expect=401):
    """Poll the node until it refuses the token; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < 5:
        status, body = outbox(node, account_id, token)
        if status == expect:
            return time.monotonic() - started, body
        assert status == 200
        time.sleep(0.02)
    raise AssertionError(f"still accepted after 5 s (wanted {expect})")


def test_200_wrong_keys_are_locked_out_and_the_right_key_works_elsewhere(nodes, store, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)
    a, _ = nodes
    acct = store.create_account("victim")
    statuses, wrong = [], []
    for _ in range(200):
        wrong.append(ids.new_api_key())
        status, headers, body = a.login(wrong[-1], source="127.0.0.2")
        statuses.append(status)
        if status == 429:
            break
    assert statuses[-1] == 429 and len(statuses) < 200, statuses
    assert set(statuses[:-1]) == {401} and len(statuses) == 21  # auth_max_failures = 20
    assert int(headers["retry-after"]) > 0 and body["error"] == "429" and "try again" in body["message"]
    # Locked out means every key from that address, the right one too.
    assert a.login(acct.api_key, source="127.0.0.2")[0] == 429
    # The right key from another address still works.
    assert a.login(acct.api_key, source="127.0.0.3")[0] == 201
    failures = [r for r in caplog.records if "wrong API key" in r.getMessage()]
    assert len(failures) == 20 and all(r.levelno == logging.WARNING for r in failures)
    assert any("locked out for 300 s after 20 failed attempts" in r.getMessage() for r in caplog.records)
    for _ in range(50):   # a flood of refused attempts is one log line
        assert a.login(ids.new_api_key(), source="127.0.0.2")[0] == 429
    refusals = [r for r in caplog.records if "api_auth refused from 127.0.0.2" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(k in logged or k[:8] in logged for k in wrong)


def test_failures_count_across_nodes(nodes, store):  # noqa: F811
    a, b = nodes
    for i in range(20):
        node = a if i % 2 else b
        assert node.login(ids.new_api_key(), source="127.0.0.4")[0] == 401
    assert a.login(ids.new_api_key(), source="127.0.0.4")[0] == 429
    assert b.login(ids.new_api_key(), source="127.0.0.4")[0] == 429


def test_guessing_the_rest_of_a_key_locks_its_prefix_from_every_address(nodes, store):  # noqa: F811
    a, _ = nodes
    acct, other = store.create_account("prefix victim"), store.create_account("bystander")
    prefix = acct.api_key[:8]
    for i in range(20):
        guess = prefix + ids.new_api_key()[8:]
        assert a.login(guess, source=f"127.0.1.{i + 1}")[0] == 401
    status, headers, _ = a.login(acct.api_key, source="127.0.2.1")
    assert status == 429 and int(headers["retry-after"]) > 0
    assert a.login(other.api_key, source="127.0.2.1")[0] == 201


def test_a_lockout_ends(config, dsn, store):  # noqa: F811
    node = Node(config.replace(auth_lockout=1.0, auth_max_failures=3), dsn)
    try:
        acct = store.create_account("patient")
        assert [node.login("wrong" * 10, source="127.0.0.5")[0] for _ in range(4)] == [401, 401, 401, 429]
        status, headers, _ = node.login(acct.api_key, source="127.0.0.5")
        assert status == 429 and headers["retry-after"] == "1"
        time.sleep(1.1)
        assert node.login(acct.api_key, source="127.0.0.5")[0] == 201
    finally:
        node.close()


def test_a_revoked_token_is_refused_on_the_other_node_within_a_second(nodes, store):  # noqa: F811
    a, b = nodes
    acct = store.create_account("logout")
    token = token_for(a, acct.api_key)
    warm(b, acct.account_id, token)
    status, _, body = a.call("DELETE", "/v2/api_auth", token=token)
    assert status == 200 and body["data"] == {"account_id": acct.account_id, "revoked": True}
    assert "auth_token" not in body
    took, body = refused_within(b, acct.account_id, token)
    assert took < 1.0 and "revoked" in body["message"]
    assert outbox(a, acct.account_id, token)[0] == 401
    assert a.call("DELETE", "/v2/api_auth", token=token)[0] == 401      # already revoked
    assert a.call("DELETE", "/v2/api_auth")[0] == 401                   # no token
    assert a.call("DELETE", "/v2/api_auth", token=ids.new_token())[0] == 401


def test_without_the_notification_the_cache_would_keep_a_revoked_token(nodes, store):  # noqa: F811
    """The control for the test above: a revocation that is not announced stays unseen on a node
    that cached the token, so the announcement is what makes revocation immediate."""
    _, b = nodes
    acct = store.create_account("silent")
    token = token_for(b, acct.api_key)
    warm(b, acct.account_id, token)
    with store.transaction() as c:
        c.execute("UPDATE auth_tokens SET revoked = now() WHERE token_hash = %s", (ids.digest(token),))
    time.sleep(0.3)
    assert outbox(b, acct.account_id, token)[0] == 200


def test_rotate_key_revokes_the_old_key_and_every_token(nodes, store):  # noqa: F811
    a, b = nodes
    acct = store.create_account("rotate")
    tokens = [token_for(a, acct.api_key), token_for(b, acct.api_key)]
    warm(a, acct.account_id, *tokens)
    warm(b, acct.account_id, *tokens)
    new = store.rotate_api_key(acct.account_id)
    assert new.api_key != acct.api_key
    for node in (a, b):
        for t in tokens:
            took, _ = refused_within(node, acct.account_id, t)
            assert took < 1.0
    assert a.login(acct.api_key, source="127.0.0.6")[0] == 401
    assert outbox(b, acct.account_id, token_for(b, new.api_key))[0] == 200


def test_a_disabled_account_is_refused_with_a_clear_message(nodes, store):  # noqa: F811
    a, b = nodes
    acct = store.create_account("disable")
    token = token_for(a, acct.api_key)
    warm(b, acct.account_id, token)
    store.set_account_disabled(acct.account_id, True)
    took, body = refused_within(b, acct.account_id, token, expect=403)
    assert took < 1.0 and "is disabled" in body["message"]
    status, _, body = a.login(acct.api_key, source="127.0.0.7")
    assert status == 403 and "is disabled" in body["message"]
    store.set_account_disabled(acct.account_id, False)
    assert refused_within(a, acct.account_id, token)[0] < 1.0   # its tokens stay revoked
    assert outbox(a, acct.account_id, token_for(a, acct.api_key, source="127.0.0.7"))[0] == 200

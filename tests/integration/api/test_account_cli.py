"""`faxd account list|disable|enable|rotate-key` against the database a running API node uses:
the node refuses what the command revoked within a second."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.api.test_auth_hardening import Node, outbox, refused_within, token_for, warm
from tests.integration.foundation.daemon import ROOT, clean_env, database_url
from tests.unit.api.conftest import config, dsn, store  # noqa: F401  (fixtures)


def faxd(dsn, *args):  # noqa: F811
    out = subprocess.run([sys.executable, "-m", "faxd", "account", *args], cwd=ROOT,
                         env={**clean_env(), "FAXD_DATABASE_URL": database_url(dsn)},
                         capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr


@pytest.fixture(scope="module")
def node(config, dsn):  # noqa: F811
    n = Node(config, dsn)
    yield n
    n.close()


def test_account_commands_end_to_end(node, dsn):  # noqa: F811
    code, out, err = faxd(dsn, "create", "CLI account")
    assert code == 0, err
    acct = json.loads(out)
    token = token_for(node, acct["api_key"])

    code, out, err = faxd(dsn, "list")
    assert code == 0, err
    listed = {a["account_id"]: a for a in json.loads(out)}
    mine = listed[acct["account_id"]]
    assert mine["name"] == "CLI account" and mine["disabled"] is None
    assert mine["api_keys"] == 1 and mine["live_tokens"] == 1
    assert acct["api_key"] not in out and token not in out

    warm(node, acct["account_id"], token)
    code, out, err = faxd(dsn, "rotate-key", acct["account_id"])
    assert code == 0, err
    rotated = json.loads(out)
    assert rotated["account_id"] == acct["account_id"] and rotated["api_key"] != acct["api_key"]
    assert refused_within(node, acct["account_id"], token)[0] < 1.0
    assert node.login(acct["api_key"], source="127.0.3.1")[0] == 401
    token = token_for(node, rotated["api_key"])
    warm(node, acct["account_id"], token)

    code, out, err = faxd(dsn, "disable", acct["account_id"])
    assert code == 0, err
    assert json.loads(out)["disabled"]
    took, body = refused_within(node, acct["account_id"], token, expect=403)
    assert took < 1.0 and "disabled" in body["message"]
    assert node.login(rotated["api_key"], source="127.0.3.1")[0] == 403
    listed = {a["account_id"]: a for a in json.loads(faxd(dsn, "list")[1])}
    assert listed[acct["account_id"]]["disabled"] and listed[acct["account_id"]]["live_tokens"] == 0

    code, out, err = faxd(dsn, "enable", acct["account_id"])
    assert code == 0, err
    assert json.loads(out)["disabled"] is None
    assert outbox(node, acct["account_id"], token_for(node, rotated["api_key"]))[0] == 200


@pytest.mark.parametrize("action", ["disable", "enable", "rotate-key"])
def test_an_unknown_account_is_one_line_and_exit_1(dsn, action):  # noqa: F811
    code, out, err = faxd(dsn, action, "0" * 32)
    assert code == 1 and out == ""
    assert err.strip() == f"faxd: error: no such account {'0' * 32}"

"""Email-to-fax obeys the account's fax policy and submission limits, as the API does:
a refused destination is a permanent 5xx at RCPT, a rate or quota refusal a temporary 4xx,
both logged in the smtplog; a real smtplib client against the real gateway process."""
from __future__ import annotations

import os
import smtplib

import pytest

from faxd.config import Config
from faxd.smtp.service import SmtpGatewayService
from faxd.store import PostgresStore
from tests.conftest import create_database, drop_database
from tests.integration.smtp.helpers import mail, make_pdf

DOMAIN = "fax.test"


@pytest.fixture(scope="module")
def env(pg_admin_dsn, template_db, tmp_path_factory):
    name = f"faxd_smtp_limits_{os.getpid()}"
    dsn = create_database(pg_admin_dsn, name, template=template_db)
    home = tmp_path_factory.mktemp("smtp-limits-home")
    config = Config.load(path=None, env={}, home=str(home), database_url=dsn, smtp_listen="127.0.0.1:0",
                         smtp_domain=DOMAIN)
    store = PostgresStore(dsn, pool_size=2)
    service = SmtpGatewayService(config, dsn)
    service.start()
    yield {"store": store, "service": service}
    service.stop_intake()
    service.drain(5)
    service.stop()
    store.close()
    drop_database(pg_admin_dsn, name)


@pytest.fixture
def box(env):
    """A new account (the server's default policy) and its faxbox."""
    acct = env["store"].create_account("smtp limits")
    box = env["store"].create_faxbox(acct.account_id, {
        "name": "Desk", "caller_id": "+12025550100", "smtp_permission_list": ["alice@example.com"]}, DOMAIN)
    return {"account_id": acct.account_id, "domain": box["smtp_email_address"]}


def _rcpt(env, box, number):
    host, port = env["service"].address
    with smtplib.SMTP(host, port, timeout=30) as c:
        c.ehlo("client.example")
        c.mail("alice@example.com")
        code, text = c.rcpt(f"{number}@{box['domain']}")
        return code, text.decode()


def _rows(env, sql, *params):
    with env["store"].transaction() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _log(env, box):
    return _rows(env, "SELECT * FROM smtplog WHERE account_id = %s ORDER BY created DESC, id DESC LIMIT 1",
                 box["account_id"])[0]


def _jobs(env, box):
    return _rows(env, "SELECT count(*) AS n FROM jobs WHERE account_id = %s", box["account_id"])[0]["n"]


def test_a_premium_rate_number_is_refused_permanently_and_logged(env, box):
    code, text = _rcpt(env, box, "19005551234")
    assert code == 550
    assert text == ("5.7.1 +1 900 numbers are premium-rate and blocked for this account; "
                    "a super-admin can allow them")
    log = _log(env, box)
    assert (log["smtp_code"], log["translated_number"], log["job_id"]) == (550, "+19005551234", None)
    assert log["errors"] == [f"destination_refused: {text}"]
    assert _jobs(env, box) == 0


def test_international_is_refused_for_a_new_account_and_allowed_by_its_policy(env, box):
    code, text = _rcpt(env, box, "+44 20 7946 0000")
    assert code == 550 and "international faxes are blocked for this account" in text
    env["store"].set_fax_policy(box["account_id"], {"allowed_countries": ["GB"]})
    assert _rcpt(env, box, "+44 20 7946 0000")[0] == 250


def test_over_the_rate_limit_a_recipient_is_deferred_and_logged(env, box):
    env["store"].set_fax_policy(box["account_id"], {"submit_rate_limit": 2})
    rcpt = f"12025550123@{box['domain']}"
    host, port = env["service"].address
    msg = mail("alice@example.com", rcpt, attachments=[(make_pdf(), "application/pdf", "a.pdf")])
    for _ in range(2):
        with smtplib.SMTP(host, port, timeout=60) as c:
            assert c.sendmail("alice@example.com", [rcpt], msg) == {}
    code, text = _rcpt(env, box, "12025550123")
    assert code == 450 and text.startswith("4.7.1 Too many faxes: this account may queue 2 faxes per 60 seconds")
    log = _log(env, box)
    assert log["smtp_code"] == 450 and log["errors"] == [f"rate_limited: {text}"]
    assert _jobs(env, box) == 2


def test_a_stranger_cannot_spend_the_accounts_quota(env, box):
    env["store"].set_fax_policy(box["account_id"], {"submit_daily_quota": 1})
    host, port = env["service"].address
    with smtplib.SMTP(host, port, timeout=30) as c:
        c.ehlo("client.example")
        c.mail("mallory@evil.example")
        for _ in range(5):
            assert c.rcpt(f"12025550123@{box['domain']}")[0] == 550   # sender_not_allowed
    assert _rcpt(env, box, "12025550123")[0] == 250
    code, text = _rcpt(env, box, "12025550123")
    assert code == 450 and "Daily fax quota reached" in text
    assert _log(env, box)["errors"] == [f"quota_exceeded: {text}"]

"""Custom faxbox email domains: which account may claim which domain.

A custom domain is a claim on other people's mail: whoever holds ``fax.example.com`` receives
(and faxes, and logs) every mail sent to ``<number>@fax.example.com``. So a domain is not
first come, first served: the operator grants it to an account (``smtp_custom_domains``), the
API refuses a ``custom_smtp_email_address`` that is not granted to the faxbox's account, and
the gateway ignores one that is not (a grant withdrawn takes effect at once).
"""
from __future__ import annotations

from typing import Iterable


def granted_to(grants: Iterable[str], domain: str) -> set[str]:
    """The account ids ``grants`` (``domain=account_id`` strings) give ``domain`` to."""
    domain = (domain or "").strip().lower().rstrip(".")
    owners = set()
    for grant in grants:
        pattern, _, account = grant.partition("=")
        if pattern.startswith("*."):
            if domain.endswith(pattern[1:]) and domain != pattern[2:]:
                owners.add(account)
        elif domain == pattern:
            owners.add(account)
    return owners


def may_claim(grants: Iterable[str], domain: str, account_id: str) -> bool:
    return account_id in granted_to(grants, domain)

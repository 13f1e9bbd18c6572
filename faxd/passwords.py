"""Faxbox SMTP passwords: scrypt hashes (hashlib's, from OpenSSL), never the password itself.

Stored as ``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>`` so the cost can grow without
invalidating existing hashes. n=2**14, r=8 costs about 16 MiB and 30-60 ms per check: enough to
make a stolen table slow to attack, cheap enough for a mail gateway (a session gets
``MAX_AUTH_FAILURES`` tries, and sessions per address are capped). A derivation measured 44 ms
on the 2-core test machine (150 ms under a load of 6), so callers run these in gevent's thread pool
(:func:`off_hub`): OpenSSL's scrypt releases the GIL, and the hub keeps serving meanwhile.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2 ** 14, 8, 1
MIN_LENGTH = 12
MAX_LENGTH = 256
# Checked when a user name matches no faxbox, so that a miss costs what a wrong password costs.
_DUMMY = None


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=32)
    return "$".join(["scrypt", str(N), str(R), str(P), base64.b64encode(salt).decode(),
                     base64.b64encode(key).decode()])


def verify_password(password: bytes | str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; with no hash, the same work and False."""
    global _DUMMY
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not stored:
        if _DUMMY is None:
            _DUMMY = hash_password(os.urandom(16).hex())
        verify_password(password, _DUMMY)
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(password, salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def off_hub(fn, *args):
    """Run ``fn(*args)`` in gevent's thread pool and wait for it without blocking the hub."""
    import gevent
    return gevent.get_hub().threadpool.apply(fn, args)

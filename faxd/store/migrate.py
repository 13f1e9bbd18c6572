"""Apply numbered SQL migrations in order and record them.

Kept small on purpose: migrations are plain ``NNNN_name.sql`` files run by psycopg2 in
one transaction each, under an advisory lock so that nodes starting together migrate once.
"""
from __future__ import annotations

import logging
import os
import re

from faxd.errors import StoreError
from faxd.store.db import wrap_errors
from faxd.store.pool import connect

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK = 0x66617864  # "faxd"


def available(directory: str = MIGRATIONS_DIR) -> list[tuple[int, str, str]]:
    """(version, name, path) of every migration file, in order; a number used twice is an error.

    Gaps are allowed: migrations numbered in parallel work can land in any order, and each is
    applied once (``schema_migrations`` records versions, not a high-water mark)."""
    found = []
    for fname in os.listdir(directory):
        m = _FILE.match(fname)
        if m:
            found.append((int(m.group(1)), m.group(2), os.path.join(directory, fname)))
        elif fname.endswith(".sql"):
            raise StoreError(f"migration file {fname} is not named NNNN_name.sql")
    found.sort()
    for (previous, _, _), (version, _, _) in zip(found, found[1:]):
        if version == previous:
            raise StoreError(f"two migration files are numbered {version:04d}")
    return found


def migrate(dsn: str, directory: str = MIGRATIONS_DIR) -> list[int]:
    """Bring the database at ``dsn`` up to date; return the versions applied."""
    applied_now = []
    with wrap_errors():
        conn = connect(dsn, application_name="faxd-migrate", connect_timeout=10, autocommit=False)
        try:
            with conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
            try:
                with conn:
                    with conn.cursor() as cur:
                        cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                                           version integer PRIMARY KEY,
                                           name text NOT NULL,
                                           applied timestamptz NOT NULL DEFAULT now())""")
                        cur.execute("SELECT version FROM schema_migrations")
                        done = {r[0] for r in cur.fetchall()}
                for version, name, path in available(directory):
                    if version in done:
                        continue
                    with open(path) as f:
                        sql = f.read()
                    with conn:
                        with conn.cursor() as cur:
                            cur.execute(sql)
                            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                        (version, name))
                    logger.info("applied migration %04d_%s", version, name)
                    applied_now.append(version)
            finally:
                with conn:
                    with conn.cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
        finally:
            conn.close()
    return applied_now

"""The migration chain rebuilds exactly schema.sql, and every named query fits that schema."""
import os
import re
import subprocess

import psycopg2
import pytest

from faxd.store import queries
from faxd.store.migrate import available, migrate
from tests.conftest import create_database, drop_database

SCHEMA = os.path.join(os.path.dirname(queries.__file__), "schema.sql")


def _dump(dsn: str) -> str:
    out = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--dbname", dsn],
                         check=True, capture_output=True, text=True).stdout
    # Drop comments, settings and blank lines: they carry the database name and dump times.
    lines = [l for l in out.splitlines()
             if l.strip() and not l.startswith("--") and not l.startswith("SET ")
             and not l.startswith("SELECT pg_catalog.set_config") and not l.startswith("\\")]
    return "\n".join(lines)


@pytest.fixture
def two_databases(pg_admin_dsn):
    names = [f"faxd_mig_{os.getpid()}_a", f"faxd_mig_{os.getpid()}_b"]
    dsns = [create_database(pg_admin_dsn, n) for n in names]
    yield dsns
    for n in names:
        drop_database(pg_admin_dsn, n)


def test_migrations_rebuild_schema_exactly(two_databases):
    migrated, declared = two_databases
    assert migrate(migrated) == [v for v, _, _ in available()]
    assert migrate(migrated) == []  # idempotent
    conn = psycopg2.connect(migrated)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == [v for v, _, _ in available()]
        cur.execute("DROP TABLE schema_migrations")
    conn.close()
    conn = psycopg2.connect(declared)
    with conn, conn.cursor() as cur:
        with open(SCHEMA) as f:
            cur.execute(f.read())
    conn.close()
    assert _dump(migrated) == _dump(declared)


def test_every_named_query_prepares_against_the_schema(dsn):
    """A typo in a column or table name fails here, not in production."""
    conn = psycopg2.connect(dsn)
    failures = []
    try:
        for name, sql in sorted(queries.load().items()):
            params = []

            def placeholder(m):
                if m.group(1) not in params:
                    params.append(m.group(1))
                return f"${params.index(m.group(1)) + 1}"
            text = re.sub(r"%\((\w+)\)s", placeholder, sql).replace("%%", "%")
            if "VALUES %s" in text:  # psycopg2.extras.execute_values: one row of the listed columns
                columns = re.search(r"INSERT INTO \w+ \(([^)]*)\)", text).group(1).split(",")
                row = ", ".join(f"${len(params) + i + 1}" for i in range(len(columns)))
                text = text.replace("VALUES %s", f"VALUES ({row})")
            try:
                with conn.cursor() as cur:
                    cur.execute(f"PREPARE q AS {text}")
                    cur.execute("DEALLOCATE q")
                conn.rollback()
            except psycopg2.Error as e:
                conn.rollback()
                failures.append(f"{name}: {str(e).strip().splitlines()[0]}")
    finally:
        conn.close()
    assert not failures, "\n".join(failures)

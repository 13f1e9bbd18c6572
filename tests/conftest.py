"""Test infrastructure: real PostgreSQL, a template database per session, a fresh one per test.

FAXD_TEST_DATABASE_URL (CI: the server on 127.0.0.1:5432) is used when set; otherwise an
embedded cluster is started for the session in a temporary directory, as faxd itself does.
"""
from faxd.green import patch

patch()

import itertools  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import psycopg2  # noqa: E402
import psycopg2.extensions  # noqa: E402
import pytest  # noqa: E402

from faxd.config import Config  # noqa: E402
from faxd.store import PostgresStore  # noqa: E402
from faxd.store.migrate import migrate  # noqa: E402

_counter = itertools.count()


def _admin(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


# The addresses `make run` serves by default: the API, the SMTP gateway, FreeSWITCH's outbound
# socket listener. The suite must pass beside a running faxd, so these are held for the whole
# session: a test that falls back to a default port fails here instead of on a user's machine.
DEFAULT_ADDRESSES = (("127.0.0.1", 8000), ("127.0.0.1", 2525), ("127.0.0.1", 8084))


@pytest.fixture(scope="session", autouse=True)
def default_ports_taken():
    import socket
    held = []
    for address in DEFAULT_ADDRESSES:
        s = socket.socket()
        try:
            s.bind(address)
            s.listen(1)
            held.append(s)
        except OSError:
            s.close()        # already in use, by a running faxd perhaps: just as good
    yield
    for s in held:
        s.close()


@pytest.fixture(scope="session", autouse=True)
def relocated_clusters_removed(tmp_path_factory):
    """As root under pytest's 0700 temporary root, a `faxd` started on a home there keeps its
    embedded cluster in /var/lib/faxd/clusters (the postgres user cannot reach the home): remove
    the ones that served this session's homes when the session ends."""
    yield
    import json
    from faxd.store.cluster_place import CLUSTERS_DIR
    base = os.path.realpath(str(tmp_path_factory.getbasetemp()))
    try:
        names = os.listdir(CLUSTERS_DIR)
    except OSError:
        return
    for name in names:
        place = os.path.join(CLUSTERS_DIR, name)
        try:
            with open(os.path.join(place, "home.json")) as f:
                home = json.load(f).get("home") or ""
        except (OSError, ValueError):
            continue
        if home.startswith(base + os.sep) and not os.path.exists(os.path.join(place, "postgres", "postmaster.pid")):
            shutil.rmtree(place, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_dsn():
    """DSN of a maintenance database on the test server (may CREATE DATABASE)."""
    url = os.environ.get("FAXD_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from faxd.store.embedded import EmbeddedPostgres
    base = tempfile.mkdtemp(prefix="faxd-test-pg-")
    os.chmod(base, 0o755)
    pg = EmbeddedPostgres(os.path.join(base, "postgres"), dbname="postgres")
    dsn = pg.start()
    try:
        yield dsn
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def dsn_for(admin_dsn: str, dbname: str) -> str:
    return psycopg2.extensions.make_dsn(admin_dsn, dbname=dbname)


def create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    conn = _admin(admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        conn.close()
    return dsn_for(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    conn = _admin(admin_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@pytest.fixture(scope="session")
def template_db(pg_admin_dsn):
    """A database migrated to the current schema, copied for every test."""
    name = f"faxd_tpl_{os.getpid()}"
    dsn = create_database(pg_admin_dsn, name)
    migrate(dsn)
    yield name
    drop_database(pg_admin_dsn, name)


@pytest.fixture
def db_name(pg_admin_dsn, template_db):
    name = f"faxd_t_{os.getpid()}_{next(_counter)}"
    create_database(pg_admin_dsn, name, template=template_db)
    yield name
    drop_database(pg_admin_dsn, name)


@pytest.fixture
def dsn(pg_admin_dsn, db_name):
    """DSN of a fresh database with the whole schema, private to this test."""
    return dsn_for(pg_admin_dsn, db_name)


@pytest.fixture
def store(dsn):
    s = PostgresStore(dsn, pool_size=5, commit_writers=2)    # group commit on, as faxd runs
    yield s
    s.close()


@pytest.fixture
def config(tmp_path, dsn):
    """A Config for in-process tests: private home, the test database, no default ports."""
    # Never the default ports (a `make run` may hold them): the API on a free port, no SMTP gateway
    # unless the test asks for one.
    return Config.load(path=None, env={}, home=str(tmp_path / "home"), database_url=dsn).replace(
        api_listen=("127.0.0.1", 0), smtp_listen=None)

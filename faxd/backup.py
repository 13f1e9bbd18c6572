"""``faxd backup DIR`` and ``faxd restore DIR``: a home's database and files, and back.

A backup is a directory: ``database.dump`` (``pg_dump --format=custom``), the home's files
that the database does not hold (``bootstrap.json``, ``webhook.key``), and ``manifest.json``
with the row counts of the dump. Documents and received faxes live in the database, so the
spool (transient copies for the switch) is not part of it.

The counts and the dump come from one snapshot (``pg_export_snapshot`` passed to
``pg_dump --snapshot``), so a backup taken while faxes are being sent is consistent and its
manifest says exactly what it holds; ``restore`` counts again after loading and fails when
anything differs, and checks every document's bytes against its stored SHA-256.

Both commands are safe beside a running ``faxd run`` (they use its embedded cluster through
its socket, like ``faxd account``). ``restore`` refuses a database that already has accounts:
it is meant for a fresh home (or an empty database server).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

from faxd import __version__
from faxd.errors import FaxdError

DUMP, MANIFEST = "database.dump", "manifest.json"
HOME_FILES = ("bootstrap.json", "webhook.key")
# What the manifest counts; documents also by content (their stored SHA-256 over every row).
COUNTS = {
    "accounts": "SELECT count(*) FROM accounts",
    "faxboxes": "SELECT count(*) FROM faxboxes",
    "jobs": "SELECT count(*) FROM jobs",
    "jobs_not_final": "SELECT count(*) FROM jobs WHERE status NOT IN ('completed', 'failed', 'cancelled')",
    "job_attempts": "SELECT count(*) FROM job_attempts",
    "documents": "SELECT count(*) FROM documents",
    "inbox": "SELECT count(*) FROM inbox",
    "smtplog": "SELECT count(*) FROM smtplog",
    "notifications": "SELECT count(*) FROM notifications",
    "documents_digest": "SELECT md5(coalesce(string_agg(id || ':' || sha256, ',' ORDER BY id), '')) FROM documents",
    "schema_version": "SELECT max(version) FROM schema_migrations",
}


class BackupError(FaxdError):
    pass


def add_arguments(p) -> None:
    p.add_argument("directory", help="backup directory (backup: created, must not exist or be empty)")


def main(args, config) -> int:
    if args.command == "backup":
        print(json.dumps(backup(config, args.directory), indent=2))
    else:
        print(json.dumps(restore(config, args.directory), indent=2))
    return 0


def _tool(config, name: str) -> str:
    from faxd.store.embedded import EmbeddedPostgresError, find_bindir
    try:
        path = os.path.join(find_bindir(config.postgres_bindir), name)
    except EmbeddedPostgresError:
        path = shutil.which(name) or name
    if not os.path.exists(path) and not shutil.which(path):
        raise BackupError(f"{name} not found: apt-get install postgresql-client")
    return path


def _counts(cur) -> dict:
    out = {}
    for name, sql in COUNTS.items():
        cur.execute(sql)
        out[name] = cur.fetchone()[0]
    return out


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {detail[-1] if detail else f'exit {proc.returncode}'}")


def backup(config, directory: str) -> dict:
    import psycopg2
    from faxd.store.embedded import CommandDatabase
    if os.path.exists(directory) and os.listdir(directory):
        raise BackupError(f"{directory} exists and is not empty")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with CommandDatabase(config) as dsn:
        conn = psycopg2.connect(dsn, application_name="faxd-backup")
        try:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_export_snapshot()")
                snapshot = cur.fetchone()[0]
                counts = _counts(cur)
                # The transaction stays open while pg_dump runs, so the snapshot stays valid.
                _run([_tool(config, "pg_dump"), "--format=custom", "--no-owner", "--no-acl",
                      f"--snapshot={snapshot}", f"--file={os.path.join(directory, DUMP)}", "--dbname", dsn],
                     "pg_dump")
            os.chmod(os.path.join(directory, DUMP), 0o600)   # key digests, documents
        finally:
            conn.rollback()
            conn.close()
    files = []
    for name in HOME_FILES:
        src = os.path.join(config.home, name)
        if os.path.exists(src):
            shutil.copy2(src, os.path.join(directory, name))
            files.append(name)
    manifest = {"faxd_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "home": os.path.abspath(config.home), "files": files, "counts": counts}
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def restore(config, directory: str) -> dict:
    import psycopg2
    from faxd.store.embedded import CommandDatabase
    from faxd.store.migrate import migrate
    try:
        with open(os.path.join(directory, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise BackupError(f"{directory} is not a faxd backup (no readable {MANIFEST}: {e})") from None
    dump = os.path.join(directory, DUMP)
    if not os.path.isfile(dump):
        raise BackupError(f"{directory} is not a faxd backup (no {DUMP})")
    with CommandDatabase(config) as dsn:
        conn = psycopg2.connect(dsn, application_name="faxd-restore")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM accounts")
                existing = cur.fetchone()[0]
                if existing:
                    raise BackupError(f"the database already holds {existing} account(s): restore into a "
                                      f"fresh home (FAXD_HOME) or an empty database")
                # An empty schema, so the dump's own (older or equal) schema loads as it was.
                cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            _run([_tool(config, "pg_restore"), "--no-owner", "--no-acl", "--single-transaction",
                  "--exit-on-error", "--dbname", dsn, dump], "pg_restore")
            with conn.cursor() as cur:
                restored = _counts(cur)
            migrate(dsn)   # a backup of an older faxd comes up to this version's schema
            with conn.cursor() as cur:
                # The nodes that were converting documents do not serve this database: their
                # leases (as long as a conversion may take) would only delay those jobs.
                cur.execute("UPDATE jobs SET lease_owner = NULL, lease_expires = NULL "
                            "WHERE status = 'attaching_files' AND lease_owner IS NOT NULL")
                cur.execute("SELECT count(*) FROM documents WHERE encode(sha256(data), 'hex') <> sha256")
                damaged = cur.fetchone()[0]
        finally:
            conn.close()
    if restored != manifest["counts"]:
        diff = {k: (manifest["counts"].get(k), v) for k, v in restored.items() if manifest["counts"].get(k) != v}
        raise BackupError(f"the restored database differs from the backup's manifest: {diff}")
    if damaged:
        raise BackupError(f"{damaged} restored document(s) do not match their SHA-256")
    os.makedirs(config.home, exist_ok=True)
    for name in manifest.get("files", []):
        dst = os.path.join(config.home, name)
        shutil.copy2(os.path.join(directory, name), dst)
        os.chmod(dst, 0o600)
    return {"restored": os.path.abspath(directory), "home": os.path.abspath(config.home),
            "files": manifest.get("files", []), "counts": restored}

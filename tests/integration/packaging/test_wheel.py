"""A clean install from the wheel: faxd alone in site-packages, every file it needs, a working faxd.

The build (sdist, then the wheel from it) and the install into a fresh virtualenv happen once
per session (conftest.py); the commands run from an empty directory with no FAXD_* settings,
so nothing comes from the source tree.
"""
from __future__ import annotations

import json
import os
import subprocess
import tarfile
import uuid
import zipfile

import psycopg2
import pytest

from tests.conftest import create_database, drop_database
from tests.integration.foundation.daemon import FaxdProcess
from tests.integration.foundation.fax_client import FaxClient
from tests.integration.packaging.conftest import ROOT, clean_env

# Directories of the repository that ship inside faxd's namespace, and where.
MAPPED = {"dialplan": "faxd/dialplan", "contrib/systemd": "faxd/systemd"}


def _source_files() -> list[str]:
    """Files of faxd/, dialplan/ and contrib/systemd/ as the repository holds them."""
    r = subprocess.run(["git", "ls-files", "faxd", *MAPPED], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0 and r.stdout.strip():
        files = r.stdout.split()
    else:   # an unpacked sdist: no git
        files = [os.path.relpath(os.path.join(d, f), ROOT) for top in ("faxd", *MAPPED)
                 for d, _, names in os.walk(os.path.join(ROOT, top)) for f in names]
    return [f for f in files if "__pycache__" not in f and not f.endswith((".pyc", ".so", ".o"))
            and os.path.exists(os.path.join(ROOT, f))]


def _in_wheel(path: str) -> str:
    for src, dst in MAPPED.items():
        if path.startswith(src + "/"):
            return dst + path[len(src):]
    return path


def test_the_wheel_is_faxd_alone_with_every_file(dist):
    # one wheel for Python 3.11 and later: the extension is on the stable ABI (setup.cfg, bdist_wheel)
    assert "-cp311-abi3-linux_" in dist["wheel"].name, dist["wheel"].name
    names = zipfile.ZipFile(dist["wheel"]).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"faxd", f"{dist['wheel'].name.split('-')[0]}-{dist['wheel'].name.split('-')[1]}.dist-info"}, tops
    missing = [f for f in _source_files() if _in_wheel(f) not in names]
    assert not missing, f"in the repository but not in the wheel: {missing}"
    assert any(n.startswith("faxd/spandsp/_spandsp") and n.endswith(".so") for n in names), "no spandsp extension"
    for expected in ("faxd/store/schema.sql", "faxd/store/migrations/0001_initial.sql", "faxd/spandsp/helper.c",
                     "faxd/dialplan/freeswitch/faxd.xml", "faxd/dialplan/asterisk/extensions_faxd.conf",
                     "faxd/systemd/faxd.service"):
        assert expected in names, expected


def test_the_sdist_builds_the_wheel_and_holds_the_manual_but_not_the_tests(dist):
    with tarfile.open(dist["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for expected in ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "docs/operations.md",
                     "dialplan/freeswitch/faxd.xml", "contrib/systemd/faxd.service", "faxd/spandsp/helper.c",
                     "faxd/spandsp/cdefs/fax.h", "faxd/store/queries/jobs.sql"):
        assert expected in names, expected
    assert not [n for n in names if n.split("/")[0] in ("tests", "bench", "api", ".venv", "var", "build")]


def test_site_packages_gets_faxd_and_no_other_top_level_name(installed):
    record = [line.split(",", 1)[0] for line in
              open(next(os.path.join(installed["site"], d, "RECORD") for d in os.listdir(installed["site"])
                        if d.startswith("faxd-") and d.endswith(".dist-info")))]
    assert {p.split("/", 1)[0] for p in record if not p.startswith("../")} == \
        {"faxd", next(d for d in os.listdir(installed["site"]) if d.startswith("faxd-"))}
    for name in ("api", "tests", "bench", "dialplan", "contrib"):
        assert not os.path.exists(os.path.join(installed["site"], name)), name


def _run(installed, *args, cwd, env=None, timeout=120):
    r = subprocess.run([str(installed["faxd"]), *args], cwd=cwd, env=env or clean_env(),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"faxd {' '.join(args)} exited {r.returncode}: {r.stderr[-3000:]}"
    return r.stdout


def test_the_installed_faxd_converts_and_faxes_in_process(installed, tmp_path):
    where = subprocess.run([str(installed["python"]), "-c", "import faxd; print(faxd.__file__)"], cwd=tmp_path,
                           env=clean_env(), check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(installed["site"] + "/"), where
    assert "loopback" in _run(installed, "--help", cwd=tmp_path)
    (tmp_path / "hello.txt").write_text("faxd installed from its wheel\n")
    converted = json.loads(_run(installed, "convert", "hello.txt", "--out", "hello.tif", cwd=tmp_path))
    assert converted["pages"] == 1, converted
    loop = json.loads(_run(installed, "loopback", "hello.tif", cwd=tmp_path))   # the extension and helper.c
    assert loop["summary"]["succeeded"] == 1 and loop["runs"][0]["pages_transferred"] == 1, loop
    assert loop["spandsp"]["version"], loop["spandsp"]


def test_the_installed_faxd_migrates_a_fresh_database_and_sends_a_fax(installed, pg_admin_dsn, tmp_path):
    """The packaged SQL (migrations, named queries), then ``faxd run`` to /health and a fax over the
    software line into the bootstrap faxbox."""
    name = f"faxd_wheel_{uuid.uuid4().hex[:8]}"
    dsn = create_database(pg_admin_dsn, name)
    try:
        env = {"FAXD_DATABASE_URL": dsn, "FAXD_HOME": str(tmp_path / "home")}
        assert "up to date" in _run(installed, "migrate", cwd=tmp_path, env=clean_env(**env))
        migrations = sorted(f for f in os.listdir(os.path.join(installed["site"], "faxd", "store", "migrations"))
                            if f.endswith(".sql"))
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM schema_migrations")
            assert cur.fetchone()[0] == len(migrations) > 0
        conn.close()
        faxd = FaxdProcess(env, cwd=str(tmp_path), command=(str(installed["faxd"]),))
        try:
            faxd.wait_ready()
            assert faxd.get("/health").status_code == 200
            boot = faxd.bootstrap
            client = FaxClient(faxd.base_url, boot["account_id"], boot["api_key"])
            job = client.wait_final(client.send_text(boot["fax_number"]))
            assert job["status"] == "completed", job
            assert client.wait_inbox(1)[0]["page_count"] >= 1
        finally:
            assert faxd.stop() == 0
    finally:
        drop_database(pg_admin_dsn, name)

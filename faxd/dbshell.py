"""``faxd psql [ARGS...]``: psql on faxd's database, wherever it is.

The embedded cluster listens only on a Unix socket whose directory depends on the user and the
length of the home's path (README, "Embedded PostgreSQL"); this finds it the way every faxd
command does, beside a running ``faxd run`` or starting the cluster for the session. With
``FAXD_DATABASE_URL`` set it is psql on that URL. Arguments after ``--`` go to psql unchanged.
"""
from __future__ import annotations

import argparse
import subprocess


def add_arguments(p) -> None:
    p.add_argument("psql_args", nargs=argparse.REMAINDER, help="passed to psql (e.g. -c 'SELECT ...')")


def main(args, config) -> int:
    from faxd.backup import _tool
    from faxd.store.embedded import CommandDatabase
    extra = list(args.psql_args)
    if extra[:1] == ["--"]:   # `faxd psql -- -c ...`: the separator is ours, not psql's
        extra = extra[1:]
    with CommandDatabase(config) as dsn:
        return subprocess.call([_tool(config, "psql"), "--dbname", dsn, *extra])

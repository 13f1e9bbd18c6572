"""The faxd command line: argv -> Config -> command; exit codes.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
Every expected failure is one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from faxd.errors import ConfigError, FaxdError

# Commands implemented in other packages: name -> module with add_arguments(p) and main(args, config).
_PLUGGED = {
    "convert": ("faxd.documents.cli", "convert a document to a fax TIFF (the document pipeline alone)"),
    "loopback": ("faxd.spandsp.cli", "run real T.30 sessions in-process on a fax TIFF"),
    "smtp": ("faxd.smtp.cli", "run the SMTP gateway (started by faxd run)"),
    "backup": ("faxd.backup", "back up the database and the home's files into a directory"),
    "restore": ("faxd.backup", "restore a backup directory into a fresh home"),
    "psql": ("faxd.dbshell", "psql on faxd's database (the embedded cluster's socket found for you)"),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faxd", description="fax server daemon")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (default ./faxd.toml if present)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the daemon: API, dispatcher, switch connections, SMTP gateway")
    sub.add_parser("migrate", help="apply database migrations")
    acct = sub.add_parser("account", help="manage accounts")
    acct_sub = acct.add_subparsers(dest="account_command", required=True, metavar="ACTION")
    create = acct_sub.add_parser("create", help="create an account; prints its id and API key")
    create.add_argument("name")
    for name, (module, help_text) in _PLUGGED.items():
        sp = sub.add_parser(name, help=help_text)
        sp.set_defaults(plugged=module)
        try:
            importlib.import_module(module).add_arguments(sp)
        except ImportError:
            sp.set_defaults(unavailable=True)
    return p


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"faxd: error: {message}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    # Arguments first: --help and usage errors need nothing else. Then gevent's monkey-patching,
    # before anything that opens a socket or starts a thread is imported.
    args = _parser().parse_args(argv)
    from faxd.green import patch
    patch()
    from faxd import logs
    from faxd.config import Config

    try:
        config = Config.load(args.config)
    except ConfigError as e:
        return _fail(str(e), 2)
    logs.setup(config.log_level)
    try:
        if args.command == "run":
            from faxd.daemon import Daemon
            return Daemon(config).run()
        if args.command == "migrate":
            return _migrate(config)
        if args.command == "account":
            return _account_create(config, args.name)
        if getattr(args, "unavailable", False):
            return _fail(f"'{args.command}' is not available in this build", 1)
        return importlib.import_module(args.plugged).main(args, config)
    except ConfigError as e:
        return _fail(str(e), 2)
    except FaxdError as e:
        return _fail(str(e), 1)
    except KeyboardInterrupt:
        return 130


class _Database:
    """The configured database, or the embedded cluster for the length of one command.

    The embedded cluster is shared: a running ``faxd run`` (or another command) keeps serving
    it, and it is started here, and stopped on exit, only when nothing was serving it.
    """

    def __init__(self, config):
        self._config = config
        self._embedded = None

    def __enter__(self) -> str:
        from faxd.store.migrate import migrate
        if self._config.database_url:
            dsn = self._config.database_url
        else:
            import os
            from faxd.store.embedded import EmbeddedPostgres
            os.makedirs(self._config.home, exist_ok=True)
            self._embedded = EmbeddedPostgres(self._config.postgres_dir, self._config.postgres_bindir)
            dsn = self._embedded.start(shared=True)
        try:
            migrate(dsn)
        except BaseException:
            self.__exit__()
            raise
        return dsn

    def __exit__(self, *exc):
        if self._embedded is not None:
            self._embedded.stop()


def _migrate(config) -> int:
    with _Database(config):
        pass
    print("faxd: database is up to date")
    return 0


def _account_create(config, name: str) -> int:
    from faxd.store import PostgresStore
    with _Database(config) as dsn:
        store = PostgresStore(dsn, 2)
        try:
            acct = store.create_account(name)
        finally:
            store.close()
    print(json.dumps({"account_id": acct.account_id, "api_key": acct.api_key}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""The faxd command line: argv -> Config -> command; exit codes.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
Every expected failure is one line on stderr, never a traceback.

A command imports what it needs when it runs (the imports inside functions below): ``faxd
--help`` and a usage error import no more than the argument parsers, and gevent's
monkey-patching comes before anything that opens a socket.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
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
    "send": ("faxd.send", "queue a fax through a running faxd; --wait follows it with a progress bar"),
    "top": ("faxd.top", "live view of calls, pages, queues and failures (q quits)"),
    "keys": ("faxd.keys", "document encryption keys: 'keys new ID' prints a key file line, 'keys check' reads it"),
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
    acct_sub.add_parser("list", help="list accounts as JSON (keys and live tokens counted, never shown)")
    for action, help_text in (
            ("disable", "refuse the account's keys and revoke its tokens, on every node at once"),
            ("enable", "accept the account's keys again (tokens revoked by disable stay revoked)"),
            ("rotate-key", "a new API key, printed once; the old keys and every token are revoked")):
        acct_sub.add_parser(action, help=help_text).add_argument("account_id")
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
    logs.setup(config.log_level, fmt=config.log_format)
    try:
        if args.command == "run":
            from faxd.daemon import Daemon
            return Daemon(config, owns_process=True).run()
        if args.command == "migrate":
            return _migrate(config)
        if args.command == "account":
            return _account(config, args)
        if getattr(args, "unavailable", False):
            return _fail(f"'{args.command}' is not available in this build", 1)
        return importlib.import_module(args.plugged).main(args, config)
    except ConfigError as e:
        return _fail(str(e), 2)
    except FaxdError as e:
        return _fail(str(e), 1)
    except KeyboardInterrupt:
        return 130


def _migrate(config) -> int:
    from faxd.store.embedded import CommandDatabase
    with CommandDatabase(config):
        pass
    print("faxd: database is up to date")
    return 0


@contextlib.contextmanager
def _store(config):
    """The store on the command's database (migrated), closed when the block ends."""
    from faxd.store import PostgresStore
    from faxd.store.embedded import CommandDatabase
    with CommandDatabase(config) as dsn:
        store = PostgresStore(dsn, 2)
        try:
            yield store
        finally:
            store.close()


def _account(config, args) -> int:
    with _store(config) as store:
        if args.account_command == "create":
            acct = store.create_account(args.name)
            out = {"account_id": acct.account_id, "api_key": acct.api_key}
        elif args.account_command == "list":
            out = [{"account_id": r["id"], "name": r["name"], "created": r["created"].isoformat(),
                    "disabled": r["disabled"].isoformat() if r["disabled"] else None,
                    "api_keys": r["api_keys"], "live_tokens": r["live_tokens"]}
                   for r in store.list_accounts()]
        elif args.account_command == "rotate-key":
            acct = store.rotate_api_key(args.account_id)
            out = {"account_id": acct.account_id, "api_key": acct.api_key}
        else:
            row = store.set_account_disabled(args.account_id, args.account_command == "disable")
            out = {"account_id": row["id"], "disabled": row["disabled"].isoformat() if row["disabled"] else None}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

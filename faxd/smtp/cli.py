"""``faxd smtp``: run the SMTP gateway in this process (``faxd run`` starts it as a child)."""
from __future__ import annotations

import dataclasses
import json
import os
import sys

from faxd.errors import ConfigError

DSN_ENV = "FAXD_SMTP_DSN"
CONFIG_ENV = "FAXD_SMTP_CONFIG"
PARENT_ENV = "FAXD_SMTP_PARENT"


def add_arguments(parser) -> None:
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help="listen address (default: smtp_listen, FAXD_SMTP_LISTEN)")


def config_to_env(config) -> str:
    """The whole Config as JSON, so the child sees exactly the parent's settings."""
    return json.dumps(dataclasses.asdict(config))


def config_from_env(text: str):
    from faxd.config import Config
    values = json.loads(text)
    return Config.from_mapping({k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _tie_to_parent() -> None:
    """Die with the supervising daemon (PR_SET_PDEATHSIG), even if it is killed -9."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return
    import ctypes
    import signal
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        raise SystemExit(0)


def main(args, config) -> int:
    from faxd.smtp import server
    from faxd.store import PostgresStore
    from faxd.store.crypto import DocumentCipher

    if os.environ.get(CONFIG_ENV):
        config = config_from_env(os.environ[CONFIG_ENV])
    if getattr(args, "listen", None):
        config = config.replace(smtp_listen=config.__class__.from_mapping({"smtp_listen": args.listen}).smtp_listen)
    if config.smtp_listen is None:
        raise ConfigError("the SMTP gateway is disabled (smtp_listen is empty)")
    dsn = os.environ.get(DSN_ENV) or config.database_url
    if not dsn:
        raise ConfigError("faxd smtp needs a database: set FAXD_DATABASE_URL "
                          "(faxd run passes its embedded database to the gateway itself)")
    _tie_to_parent()
    store = PostgresStore(dsn, pool_size=min(10, config.smtp_max_sessions + 2),
                          cipher=DocumentCipher.from_config(config))
    try:
        return server.run(config, store, ready=lambda addr: server.announce(addr, sys.stdout))
    finally:
        store.close()

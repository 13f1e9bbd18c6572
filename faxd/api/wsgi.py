"""WSGI entry point for running the API on its own: gunicorn -k gevent faxd.api.wsgi:app

Needs FAXD_DATABASE_URL (the embedded cluster belongs to ``faxd run``).
"""
from faxd.green import patch

patch()

from faxd.api.app import create_app  # noqa: E402
from faxd.config import Config  # noqa: E402
from faxd.store import PostgresStore  # noqa: E402
from faxd.store.crypto import DocumentCipher  # noqa: E402

_config = Config.load()
if not _config.database_url:
    raise SystemExit("faxd.api.wsgi needs FAXD_DATABASE_URL (the embedded database runs inside 'faxd run')")
app = create_app(_config, PostgresStore(_config.database_url, _config.db_pool_size,
                                        cipher=DocumentCipher.from_config(_config)))

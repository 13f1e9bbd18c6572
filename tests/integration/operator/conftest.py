import pytest

from tests.integration.foundation.daemon import FaxdProcess
from tests.integration.foundation.fax_client import FaxClient
from tests.integration.foundation.daemon import database_url as _url


@pytest.fixture
def faxd(tmp_path, dsn):
    """A real ``faxd run`` on a fresh database (software switch), and a client of its
    bootstrap account (the super-admin)."""
    home = str(tmp_path / "home")
    proc = FaxdProcess({"FAXD_DATABASE_URL": _url(dsn), "FAXD_HOME": home,
                        "FAXD_HTTP_MAX_CONNECTIONS_PER_CLIENT": "0", "FAXD_EVENTS_HEARTBEAT": "1"}).wait_ready()
    proc.home = home
    proc.client = FaxClient(proc.base_url, proc.bootstrap["account_id"], proc.bootstrap["api_key"])
    try:
        yield proc
    finally:
        proc.stop()

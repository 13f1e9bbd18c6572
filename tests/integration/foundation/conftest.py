import os
import shutil
import tempfile

import pytest


@pytest.fixture
def home():
    """A faxd home for a ``faxd run`` subprocess. Not under pytest's 0700 tmp dirs: the postgres
    user must be able to reach the cluster in it."""
    d = tempfile.mkdtemp(prefix="faxd-home-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)

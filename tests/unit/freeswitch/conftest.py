import os

import pytest

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "freeswitch")


def recording(name: str) -> bytes:
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


@pytest.fixture
def data_dir():
    return DATA

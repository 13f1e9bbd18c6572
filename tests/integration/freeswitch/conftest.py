import os

import gevent
import pytest

from faxd.config import Config
from faxd.spandsp.testdoc import make_text_tiff
from faxd.switch import events as ev
from faxd.switch.freeswitch.backend import FreeSwitchBackend
from faxd.testing.esl.emulator import ESLEmulator


@pytest.fixture(scope="session")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("docs")
    return {"3p": make_text_tiff(str(d / "fax3p.tif"), 3), "1p": make_text_tiff(str(d / "fax1p.tif"), 1)}


@pytest.fixture
def emulator(tmp_path):
    started = []

    def make(**kw):
        kw.setdefault("spool", str(tmp_path / "fs-spool"))
        emu = ESLEmulator(**kw).start()
        started.append(emu)
        return emu
    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def backend(tmp_path):
    started = []

    def make(emu, password=None, **kw):
        url = emu.url if password is None else emu.url.replace(f":{emu.password}@", f":{password}@")
        config = Config.load(path=None, env={}, home=str(tmp_path / "home"), esl_url=(url,),
                             esl_listen=("127.0.0.1", 0), dial_string="sofia/gateway/default/{number}")
        kw.setdefault("backoff", (0.05, 0.5))
        b = FreeSwitchBackend(config, **kw)
        b.start()
        started.append(b)
        if emu.socket_target is None and b.listen_address:
            emu.socket_target = b.listen_address
        return b
    yield make
    for b in started:
        b.stop()


def collect(call, timeout=30.0) -> list:
    """Every event of a call up to and including Hangup."""
    out = []
    with gevent.Timeout(timeout):
        while True:
            e = call.events.get()
            out.append(e)
            if isinstance(e, ev.Hangup):
                return out


def only(events, kind):
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, (kind, events)
    return found[0]


def tiff_pages(path) -> int:
    from PIL import Image
    with Image.open(path) as im:
        return getattr(im, "n_frames", 1)


@pytest.fixture
def rx_dir(tmp_path):
    d = tmp_path / "rx"
    os.makedirs(d, exist_ok=True)
    return d

from __future__ import annotations

import os

import pytest

from faxd.spandsp.testdoc import make_text_tiff
from faxd.testing.ami_emulator import AMIEmulator


@pytest.fixture(scope="session")
def fax_docs(tmp_path_factory):
    """tx/fax3p.tif and tx/fax1p.tif, like the recorded Asterisk's documents (1728x2292, 204x196, G4)."""
    base = tmp_path_factory.mktemp("astfax")
    tx = base / "tx"
    tx.mkdir()
    make_text_tiff(str(tx / "fax3p.tif"), 3)
    make_text_tiff(str(tx / "fax1p.tif"), 1)
    return str(tx)


@pytest.fixture
def emulator(tmp_path, fax_docs):
    rx = tmp_path / "rx"
    rx.mkdir()
    # wait_scale: the recorded dialplan's Wait(8) (channels held for Getvar) lasts 1 s here.
    emu = AMIEmulator(rx_dir=str(rx), caller_tiff=os.path.join(fax_docs, "fax3p.tif"), wait_scale=0.125).start()
    yield emu
    emu.stop()

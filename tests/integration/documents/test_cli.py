"""``faxd convert``: the pipeline alone, JSON on stdout, one-line errors."""
import json
import os
import subprocess
import sys

from tests.integration.documents.helpers import frames
from tests.unit.documents import corpus

FAXD = [sys.executable, "-m", "faxd"]


def run(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAXD_")}
    env["FAXD_HOME"] = str(tmp_path / "home")
    return subprocess.run([*FAXD, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_convert_prints_geometry(tmp_path):
    src = tmp_path / "in.pdf"
    src.write_bytes(corpus.pdf(3))
    out, pdf = tmp_path / "out.tif", tmp_path / "out.pdf"
    r = run(tmp_path, "convert", str(src), "--out", str(out), "--resolution", "normal", "--paper", "letter",
            "--pdf", str(pdf))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert {k: result[k] for k in ("pages", "width", "resolution", "paper")} == \
        {"pages": 3, "width": 1728, "resolution": "204x98", "paper": "letter"}
    assert len(frames(out.read_bytes())) == 3
    assert pdf.read_bytes().startswith(b"%PDF")


def test_convert_error_is_one_line(tmp_path):
    src = tmp_path / "empty.pdf"
    src.write_bytes(b"")
    r = run(tmp_path, "convert", str(src), "--out", str(tmp_path / "o.tif"))
    assert r.returncode == 1
    assert r.stderr.strip() == "faxd: error: the document is empty (0 bytes)"
    assert not (tmp_path / "o.tif").exists()

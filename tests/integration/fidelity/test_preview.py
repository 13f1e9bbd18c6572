"""``faxd convert --png DIR``: a preview a person can look at before sending, at the page's real shape."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from PIL import Image

from tests import reading
from tests.data.gallery import make_gallery as gallery

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_png_preview_of_every_page_at_its_real_shape(tmp_path):
    src = os.path.join(gallery.HERE, "mixed-orientation.pdf")
    out = subprocess.run([sys.executable, "-m", "faxd", "convert", src, "--out", str(tmp_path / "x.tif"),
                          "--resolution", "normal", "--png", str(tmp_path / "preview")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": ROOT, "FAXD_HOME": str(tmp_path / "home")})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["pages"] == 3 and len(result["png"]) == 3
    assert sorted(os.listdir(tmp_path / "preview")) == ["page-001.png", "page-002.png", "page-003.png"]
    first = Image.open(result["png"][0])
    # 204x98 rows shown twice as tall: an A4-long page 1728 dots (215 mm) wide in proportion,
    # its square still square.
    assert abs(first.height / first.width - (297 / 25.4) / (1728 / 204)) < 0.01
    assert abs(reading.aspect(first) - 1) < 0.02
    reading.assert_reads(reading.ocr(first), "Portrait page first line", "preview of page 1")

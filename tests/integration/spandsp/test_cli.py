"""``faxd loopback``: the JSON a user reads to know whether a document will go through."""
import json
import os
import subprocess
import sys

from faxd.spandsp import library_info

from .conftest import assert_same_pages


def _loopback(*args):
    env = {"PATH": "/usr/bin:/bin", "FAXD_HOME": "/tmp"}
    if os.environ.get("FAXD_SPANDSP_EXTENSION"):        # the spandsp 3 run (tests/integration/spandsp3)
        env["FAXD_SPANDSP_EXTENSION"] = os.environ["FAXD_SPANDSP_EXTENSION"]
    p = subprocess.run([sys.executable, "-m", "faxd", "loopback", *args], capture_output=True, text=True,
                       timeout=120, env=env)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def test_loopback_repeat_prints_one_run_each(docs, tmp_path):
    out = str(tmp_path / "rx.tif")
    rc, doc, err = _loopback(docs[3], "--repeat", "2", "--t38", "--out", out)
    assert rc == 0, err
    assert doc["document"]["pages"] == 3 and len(doc["runs"]) == 2
    for run in doc["runs"]:
        assert run["completion_code"] == 0 and run["completion_text"] == "OK"
        assert run["pages_transferred"] == 3 and run["t38"] is True and run["ecm"] is True
        assert run["bit_rate"] == 14400 and run["remote_station_id"] == "LOOPBACK"
        assert 0 < run["cpu_seconds"] < 5
    assert doc["summary"]["succeeded"] == 2 and doc["summary"]["cpu_seconds_per_session"] > 0
    assert_same_pages(docs[3], out)
    # which spandsp ran: the one this process runs too, loaded from its file
    here = library_info()
    assert doc["spandsp"]["version"] == here["version"] and doc["spandsp"]["generation"] == here["generation"]
    assert doc["spandsp"]["library"] == here["library"] and os.path.isfile(here["library"])
    assert os.path.basename(here["library"]).startswith("libspandsp.so." + ("3" if here["generation"] == 3 else "2"))


def test_loopback_options(docs):
    rc, doc, err = _loopback(docs[1], "--no-ecm", "--no-v17")
    assert rc == 0, err
    [run] = doc["runs"]
    assert (run["bit_rate"], run["ecm"], run["t38"]) == (9600, False, False)


def test_loopback_bad_file_exits_1_with_spandsp_code(tmp_path):
    rc, doc, err = _loopback(str(tmp_path / "missing.tif"))
    assert rc == 1
    assert doc["runs"][0]["completion_code"] == 41
    assert doc["runs"][0]["completion_text"] == "TIFF/F file cannot be opened"
    assert "no such file" in doc["document"]["error"]

"""faxd on both generations of spandsp.

spandsp 3.0 (FreeSWITCH's) is built from its public source into build/spandsp-3.0/ (once; later
runs reuse it), faxd's bindings are compiled against it, and the spandsp and software-line tests
run again on it. Debian's 0.0.6 stays the default, and is what faxd builds against even when
3.0's headers and library come first in every search path, as on a FreeSWITCH host built from
source (/usr/local), reproduced here with CPATH and friends.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from faxd.spandsp.testdoc import make_text_tiff
from faxd.testing import spandsp3

ROOT = spandsp3.ROOT
# The conformance suite runs the library on all three backends (the software line's per-backend
# tests it replaced were counted here before).
SPANDSP_TESTS = ["tests/integration/spandsp", "tests/integration/software_switch", "tests/unit/spandsp",
                 "tests/integration/switch_conformance"]
# Run once, on the installed library: its figure is the hub's lateness while 50 calls run, which
# the library does not touch (its C code runs with the GIL released) but machine load does.
HUB_LATENCY = "tests/integration/software_switch/test_software_switch.py::test_fifty_concurrent_calls_keep_the_hub_responsive"


@pytest.fixture(scope="module")
def built():
    return spandsp3.extension()


def _python(code, extension, env=None):
    env = dict(os.environ if env is None else env)
    env["FAXD_SPANDSP_EXTENSION"] = extension
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


_INFO = "import json; from faxd.spandsp import library_info; print(json.dumps(library_info()))"


@pytest.mark.timeout(900)
def test_the_spandsp_and_software_line_tests_pass_on_spandsp3(built):
    info = _python(_INFO, built["extension"])
    assert (info["version"], info["generation"]) == ("3.0.0", 3)
    assert info["library"] == os.path.realpath(os.path.join(built["prefix"], "lib", "libspandsp.so.3.0.0"))
    env = dict(os.environ, FAXD_SPANDSP_EXTENSION=built["extension"])
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--deselect", HUB_LATENCY,
                        *SPANDSP_TESTS],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=840)
    tail = p.stdout[-6000:]
    assert p.returncode == 0, tail
    passed = int(re.search(r"(\d+) passed", tail).group(1))
    assert passed >= 60 and " failed" not in tail and " skipped" not in tail, tail


def test_loopback_says_which_library_runs(built, tmp_path):
    doc = make_text_tiff(str(tmp_path / "p1.tif"), 1)
    out = {}
    for name, extension in (("3.0", built["extension"]), ("default", "")):
        env = {"PATH": "/usr/bin:/bin", "FAXD_HOME": str(tmp_path), "FAXD_SPANDSP_EXTENSION": extension}
        p = subprocess.run([sys.executable, "-m", "faxd", "loopback", doc, "--t38"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        out[name] = json.loads(p.stdout)
        assert out[name]["runs"][0]["success"] and out[name]["runs"][0]["pages_transferred"] == 1
    assert out["3.0"]["spandsp"]["version"] == "3.0.0" and out["3.0"]["spandsp"]["generation"] == 3
    assert out["3.0"]["spandsp"]["library"].startswith(os.path.realpath(built["prefix"]) + "/")
    assert out["default"]["spandsp"]["version"] == "0.0.6" and out["default"]["spandsp"]["generation"] == 0
    assert re.fullmatch(r"/usr/lib/[^/]+/libspandsp\.so\.2[.0-9]*", out["default"]["spandsp"]["library"])


def _spandsp3_first(prefix):
    """The environment of a FreeSWITCH host: spandsp 3.0's headers, library and .pc file found
    before Debian's by the compiler, the linker and pkg-config."""
    env = dict(os.environ)
    env.update(CPATH=os.path.join(prefix, "include"), C_INCLUDE_PATH=os.path.join(prefix, "include"),
               LIBRARY_PATH=os.path.join(prefix, "lib"), PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    env.pop("FAXD_SPANDSP_PREFIX", None)
    env.pop("FAXD_SPANDSP_EXTENSION", None)
    return env


def test_debian_spandsp_is_built_when_spandsp3_headers_come_first(built, tmp_path):
    env = _spandsp3_first(built["prefix"])
    # the hazard is real: a plain #include <spandsp.h> now reaches 3.0's header
    p = subprocess.run(["gcc", "-E", "-H", "-x", "c", "-"], input="#include <spandsp.h>\n", env=env,
                       capture_output=True, text=True)
    first = next(line for line in p.stderr.splitlines() if line.startswith(". "))
    assert first == ". " + os.path.join(built["prefix"], "include", "spandsp.h")
    # faxd's build still takes Debian's, by default, and the result runs a fax on it
    ext = spandsp3.build_extension(None, str(tmp_path / "ext"), env=env)
    info = _python(_INFO, ext, env)
    assert (info["version"], info["generation"], info["prefix"]) == ("0.0.6", 0, "/usr")
    assert re.fullmatch(r"/usr/lib/[^/]+/libspandsp\.so\.2[.0-9]*", info["library"])
    doc = make_text_tiff(str(tmp_path / "p1.tif"), 1)
    r = _python(f"""
import json
from faxd.spandsp import FaxSession, run_pair
tx, rx = FaxSession(True), FaxSession(False)
tx.set_tx_file({doc!r}); rx.set_rx_file({str(tmp_path / 'rx.tif')!r})
r = run_pair(tx, rx)
print(json.dumps([r.tx.completion_code, r.rx.pages_rx, r.rx.encoding]))
""", ext, env)
    assert r == [0, 1, "T.4 2D"]


def test_spandsp3_is_chosen_by_its_prefix_even_with_debian_installed(built, tmp_path):
    ext = spandsp3.build_extension(built["prefix"], str(tmp_path / "ext"))
    info = _python(_INFO, ext)
    assert (info["version"], info["generation"]) == ("3.0.0", 3)
    assert info["prefix"] == os.path.realpath(built["prefix"])


def test_a_wrong_prefix_or_extension_is_a_clear_error(tmp_path):
    with pytest.raises(spandsp3.BuildFailed, match=r"FAXD_SPANDSP_PREFIX=/nonexistent/spandsp: no such directory"):
        spandsp3.build_extension("/nonexistent/spandsp", str(tmp_path / "a"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(spandsp3.BuildFailed, match=r"spandsp\.h not found under .*empty: install"):
        spandsp3.build_extension(str(empty), str(tmp_path / "b"))
    env = dict(os.environ, FAXD_SPANDSP_EXTENSION=str(tmp_path / "missing.so"))
    p = subprocess.run([sys.executable, "-c", "import faxd.spandsp"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0 and "FAXD_SPANDSP_EXTENSION=" in p.stderr and "no such file" in p.stderr


def test_a_prefix_whose_headers_are_of_the_other_generation_stops_the_build(built, tmp_path):
    # 3.0's headers and library behind a pkg-config file that claims 0.0.6
    fake = tmp_path / "mislabelled"
    (fake / "lib" / "pkgconfig").mkdir(parents=True)
    os.symlink(os.path.join(built["prefix"], "include"), fake / "include")
    for name in ("libspandsp.so", "libspandsp.so.3"):
        os.symlink(os.path.join(built["prefix"], "lib", name), fake / "lib" / name)
    (fake / "lib" / "pkgconfig" / "spandsp.pc").write_text(
        f"prefix={fake}\nlibdir=${{prefix}}/lib\nincludedir=${{prefix}}/include\n\n"
        "Name: spandsp\nDescription: x\nVersion: 0.0.6\nLibs: -L${libdir} -lspandsp\nCflags: -I${includedir}\n")
    with pytest.raises(spandsp3.BuildFailed, match="faxd chose spandsp 0.0.6 but the compiler found spandsp 3's"):
        spandsp3.build_extension(str(fake), str(tmp_path / "ext"))

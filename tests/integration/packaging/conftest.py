"""One build of faxd's sdist and wheel per session, installed into one fresh virtualenv."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def clean_env(**extra) -> dict:
    """The environment of a user's shell: no FAXD_* settings, nothing that points into the source tree."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FAXD_") and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """``python -m build``: the sdist, then the wheel built from that sdist.

    ``--no-isolation`` (4 s instead of 13 s): the build uses this environment's setuptools, wheel
    and cffi, which ``build`` first checks against pyproject.toml's build requirements."""
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), ROOT], cwd=ROOT,
                       env=clean_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    sdists, wheels = sorted(out.glob("faxd-*.tar.gz")), sorted(out.glob("faxd-*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, os.listdir(out)
    return {"sdist": sdists[0], "wheel": wheels[0]}


@pytest.fixture(scope="session")
def installed(dist, tmp_path_factory):
    """The wheel and its dependencies pip-installed into a new virtualenv (no source tree on its path)."""
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile",
                        str(dist["wheel"])], env=clean_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          cwd=base, env=clean_env(), check=True, capture_output=True, text=True).stdout.strip()
    return {"venv": venv, "python": python, "faxd": venv / "bin" / "faxd", "site": site, "base": base}

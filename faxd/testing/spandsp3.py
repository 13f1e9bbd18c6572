"""spandsp 3.0 in a private prefix, and faxd's bindings built against it, for tests and benchmarks.

    python -m faxd.testing.spandsp3        # builds what is missing; prints FAXD_SPANDSP_EXTENSION=...

The source is the public ``freeswitch/spandsp`` tarball kept beside the repository
(``../shared/vendor/spandsp-3.0.0-src.tar.gz``, found in any parent directory, or the path in
``FAXD_SPANDSP3_SOURCE``). It is built with ``./bootstrap.sh && ./configure --prefix=... CFLAGS="-g -O2" &&
make && make install`` into ``build/spandsp-3.0/prefix`` (about 70 s on two cores) and kept there:
a stamp records the tarball's SHA-256, so later runs reuse it. The bindings are compiled with
``_build.py`` for that prefix into ``build/spandsp-3.0/ext-<key>/`` (keyed by the sources of the
bindings and the Python version; about 10 s). Nothing is installed system-wide.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time

TARBALL = "spandsp-3.0.0-src.tar.gz"
SOURCE_ENV = "FAXD_SPANDSP3_SOURCE"
# spandsp 3.0's configure.ac sets CFLAGS before AC_PROG_CC, so its "-g -O2" default never
# applies: a plain ./configure builds the library unoptimized (audio faxes then take about 5x
# the CPU). These are the flags Debian's 0.0.6 was built with, so the generations compare fairly.
CFLAGS = "-g -O2"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.join(ROOT, "build", "spandsp-3.0")
_BINDINGS = os.path.join(ROOT, "faxd", "spandsp")


class BuildFailed(RuntimeError):
    pass


def source_tarball() -> str:
    """The spandsp 3.0 source tarball: FAXD_SPANDSP3_SOURCE, else shared/vendor/ in a parent directory."""
    given = os.environ.get(SOURCE_ENV)
    if given:
        if not os.path.isfile(given):
            raise BuildFailed(f"{SOURCE_ENV}={given}: no such file")
        return given
    d = ROOT
    while True:
        candidate = os.path.join(d, "shared", "vendor", TARBALL)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(d)
        if parent == d:
            raise BuildFailed(f"{TARBALL} not found in shared/vendor/ beside the repository or above it; "
                              f"set {SOURCE_ENV} to its path")
        d = parent


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(build_dir: str):
    """One build at a time per build directory (parallel test runs and the benchmark share it)."""
    os.makedirs(build_dir, exist_ok=True)
    with open(os.path.join(build_dir, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd, cwd, log, env=None):
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        r = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if r.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise BuildFailed(f"{' '.join(cmd)} failed (exit {r.returncode}); the end of {log}:\n{tail}")


def build_library(build_dir: str = BUILD_DIR, tarball: str | None = None) -> dict:
    """spandsp 3.0 installed under ``build_dir/prefix``: {prefix, seconds (0.0 when reused), log}."""
    tarball = tarball or source_tarball()
    prefix = os.path.join(build_dir, "prefix")
    stamp = os.path.join(build_dir, "prefix.stamp")
    log = os.path.join(build_dir, "build.log")
    with _locked(build_dir):
        digest = f"{_sha256(tarball)} CFLAGS={CFLAGS}"
        if os.path.exists(stamp) and open(stamp).read().strip() == digest and \
                os.path.exists(os.path.join(prefix, "lib", "libspandsp.so")):
            return {"prefix": prefix, "seconds": 0.0, "log": log}
        for name in ("which autoreconf", "which libtoolize", "which make"):
            if shutil.which(name.split()[1]) is None:
                raise BuildFailed(f"{name.split()[1]} not found: make setup installs autoconf, automake, libtool")
        started = time.monotonic()
        src = os.path.join(build_dir, "src")
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(prefix, ignore_errors=True)
        os.makedirs(src)
        with tarfile.open(tarball) as t:
            members = [m for m in t.getmembers() if "/" in m.name]
            for m in members:
                m.name = m.name.split("/", 1)[1]
            t.extractall(src, members=members, filter="tar")
        with open(log, "w") as f:
            f.write(f"spandsp 3.0 from {tarball} (sha256 {digest})\n")
        jobs = str(max(1, os.cpu_count() or 1))
        _run(["./bootstrap.sh"], src, log)
        _run(["./configure", f"--prefix={prefix}", "--disable-static", f"CFLAGS={CFLAGS}"], src, log)
        _run(["make", f"-j{jobs}"], src, log)
        _run(["make", "install"], src, log)
        shutil.rmtree(src, ignore_errors=True)
        with open(stamp, "w") as f:
            f.write(digest + "\n")
        return {"prefix": prefix, "seconds": round(time.monotonic() - started, 1), "log": log}


def _bindings_key(prefix: str) -> str:
    h = hashlib.sha256()
    names = ["_build.py", "helper.c"] + sorted("cdefs/" + n for n in os.listdir(os.path.join(_BINDINGS, "cdefs")))
    for name in names:
        with open(os.path.join(_BINDINGS, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    h.update(prefix.encode() + b"\0" + (sysconfig.get_config_var("EXT_SUFFIX") or "").encode())
    return h.hexdigest()[:16]


def build_extension(prefix: str | None, out_dir: str, *, env: dict | None = None) -> str:
    """Compile faxd's bindings for the spandsp under ``prefix`` (None: the default choice) into
    ``out_dir``, in a child process (its environment: ``env``, e.g. with CPATH); returns the
    module's path, for FAXD_SPANDSP_EXTENSION."""
    os.makedirs(out_dir, exist_ok=True)
    child_env = dict(os.environ if env is None else env)
    child_env.pop("FAXD_SPANDSP_PREFIX", None)
    if prefix:
        child_env["FAXD_SPANDSP_PREFIX"] = prefix
    log = os.path.join(out_dir, "build.log")
    with open(log, "w") as out:
        r = subprocess.run([sys.executable, os.path.join(_BINDINGS, "_build.py"), out_dir], cwd=out_dir,
                           stdout=out, stderr=subprocess.STDOUT, env=child_env)
    with open(log) as f:
        text = f.read()
    if r.returncode != 0:
        errors = [line for line in text.splitlines() if "error:" in line or line.startswith("faxd:")]
        raise BuildFailed(f"building faxd's bindings failed (exit {r.returncode}; log: {log}):\n"
                          + "\n".join(errors[:20] or text.splitlines()[-20:]))
    path = os.path.join(out_dir, "faxd", "spandsp", "_spandsp" + sysconfig.get_config_var("EXT_SUFFIX"))
    if not os.path.isfile(path):
        raise BuildFailed(f"no {path} after the build:\n{text[-2000:]}")
    return path


def extension(build_dir: str = BUILD_DIR) -> dict:
    """spandsp 3.0 and faxd's bindings for it, built or reused:
    {extension, prefix, library_seconds, extension_seconds}."""
    lib = build_library(build_dir)
    key = _bindings_key(lib["prefix"])
    out = os.path.join(build_dir, f"ext-{key}")
    path = os.path.join(out, "faxd", "spandsp", "_spandsp" + sysconfig.get_config_var("EXT_SUFFIX"))
    started = time.monotonic()
    with _locked(build_dir):
        if not os.path.isfile(path):
            tmp = out + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            build_extension(lib["prefix"], tmp)
            for old in os.listdir(build_dir):       # builds of older sources of the bindings
                if old.startswith("ext-") and old != os.path.basename(tmp):
                    shutil.rmtree(os.path.join(build_dir, old), ignore_errors=True)
            os.replace(tmp, out)
            seconds = round(time.monotonic() - started, 1)
        else:
            seconds = 0.0
    return {"extension": path, "prefix": lib["prefix"], "library_seconds": lib["seconds"],
            "extension_seconds": seconds}


def main() -> int:
    try:
        r = extension()
    except BuildFailed as e:
        print(f"faxd: {e}", file=sys.stderr)
        return 1
    print(f"# spandsp 3.0 under {r['prefix']} (library build {r['library_seconds']} s, "
          f"bindings {r['extension_seconds']} s; 0 = reused)", file=sys.stderr)
    print(f"FAXD_SPANDSP_EXTENSION={r['extension']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

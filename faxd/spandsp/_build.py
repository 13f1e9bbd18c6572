"""cffi API-mode builder for faxd's libspandsp bindings.

Compiled when the package is installed (setup.py: ``cffi_modules``). The declarations in
``cdefs/`` are only what faxd calls and are the same for both generations of the library;
``helper.c`` (endpoint state, callback trampolines, the N-block loops, and the few calls whose
form differs between spandsp 0.0.6 and 3.0) is compiled into the same module.

Which library: ``FAXD_SPANDSP_PREFIX`` (the prefix it was installed under: ``/usr`` for
Debian's libspandsp-dev 0.0.6, ``/usr/local`` for FreeSWITCH's spandsp 3.0 built from source,
or a private prefix). Unset, Debian's library under /usr is used when it is installed, and
otherwise whatever pkg-config finds. The include and library directories are always given to the
compiler explicitly, through a directory of links made for this build (see ``include_dir``):
another spandsp's headers earlier in the search path (/usr/local/include, CPATH) cannot change
which one is compiled against.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))
# Declaration files in dependency order; any other .h in cdefs/ follows.
_ORDER = ["t30.h", "t30_logging.h", "fax.h", "faxd_helper.h"]
_SYSTEM_LIB_DIRS = {"/lib", "/usr/lib", "/lib64", "/usr/lib64"}


class BuildError(SystemExit):
    def __init__(self, message):
        super().__init__("faxd: " + message)


def _multiarch():
    return sysconfig.get_config_var("MULTIARCH") or ""


def _pc_dirs(prefix):
    ma = _multiarch()
    dirs = [os.path.join(prefix, d, "pkgconfig") for d in (f"lib/{ma}" if ma else "", "lib", "lib64", "share") if d]
    return [d for d in dirs if os.path.isdir(d)]


def _pkg_config(pc_dirs, *args):
    """pkg-config limited to ``pc_dirs`` (None: its default path); None when it has no answer."""
    if shutil.which("pkg-config") is None:
        return None
    env = dict(os.environ)
    if pc_dirs is not None:
        env["PKG_CONFIG_LIBDIR"] = os.pathsep.join(pc_dirs)
        env.pop("PKG_CONFIG_PATH", None)
    env["PKG_CONFIG_ALLOW_SYSTEM_CFLAGS"] = env["PKG_CONFIG_ALLOW_SYSTEM_LIBS"] = "1"
    r = subprocess.run(["pkg-config", *args, "spandsp"], env=env, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def _find_header(dirs, name):
    for d in dirs:
        if os.path.exists(os.path.join(d, name)):
            return d
    return None


def locate(prefix=None):
    """The spandsp to build against: {prefix, version, generation, header_dir, lib_dir}.

    ``prefix`` None: FAXD_SPANDSP_PREFIX, else Debian's under /usr, else pkg-config's default.
    """
    given = prefix or os.environ.get("FAXD_SPANDSP_PREFIX") or None
    if given:
        prefix = os.path.abspath(given)
        pc_dirs = _pc_dirs(prefix)
        if not os.path.isdir(prefix):
            raise BuildError(f"FAXD_SPANDSP_PREFIX={given}: no such directory")
    elif _pc_dirs("/usr") and _pkg_config(_pc_dirs("/usr"), "--modversion"):
        prefix, pc_dirs = "/usr", _pc_dirs("/usr")
    else:
        found = _pkg_config(None, "--variable=prefix")
        prefix = found or "/usr"
        pc_dirs = None if found else []
    version = _pkg_config(pc_dirs, "--modversion") if pc_dirs != [] else None
    includedir = (_pkg_config(pc_dirs, "--variable=includedir") if version else None) or os.path.join(prefix, "include")
    libdir = (_pkg_config(pc_dirs, "--variable=libdir") if version else None) or os.path.join(prefix, "lib")
    ma = _multiarch()
    inc_dirs = [includedir] + ([os.path.join(includedir, ma)] if ma else [])
    header_dir = _find_header(inc_dirs, "spandsp.h")
    if header_dir is None or not os.path.isdir(os.path.join(includedir, "spandsp")):
        where = f"under {prefix}" if given else "(looked for Debian's under /usr, then asked pkg-config)"
        raise BuildError(f"spandsp.h not found {where}: install the Debian package libspandsp-dev "
                         "(apt-get install libspandsp-dev libtiff-dev), or set FAXD_SPANDSP_PREFIX to "
                         "the prefix spandsp 3.0 was installed under (e.g. /usr/local)")
    if version is None:
        version = _version_from_headers(includedir)
    generation = int(re.match(r"\d*", version).group(0) or 0)
    if generation not in (0, 3):
        raise BuildError(f"spandsp {version} under {prefix}: faxd builds against 0.0.6 (Debian's) or 3.x")
    lib_dirs = [libdir] + ([os.path.join(prefix, "lib", ma)] if ma else []) + [os.path.join(prefix, "lib")]
    lib_dir = next((d for d in lib_dirs if os.path.exists(os.path.join(d, "libspandsp.so"))), None)
    if lib_dir is None:
        raise BuildError(f"libspandsp.so not found in {libdir} (spandsp {version} under {prefix})")
    return {"prefix": prefix, "version": version, "generation": generation,
            "header_dir": header_dir, "spandsp_dir": os.path.join(includedir, "spandsp"), "lib_dir": lib_dir}


def _version_from_headers(includedir):
    """No pkg-config file: 3.0's headers have t85.h, 0.0.6's do not."""
    return "3.0.0" if os.path.exists(os.path.join(includedir, "spandsp", "t85.h")) else "0.0.6"


def _check_tiff():
    ma = _multiarch()
    if not any(os.path.exists(p) for p in ("/usr/include/tiffio.h", f"/usr/include/{ma}/tiffio.h")):
        raise BuildError("tiffio.h not found: install the Debian package libtiff-dev")


def include_dir(found, root):
    """A directory holding only ``spandsp.h`` and ``spandsp/``, linked to the chosen library's.

    ``-I /usr/include`` is ignored by gcc (a system directory keeps its place after
    /usr/local/include and CPATH), so the chosen headers are reached through this directory,
    which comes first.
    """
    key = hashlib.sha256(f"{found['header_dir']}\0{found['spandsp_dir']}".encode()).hexdigest()[:12]
    d = os.path.join(root, f"spandsp-{found['version']}-{key}")
    os.makedirs(d, exist_ok=True)
    for name, target in (("spandsp.h", os.path.join(found["header_dir"], "spandsp.h")),
                         ("spandsp", found["spandsp_dir"])):
        link = os.path.join(d, name)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
    return d


def _read(path):
    with open(path) as f:
        return f.read()


def _read_cdefs():
    cdir = os.path.join(_HERE, "cdefs")
    names = [n for n in _ORDER if os.path.exists(os.path.join(cdir, n))]
    names += sorted(n for n in os.listdir(cdir) if n.endswith(".h") and n not in names)
    return "\n".join(_read(os.path.join(cdir, n)) for n in names)


def _c_string(s):
    return '"' + re.sub(r'["\\]', lambda m: "\\" + m.group(0), s) + '"'


def make_builder(prefix=None, module="faxd.spandsp._spandsp", include_root=None):
    """The FFI builder for the spandsp under ``prefix`` (see :func:`locate`)."""
    _check_tiff()
    found = locate(prefix)
    include_root = include_root or os.path.join(os.getcwd(), "build", "spandsp-include")
    inc = include_dir(found, include_root)
    lib_dir = found["lib_dir"]
    system_lib = lib_dir in _SYSTEM_LIB_DIRS or lib_dir.startswith(("/usr/lib/", "/lib/"))
    ffi = FFI()
    ffi.cdef(_read_cdefs())
    ffi.set_source(
        module,
        "#include <spandsp.h>\n#include <spandsp/version.h>\n" + _read(os.path.join(_HERE, "helper.c")),
        include_dirs=[inc],
        library_dirs=[lib_dir],
        runtime_library_dirs=[] if system_lib else [lib_dir],
        libraries=["spandsp", "tiff"],
        define_macros=[("FAXD_SPANDSP_GENERATION", str(found["generation"])),
                       ("FAXD_SPANDSP_VERSION", _c_string(found["version"])),
                       ("FAXD_SPANDSP_PREFIX", _c_string(found["prefix"]))],
        extra_compile_args=["-O2"],
    )
    ffi.faxd_spandsp = found
    return ffi


ffibuilder = make_builder()

if __name__ == "__main__":
    # python faxd/spandsp/_build.py [OUTDIR]: an in-place build into OUTDIR (default: here).
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    print(ffibuilder.faxd_spandsp, file=sys.stderr)
    ffibuilder.compile(tmpdir=out, verbose=True)

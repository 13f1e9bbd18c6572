"""cffi API-mode builder for faxd's libspandsp bindings.

Compiled when the package is installed (setup.py: ``cffi_modules``). The declarations in
``cdefs/`` are only what faxd calls; ``helper.c`` (endpoint state, callback trampolines,
the N-block loops) is compiled into the same module.
"""
import os

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))
# Declaration files in dependency order; any other .h in cdefs/ follows.
_ORDER = ["t30.h", "t30_logging.h", "fax.h", "faxd_helper.h"]


def _check_headers():
    candidates = ["/usr/include/spandsp.h", "/usr/include/x86_64-linux-gnu/spandsp.h",
                  "/usr/include/aarch64-linux-gnu/spandsp.h", "/usr/local/include/spandsp.h"]
    if not any(os.path.exists(p) for p in candidates):
        raise SystemExit("faxd: spandsp.h not found: install the Debian package libspandsp-dev "
                         "(apt-get install libspandsp-dev libtiff-dev)")
    if not any(os.path.exists(p) for p in ("/usr/include/tiffio.h", "/usr/include/x86_64-linux-gnu/tiffio.h",
                                           "/usr/include/aarch64-linux-gnu/tiffio.h")):
        raise SystemExit("faxd: tiffio.h not found: install the Debian package libtiff-dev")


def _read(path):
    with open(path) as f:
        return f.read()


def _read_cdefs():
    cdir = os.path.join(_HERE, "cdefs")
    names = [n for n in _ORDER if os.path.exists(os.path.join(cdir, n))]
    names += sorted(n for n in os.listdir(cdir) if n.endswith(".h") and n not in names)
    return "\n".join(_read(os.path.join(cdir, n)) for n in names)


_check_headers()
ffibuilder = FFI()
ffibuilder.cdef(_read_cdefs())
ffibuilder.set_source(
    "faxd.spandsp._spandsp",
    "#include <spandsp.h>\n" + _read(os.path.join(_HERE, "helper.c")),
    libraries=["spandsp", "tiff"],
    extra_compile_args=["-O2"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

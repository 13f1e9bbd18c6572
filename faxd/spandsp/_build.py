"""cffi API-mode builder for faxd's libspandsp bindings."""
import os
import sys

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))


def _check_headers():
    candidates = ["/usr/include/spandsp.h", "/usr/include/x86_64-linux-gnu/spandsp.h",
                  "/usr/include/aarch64-linux-gnu/spandsp.h"]
    if not any(os.path.exists(p) for p in candidates):
        sys.stderr.write("faxd: spandsp.h not found: apt-get install libspandsp-dev\n")


def _read_cdefs():
    parts = []
    for name in sorted(os.listdir(os.path.join(_HERE, "cdefs"))):
        if name.endswith(".h"):
            with open(os.path.join(_HERE, "cdefs", name)) as f:
                parts.append(f.read())
    return "\n".join(parts)


_check_headers()
ffibuilder = FFI()
ffibuilder.cdef(_read_cdefs())
ffibuilder.set_source(
    "faxd.spandsp._spandsp",
    "#include <spandsp.h>\n",
    libraries=["spandsp", "tiff"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

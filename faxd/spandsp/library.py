"""Which spandsp faxd runs on: the compiled bindings in use and the library they loaded.

The bindings are compiled against one generation of libspandsp, chosen when faxd is installed
(``FAXD_SPANDSP_PREFIX``, see ``_build.py``). ``FAXD_SPANDSP_EXTENSION=/path/to/_spandsp...so``
makes a process use another build of the same bindings instead of the installed one, e.g.
one compiled against spandsp 3.0 in a private prefix (the test suite runs the spandsp tests
on both generations this way). It must be set before ``faxd.spandsp`` is first imported.
"""
from __future__ import annotations

import importlib.util
import os
import sys

EXTENSION_ENV = "FAXD_SPANDSP_EXTENSION"
_MODULE = "faxd.spandsp._spandsp"


def load_override() -> None:
    """Put the build named by FAXD_SPANDSP_EXTENSION in place of the installed module."""
    path = os.environ.get(EXTENSION_ENV)
    if not path or _MODULE in sys.modules:
        return
    if not os.path.isfile(path):
        raise ImportError(f"{EXTENSION_ENV}={path}: no such file (build it with "
                          "python faxd/spandsp/_build.py OUTDIR)")
    spec = importlib.util.spec_from_file_location(_MODULE, path)
    if spec is None:
        raise ImportError(f"{EXTENSION_ENV}={path}: not a Python extension module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[_MODULE] = module


def generation() -> int:
    """0 for spandsp 0.0.6, 3 for 3.x: the generation the bindings in use were compiled against."""
    from faxd.spandsp._spandsp import ffi, lib
    i = ffi.new("faxd_spandsp_info_t *")
    lib.faxd_spandsp_info(i)
    return int(i.generation)


def info() -> dict:
    """The spandsp in use: version, generation (0 for 0.0.6, 3 for 3.x), the prefix and header
    release it was compiled against, and the file the dynamic linker loaded."""
    from faxd.spandsp._spandsp import ffi, lib
    i = ffi.new("faxd_spandsp_info_t *")
    lib.faxd_spandsp_info(i)
    loaded = lib.faxd_spandsp_library()
    library = os.path.realpath(ffi.string(loaded).decode()) if loaded != ffi.NULL else ""
    return {
        "version": ffi.string(i.version).decode(),
        "generation": int(i.generation),
        "release": ffi.string(i.release).decode(),
        "prefix": ffi.string(i.prefix).decode(),
        "library": library,
        "bindings": os.path.realpath(sys.modules[_MODULE].__file__),
    }

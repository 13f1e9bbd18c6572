"""Run the benchmarks: ``python -m bench`` (all) or ``python -m bench NAME [args]``."""
from faxd.green import patch

patch()

import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def _names() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    return sorted(f[6:-3] for f in os.listdir(here) if f.startswith("bench_") and f.endswith(".py"))


def main(argv: list[str]) -> int:
    names = _names()
    if argv and argv[0] in ("-h", "--help"):
        print("usage: python -m bench [NAME [ARGS...]]\nbenchmarks: " + ", ".join(names))
        return 0
    if argv:
        return importlib.import_module(f"bench.bench_{argv[0]}").main(argv[1:]) or 0
    rc = 0
    for name in names:
        print(f"=== bench {name}", flush=True)
        rc |= importlib.import_module(f"bench.bench_{name}").main([]) or 0
    return rc


raise SystemExit(main(sys.argv[1:]))

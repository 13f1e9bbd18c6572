"""Package attributes imported on first use (PEP 562).

A command that only parses its arguments (``faxd --help``, ``faxd convert --help``) imports
the packages that define those arguments; their heavy modules (pikepdf, Pillow, the compiled
spandsp library) load only when a name from them is first used.
"""
from __future__ import annotations

import importlib
from typing import Callable


def attributes(package: str, names: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` giving ``names`` (attribute -> module) from their modules."""
    def __getattr__(name: str):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value
    return __getattr__

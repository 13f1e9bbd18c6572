"""Named SQL queries, read from ``queries/*.sql``.

Format (procrastinate's): a line ``-- name --``, optional ``-- comment`` lines, then the
statement, up to the next name line. One query per store method, same name.
"""
from __future__ import annotations

import os
import re

_NAME = re.compile(r"^-- ([a-z_][a-z0-9_]*) --\s*$")
_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries")


def parse(text: str, origin: str = "<string>") -> dict[str, str]:
    queries: dict[str, str] = {}
    name = None
    lines: list[str] = []

    def flush():
        if name is not None:
            sql = "\n".join(l for l in lines if not l.lstrip().startswith("--")).strip()
            if not sql:
                raise ValueError(f"{origin}: query {name} is empty")
            queries[name] = sql

    for line in text.splitlines():
        m = _NAME.match(line)
        if m:
            flush()
            name, lines = m.group(1), []
            if name in queries:
                raise ValueError(f"{origin}: query {name} defined twice")
        elif name is not None:
            lines.append(line)
    flush()
    return queries


def load(directory: str = _DIR) -> dict[str, str]:
    queries: dict[str, str] = {}
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".sql"):
            continue
        with open(os.path.join(directory, fname)) as f:
            for name, sql in parse(f.read(), fname).items():
                if name in queries:
                    raise ValueError(f"{fname}: query {name} is defined in two files")
                queries[name] = sql
    return queries

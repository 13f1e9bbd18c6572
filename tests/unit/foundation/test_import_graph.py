"""faxd's modules import each other without a circle, and no import inside a function hides one.

The imports are read from the source (ast), not by importing: every ``import`` and ``from ...
import`` of a faxd module, at module level or inside a function or method, plus the modules
named as strings where a module imports by name (``importlib.import_module``, the lazy
attributes of :mod:`faxd.lazy`). ``from pkg import name`` counts as an import of the module
``pkg.name`` when there is one, else of ``pkg``. Imports under ``if TYPE_CHECKING:`` never run
and are left out; so is the package ``__init__`` Python runs before a submodule (importing
``faxd.store.listing`` does not make ``faxd.store.listing`` depend on ``faxd/store/__init__.py``).
"""
from __future__ import annotations

import ast
import collections
import functools
from dataclasses import dataclass
from pathlib import Path

import faxd

ROOT = Path(faxd.__file__).resolve().parent

# The modules (or packages: a key covers the modules below it) that import inside functions,
# and why. An import inside a function is for start-up time (a command's parser is imported by
# ``faxd --help``; a package attribute is loaded on first use) or for a dependency only one
# path needs; never to hide a circle (the tests below fail on one). A module not covered here
# imports at module level.
LOCAL_IMPORTS = {
    "faxd.cli": "faxd --help imports the parsers only; a command imports what it runs, after "
                "gevent's monkey-patching",
    "faxd.backup": "a plugged command, imported by faxd --help for its parser",
    "faxd.dbshell": "a plugged command, imported by faxd --help for its parser",
    "faxd.keys": "a plugged command, imported by faxd --help for its parser",
    "faxd.send": "a plugged command, imported by faxd --help for its parser: the HTTP client loads in main",
    "faxd.top": "a plugged command, imported by faxd --help for its parser: the HTTP client loads in main",
    "faxd.documents": "lazy package attributes (faxd.lazy): Pillow and pikepdf load on first use",
    "faxd.documents.cli": "a plugged command, imported by faxd --help for its parser",
    "faxd.smtp.cli": "a plugged command, imported by faxd --help for its parser",
    "faxd.spandsp": "lazy package attributes (faxd.lazy): the compiled library loads on first use",
    "faxd.spandsp.cli": "a plugged command, imported by faxd --help for its parser",
    "faxd.config": "phonenumbers (faxd.policy) loads only when number types are configured",
    "faxd.fanout": "the fan-out process's main() monkey-patches gevent before it imports the store",
    "faxd.switch.software": "its __main__ alone reads a Config",
    "faxd.testing": "the emulators' fax paths load the compiled spandsp library, their wire "
                    "protocols do not; a script's main() monkey-patches gevent first",
}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    function: str | None    # the enclosing function, None at module level
    dynamic: bool = False   # named as a string

    def __str__(self) -> str:
        where = f"{_path(self.source)}:{self.line}"
        if self.dynamic:
            return f"{self.source} -> {self.target} (by name, {where})"
        if self.function:
            return f"{self.source} -> {self.target} (inside {self.function}(), {where})"
        return f"{self.source} -> {self.target} ({where})"

    @property
    def local(self) -> bool:
        return self.dynamic or self.function is not None


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _path(module: str) -> str:
    return _MODULES[module].relative_to(ROOT.parent).as_posix()


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


_MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports_of(module: str, path: Path) -> list[Import]:
    source = path.read_text()
    tree = ast.parse(source, str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    by_name = "import_module" in source or "lazy.attributes" in source
    found: list[Import] = []

    def add(target: str | None, node: ast.AST, function: str | None, dynamic: bool = False) -> None:
        if target is not None and target != module:
            found.append(Import(module, target, node.lineno, function, dynamic))

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, function)
                continue
            inner = function
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                name = getattr(child, "name", "<lambda>")
                inner = f"{function}.{name}" if function else name
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name if alias.name in _MODULES else None, child, function)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[:len(package.split(".")) - (child.level - 1)]
                    base = ".".join(anchor + ([child.module] if child.module else []))
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    add(full if full in _MODULES else (base if base in _MODULES else None), child, function)
            elif (by_name and isinstance(child, ast.Constant) and isinstance(child.value, str)
                  and child.value.startswith("faxd.") and child.value in _MODULES):
                add(child.value, child, function, dynamic=True)
            visit(child, inner)

    visit(tree, None)
    return found


@functools.lru_cache(maxsize=None)
def _graph() -> tuple[Import, ...]:
    return tuple(imp for module, path in _MODULES.items() for imp in _imports_of(module, path))


def _path_between(edges: dict[str, list[Import]], start: str, goal: str) -> list[Import] | None:
    """The shortest chain of imports from ``start`` to ``goal`` (breadth first), or None."""
    came: dict[str, Import | None] = {start: None}
    queue = collections.deque([start])
    while queue:
        here = queue.popleft()
        for imp in edges.get(here, ()):
            if imp.target in came:
                continue
            came[imp.target] = imp
            if imp.target == goal:
                chain = []
                node = goal
                while came[node] is not None:
                    chain.append(came[node])
                    node = came[node].source
                return chain[::-1]
            queue.append(imp.target)
    return None


def _reach(edges: dict[str, list[str]], start: str) -> set[str]:
    seen, queue = {start}, collections.deque([start])
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _cycles(imports) -> list[tuple[list[Import], set[str]]]:
    """For each group of modules that import each other round (a strongly connected
    component), one shortest cycle through it and the group's modules."""
    edges: dict[str, list[Import]] = collections.defaultdict(list)
    forward: dict[str, list[str]] = collections.defaultdict(list)
    backward: dict[str, list[str]] = collections.defaultdict(list)
    for imp in imports:
        edges[imp.source].append(imp)
        forward[imp.source].append(imp.target)
        backward[imp.target].append(imp.source)
    found, covered = [], set()
    for module in sorted(edges):
        if module in covered:
            continue
        group = _reach(forward, module) & _reach(backward, module)
        if len(group) == 1:
            continue
        covered |= group
        cycle = min((([imp] + back) for imp in edges[module] if imp.target in group
                     for back in [_path_between(edges, imp.target, module)] if back is not None), key=len)
        found.append((cycle, group))
    return found


def _show(found: tuple[list[Import], set[str]], imports) -> str:
    cycle, group = found
    inside = [str(i) for i in imports if i.local and i.source in group and i.target in group]
    lines = [f"a cycle among {len(group)} modules ({', '.join(sorted(group))}), for one:"]
    lines += [str(imp) for imp in cycle]
    if inside:
        lines += ["the imports inside functions (or by name) within them:"] + inside
    return "\n    ".join(lines)


def test_the_walk_sees_the_imports_it_is_to_check():
    """A walk that reads nothing would pass every test below."""
    imports = _graph()
    targets = {(i.source, i.target) for i in imports}
    assert ("faxd.daemon", "faxd.service") in targets
    assert ("faxd.store.postgres", "faxd.store.db") in targets
    assert ("faxd.api.app", "faxd.api.resources.outbox") in targets
    assert any(i.source == "faxd.cli" and i.target == "faxd.daemon" and i.function == "main" for i in imports)
    assert any(i.source == "faxd.cli" and i.target == "faxd.backup" and i.dynamic for i in imports)
    assert any(i.source == "faxd.spandsp" and i.target == "faxd.spandsp.stats" and i.dynamic for i in imports)
    assert len(_MODULES) > 100 and "faxd.api.resources.base" in _MODULES


def test_the_cycle_finder_finds_a_cycle_through_a_function_local_import():
    imports = [Import("faxd.a", "faxd.b", 1, None), Import("faxd.b", "faxd.c", 2, None),
               Import("faxd.c", "faxd.a", 3, "late"), Import("faxd.c", "faxd.d", 4, None)]
    ((cycle, group),) = _cycles(imports)
    assert [i.source for i in cycle] == ["faxd.a", "faxd.b", "faxd.c"] and group == {"faxd.a", "faxd.b", "faxd.c"}
    assert _cycles(imports[:2] + imports[3:]) == []


def test_module_level_imports_form_no_cycle():
    imports = [i for i in _graph() if not i.local]
    cycles = _cycles(imports)
    assert not cycles, "import cycles among module-level imports:\n" + "\n".join(_show(c, imports) for c in cycles)


def test_no_import_inside_a_function_closes_a_cycle():
    """With every import counted (inside functions and by name too), the graph has no cycle:
    so no import inside a function exists to hide one."""
    imports = _graph()
    cycles = _cycles(imports)
    assert not cycles, ("an import inside a function (or by name) closes a cycle; import at module "
                        "level and break the cycle instead:\n" + "\n".join(_show(c, imports) for c in cycles))


def test_imports_inside_functions_are_where_they_have_a_reason():
    unlisted = collections.defaultdict(list)
    for imp in _graph():
        if imp.local and not _within(imp.source, tuple(LOCAL_IMPORTS)):
            unlisted[imp.source].append(str(imp))
    assert not unlisted, ("imports inside functions in modules that have no reason for them in "
                          "LOCAL_IMPORTS (import at module level, or give the reason):\n    "
                          + "\n    ".join(i for found in unlisted.values() for i in found))


FLOWS = ("faxd.outbound", "faxd.inbound", "faxd.smtp", "faxd.notify", "faxd.api", "faxd.daemon", "faxd.cli")
SEAMS = ("faxd.store", "faxd.switch", "faxd.documents", "faxd.spandsp", "faxd.service")


def test_the_seams_depend_on_no_flow():
    """The store, the switch backends, the document pipeline and the lifecycle module know
    nothing of the flows over them: a flow passes what they need, or the shared facts live in
    a neutral module (faxd.notification_plan, faxd.passwords)."""
    wrong = [str(i) for i in _graph() if _within(i.source, SEAMS) and _within(i.target, FLOWS)]
    assert not wrong, "a seam imports a flow:\n    " + "\n    ".join(wrong)

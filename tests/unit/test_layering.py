"""The package docstrings say what each package must not import; these checks keep them true.

Every import counts: at the top, inside functions and under TYPE_CHECKING. `core/ruff.toml`
bans the same upward imports for the core at lint time; this also checks the whitelist (the
core imports nothing but itself and the standard library) and the rules between the other
packages.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file; relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_of(path) if path.name == "__init__.py" else _module_of(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found.append((node.lineno, base))
            # `from dnsfilter.core import engine` imports the module dnsfilter.core.engine
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names
                      if (REPO / (base + "." + a.name).replace(".", "/")).with_suffix(".py").exists()
                      or (REPO / (base + "." + a.name).replace(".", "/")).is_dir()]
    return found


def _files(package: str) -> list[Path]:
    return sorted((REPO / package.replace(".", "/")).rglob("*.py"))


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_core_imports_only_itself_and_the_standard_library() -> None:
    bad = []
    for f in _files("dnsfilter.core"):
        for line, mod in _imports(f):
            top = mod.split(".")[0]
            if top in sys.stdlib_module_names or _under(mod, "dnsfilter.core"):
                continue
            bad.append(f"{f.relative_to(REPO)}:{line}: {mod}")
    assert not bad, "the core is sans-IO and imports nothing above it:\n" + "\n".join(bad)


# (package, modules it must not import): what each package's docstring promises
RULES = [
    ("dnsfilter.core.dns", ["dnsfilter.core.policy", "dnsfilter.core.household", "dnsfilter.core.stages",
                            "dnsfilter.core.engine", "dnsfilter.core.fastpath", "dnsfilter.core.querylog"]),
    ("dnsfilter.core.policy", ["dnsfilter.core.household", "dnsfilter.core.stages", "dnsfilter.core.engine"]),
    ("dnsfilter.core.household", ["dnsfilter.core.engine"]),
    ("dnsfilter.core.stages", ["dnsfilter.core.engine"]),
    ("dnsfilter.config", ["dnsfilter.shell", "dnsfilter.storage", "dnsfilter.router", "webui"]),
    ("dnsfilter.storage", ["dnsfilter.shell", "dnsfilter.router", "webui"]),
    ("dnsfilter.router", ["dnsfilter.shell", "webui"]),
    ("dnsfilter.authority", ["dnsfilter.shell", "webui"]),
    ("dnsfilter.portal", ["dnsfilter.shell", "dnsfilter.router", "webui"]),
    ("dnsfilter.notify", ["dnsfilter.shell", "dnsfilter.router", "webui"]),
    ("dnsfilter.shell.lan", ["dnsfilter.shell.server", "dnsfilter.shell.daemon", "dnsfilter.shell.workers"]),
    ("dnsfilter.shell.upstream", ["dnsfilter.shell.server", "dnsfilter.shell.daemon", "dnsfilter.shell.workers"]),
    ("dnsfilter", ["webui"]),
    ("feeds", ["dnsfilter.shell", "dnsfilter.storage", "webui"]),
]


@pytest.mark.parametrize(("package", "banned"), RULES, ids=[r[0] for r in RULES])
def test_no_package_imports_what_its_docstring_forbids(package: str, banned: list[str]) -> None:
    bad = []
    for f in _files(package):
        if package == "dnsfilter" and f.name == "webproc.py":
            continue  # starts the UI's process by module name; it imports nothing of webui
        for line, mod in _imports(f):
            if any(_under(mod, b) for b in banned):
                bad.append(f"{f.relative_to(REPO)}:{line}: {mod}")
    assert not bad, f"{package} must not import {', '.join(banned)}:\n" + "\n".join(bad)


def test_every_package_says_what_it_holds() -> None:
    missing = [str(p.relative_to(REPO)) for top in ("dnsfilter", "feeds", "webui")
               for p in sorted((REPO / top).rglob("__init__.py"))
               if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert not missing, "packages without a docstring: " + ", ".join(missing)


def test_no_import_circles() -> None:
    graph: dict[str, set[str]] = {}
    for top in ("dnsfilter", "feeds", "webui"):
        for f in _files(top):
            me = _module_of(f)
            graph[me] = {m for _l, m in _imports(f) if m.split(".")[0] in ("dnsfilter", "feeds", "webui")
                         and m != me and not me.startswith(m + ".")}  # a package's own __init__ is no circle
    circles = []
    for a, deps in graph.items():
        for b in deps:
            if b in graph and a in graph[b] and a < b:
                circles.append(f"{a} <-> {b}")
    assert not circles, "modules that import each other: " + ", ".join(circles)

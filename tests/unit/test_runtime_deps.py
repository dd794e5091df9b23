"""What the installed program needs at run time, and what only the tests need. dnslib is an
oracle for the tests (an independent DNS codec) and the bench's baseline: nothing under
dnsfilter/, feeds/ or webui/ may import it, so the packages leave it out (flash is scarce on a
router) and pyproject.toml keeps it in the dev extras."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib

from tests.support.paths import REPO

PACKAGES = ("dnsfilter", "feeds", "webui")
TEST_ONLY = ("dnslib", "dnspython", "pyroute2")


def _imports(path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_no_run_time_module_imports_a_test_only_package():
    found = {(str(p.relative_to(REPO)), name) for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
             for name in _imports(p) if name in ("dnslib", "dns", "pyroute2")}
    assert not found


def test_every_module_imports_without_dnslib():
    """Import them all with dnslib made unimportable (a lazy import inside a function is what the
    scan above is for)."""
    code = ("import importlib, pkgutil, sys\n"
            "sys.modules['dnslib'] = None  # import dnslib now raises ImportError\n"
            f"for top in {PACKAGES!r}:\n"
            "    pkg = importlib.import_module(top)\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, top + '.'):\n"
            "        if not m.name.endswith('__main__'):  # that one runs the CLI\n"
            "            importlib.import_module(m.name)\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_pyproject_keeps_test_oracles_in_the_dev_extras():
    with (REPO / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    runtime = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in project["dependencies"]}
    dev = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in project["optional-dependencies"]["dev"]}
    assert not runtime & set(TEST_ONLY)
    assert {"dnslib", "dnspython", "pyroute2"} <= dev

"""What the installed program needs at run time, and what only the tests need. dnslib is an
oracle for the tests (an independent DNS codec) and the bench's baseline: nothing under
dnsfilter/, feeds/ or webui/ may import it, so the packages leave it out (flash is scarce on a
router) and pyproject.toml keeps it in the dev extras. dnspython is a run-time dependency of the
commands that speak DNS as a client (`authority selftest`; zone transfers run in the sync child),
imported only by those modules, never by the resident daemon at start: the one exception is the
TSIG check of a signed NOTIFY (dnsfilter/shell/notify_tsig.py), imported when the first one
arrives (docs/rpz.md, "Memory")."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib

from tests.support.paths import REPO

PACKAGES = ("dnsfilter", "feeds", "webui")
TEST_ONLY = ("dnslib", "pyroute2")
# the only places that may import dnspython (`dns`): DNS clients run as commands or in the sync child
DNSPYTHON_USERS = ("dnsfilter/authority/", "feeds/", "dnsfilter/shell/notify_tsig.py")


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
             for name in _imports(p) if name in ("dnslib", "pyroute2")
             or (name == "dns" and not str(p.relative_to(REPO)).startswith(DNSPYTHON_USERS))}
    assert not found


def test_the_daemon_does_not_load_dnspython():
    """The resident daemon's modules (serve: config, engine, server, upstream pool, web UI
    launcher) leave dnspython out of memory on a router."""
    code = ("import sys\n"
            "import dnsfilter.cli, dnsfilter.cli_serve, dnsfilter.shell.daemon, dnsfilter.shell.workers, dnsfilter.assemble\n"
            "print(sorted(m for m in sys.modules if m == 'dns' or m.startswith('dns.')))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_the_daemon_does_not_load_the_feed_fetcher_or_compiler():
    """Feed syncs run in a child process: the daemon maps compiled sets and reads statuses
    (feeds/files.py) and schedules syncs (feeds/schedule.py), and leaves the fetcher, the
    compiler and its format parsers out of its memory (docs/deploy.md, issue 17). The web UI
    reads statuses the same way."""
    code = ("import sys\n"
            "import dnsfilter.cli, dnsfilter.shell.daemon, dnsfilter.shell.workers, dnsfilter.assemble\n"
            "import dnsfilter.shell.feedsync, dnsfilter.shell.authority, dnsfilter.shell.lists, feeds.schedule\n"
            "import webui.feedsui\n"
            "heavy = ('feeds.sync', 'feeds.compile_rules', 'feeds.formats', 'feeds.sources', 'idna')\n"
            "print(sorted(m for m in sys.modules if m in heavy))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


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
    assert {"dnslib", "pyroute2"} <= dev

"""The compiled query path (dnsfilter/native.py, scripts/build_native.py): loaded when current,
never when stale, and the same answers as the interpreted modules where mypyc's runtime differs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dnsfilter import native
from dnsfilter.core.dns import wire
from dnsfilter.core.engine import Engine
from dnsfilter.core.policy.matcher import Keys

ROOT = Path(__file__).resolve().parents[2]


def test_make_test_runs_the_compiled_modules() -> None:
    """`make test` sets DNSFILTER_EXPECT_NATIVE: a silent fallback to .py would test the wrong code."""
    if not os.environ.get("DNSFILTER_EXPECT_NATIVE"):
        pytest.skip("DNSFILTER_EXPECT_NATIVE is not set (make test sets it after make native)")
    assert native.compiled(), native.describe()
    assert native.loaded() and not str(sys.modules[Engine.__module__].__file__).endswith(".py")


def test_the_mode_in_use_is_the_one_described() -> None:
    assert native.loaded() == native.compiled()
    assert native.describe().startswith("compiled with mypyc" if native.compiled() else "pure Python (")


def test_a_slice_that_ends_before_it_starts_is_empty_as_in_python() -> None:
    """mypyc 2.4's runtime raises SystemError here; build_native.py mends it before compiling."""
    assert Keys(b"\x00").dotted == ""  # the root: wire[1:-1] of one octet
    assert wire.wire_to_text(b"\x00") == ""


def _copy(tmp: Path) -> Path:
    for m in native.MODULES:
        src = native._source(m)
        dst = tmp / src.relative_to(native.PACKAGE_ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return tmp


def test_a_build_older_than_its_sources_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DNSFILTER_PURE", raising=False)
    root = _copy(tmp_path)
    stamp = tmp_path / "native.json"
    assert native.why_pure(stamp, root) == "not compiled (make native)"
    stamp.write_text(json.dumps({m: native._digest(native._source(m, root).read_bytes()) for m in native.MODULES}))
    assert native.why_pure(stamp, root) is None
    engine = native._source("dnsfilter.core.engine", root)
    engine.write_text(engine.read_text() + "\n# an edit after the build\n")
    assert native.why_pure(stamp, root) == "dnsfilter.core.engine changed since it was compiled (make native)"
    stamp.write_text(json.dumps({"dnsfilter.core.engine": "x"}))
    assert native.why_pure(stamp, root) == "compiled for another module list (make native)"
    stamp.write_text("{")
    assert native.why_pure(stamp, root).startswith("native.json unreadable")
    monkeypatch.setenv("DNSFILTER_PURE", "1")
    assert native.why_pure(stamp, root) == "DNSFILTER_PURE is set"


def test_dnsfilter_pure_imports_every_listed_module_from_its_py_file() -> None:
    code = ("import importlib, dnsfilter.native as n\n"
            "mods = [importlib.import_module(m) for m in n.MODULES]\n"
            "print(n.compiled(), n.loaded(), all(m.__file__.endswith('.py') for m in mods))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DNSFILTER_PURE": "1"}, check=True).stdout.split()
    assert out == ["False", "False", "True"]


def test_importing_dnsfilter_alone_neither_checks_nor_loads_the_build() -> None:
    """`import dnsfilter` (the web UI's process imports no listed module) reads no source and
    leaves the build's library unmapped: the check waits for the first listed import."""
    code = ("import sys, dnsfilter.native as n\n"
            "print(n._reason == n._UNDECIDED, n.LIBRARY in sys.modules, [m for m in n.MODULES if m in sys.modules])\n"
            "import dnsfilter.core.engine\n"
            "print(n._reason == n._UNDECIDED, (n.LIBRARY in sys.modules) == n.compiled())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True).stdout.split("\n")
    assert out[0] == "True False []"
    assert out[1] == "False True"


def test_a_wheel_of_a_built_checkout_carries_the_build() -> None:
    """deploy/debian/install.sh installs a wheel of the checkout: pyproject's package-data must
    take every file the build wrote (a module compiled but missing from the wheel would make the
    installed daemon fall back to .py files, or fail to load the library)."""
    import fnmatch
    import tomllib

    built = sorted(p.relative_to(ROOT / "dnsfilter").as_posix() for p in (ROOT / "dnsfilter").rglob("*.so"))
    if not built:
        pytest.skip("not compiled here (make native)")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dnsfilter"]
    for name in [*built, "native.json"]:
        # setuptools' globs: `*` does not cross a folder
        assert any(fnmatch.fnmatch(name, g) and name.count("/") == g.count("/") for g in patterns), name

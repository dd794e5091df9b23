#!/usr/bin/env python3
"""Compile the query path with mypyc, next to its sources (`make native`, run by `make run` and
`make test`).

The modules in `dnsfilter/native.py`'s MODULES are plain, type-hinted Python; mypyc (part of
mypy) turns them into C extensions that CPython imports in place of the .py files. Nothing else
changes: the same files run interpreted where no compiler is at hand (the OpenWrt package ships
them so), and `dnsfilter/native.py` falls back to them when the build is missing or older than
its sources.

mypyc 2.4's runtime gets one case of bytes slicing wrong: `b[i:j]` with i > j (after clamping)
asks CPython for a bytes object of negative size and raises SystemError where Python gives b"".
A hostile packet can make such a slice, so this build has mypyc copy its runtime files into the
build directory (include_runtime_files=False) and clamps that length there before compiling. The build
fails if the line is no longer there to mend; tests/unit/test_native.py checks the result.

    build_native.py              # build in place, write dnsfilter/native.json
    build_native.py --if-stale   # only when the build is missing or older than its sources
    build_native.py --clean      # remove what a build left (the .so files and native.json)

Without a C compiler or Python's headers the build fails: `--if-stale --optional` (make run)
then says so and the daemon runs the same modules interpreted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "native"
SLICE_BUG = "Py_ssize_t slice_len = endn - startn;"
SLICE_FIX = "Py_ssize_t slice_len = endn > startn ? endn - startn : 0;  /* dnsfilter: as CPython */"


def _native() -> ModuleType:
    """dnsfilter/native.py: the module list, the library's name and how sources are stamped."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from dnsfilter import native

    return native


def clean() -> None:
    for p in (ROOT / "dnsfilter").rglob("*.so"):
        p.unlink()
    (ROOT / "dnsfilter" / "native.json").unlink(missing_ok=True)


def build() -> None:
    from mypyc.build import mypycify  # a dev dependency (mypy): only the build needs it
    from setuptools import setup

    native = _native()
    modules = native.MODULES
    clean()
    os.chdir(ROOT)  # mypycify takes paths relative to the package root
    BUILD.mkdir(parents=True, exist_ok=True)
    exts = mypycify([str(native._source(m).relative_to(ROOT)) for m in modules], opt_level="3",
                    include_runtime_files=False, target_dir=str(BUILD),
                    group_name=native.LIBRARY.removesuffix("__mypyc"))
    mended = 0
    for c in BUILD.rglob("bytes_ops.c"):
        text = c.read_text()
        if SLICE_BUG in text:
            c.write_text(text.replace(SLICE_BUG, SLICE_FIX))
            mended += 1
    if not mended:
        sys.exit("build_native: mypyc's bytes slice is not where this build expects it; check "
                 "CPyBytes_GetSlice in its bytes_ops.c and update scripts/build_native.py")
    setup(name="dnsfilter-native", ext_modules=exts, script_args=["-q", "build_ext", "--inplace"])
    # what the extensions were built from: dnsfilter/native.py loads them only while it matches
    stamp = {m: native._digest(native._source(m).read_bytes()) for m in modules}
    (ROOT / "dnsfilter" / "native.json").write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    print(f"build_native: {len(modules)} modules compiled with mypyc")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clean", action="store_true")
    ap.add_argument("--if-stale", action="store_true")
    ap.add_argument("--optional", action="store_true", help="a failed build is a warning, not an error")
    args = ap.parse_args()
    if args.clean:
        clean()
        return
    if args.if_stale:
        os.environ.pop("DNSFILTER_PURE", None)
        if _native().why_pure() is None:
            return
    try:
        build()
    except (SystemExit, Exception) as e:  # compiler missing, headers missing, a mypyc error
        if not args.optional:
            raise
        clean()
        print(f"build_native: not compiled ({e}); the query path runs as plain Python", file=sys.stderr)


if __name__ == "__main__":
    main()

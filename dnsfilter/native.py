"""The compiled query path: which modules `make native` compiles with mypyc, and the import hook
that keeps a missing or stale build out.

The modules below are ordinary Python. Compiled (scripts/build_native.py), CPython imports the
C extension in place of the .py file, and they run about 1.5-2x faster. `native.json`, written by
the build, holds each source's length and CRC-32: when any of them changed since, or the build is absent,
or DNSFILTER_PURE is set, every module of the list is imported from its .py file instead, so an
edit is never shadowed by an older build. All or none: compiled modules call each other
directly, so a compiled caller would keep using a stale callee.

The check runs at the first import of a listed module, not at `import dnsfilter`: the web UI,
the CLI and the feed-sync child import none of them, and neither read the sources nor map the
build's library.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# The hot path: the packet codec, the engine's stages and tables, the policy, the query log's
# rings, the UDP shell and the upstream sockets. Not here: the query log's writer side
# (core/logbatch.py, core/metrics.py) and anything off the query path.
MODULES: tuple[str, ...] = (
    "dnsfilter.core.dns.codec",
    "dnsfilter.core.dns.pointers",
    "dnsfilter.core.dns.question",
    "dnsfilter.core.dns.scrub",
    "dnsfilter.core.dns.wire",
    "dnsfilter.core.cache",
    "dnsfilter.core.doorkeeper",
    "dnsfilter.core.household.seen",
    "dnsfilter.core.engine",
    "dnsfilter.core.fastpath",
    "dnsfilter.core.logring",
    "dnsfilter.core.model",
    "dnsfilter.core.querylog",
    "dnsfilter.core.policy.decide",
    "dnsfilter.core.policy.feedset",
    "dnsfilter.core.policy.matcher",
    "dnsfilter.core.policy.rulesets",
    "dnsfilter.core.stages.identify",
    "dnsfilter.core.stages.local",
    "dnsfilter.core.stages.upstream",
    "dnsfilter.shell.mmsg",
    "dnsfilter.shell.server",
    "dnsfilter.shell.upstream.health",
    "dnsfilter.shell.upstream.lane",
    "dnsfilter.shell.upstream.plain",
    "dnsfilter.shell.upstream.pool",
    "dnsfilter.shell.upstream.question",
)
STAMP = Path(__file__).with_name("native.json")
LIBRARY = "dnsfilter.native_core__mypyc"  # the build's shared library (scripts/build_native.py)
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _digest(source: bytes) -> str:
    """Which version of a source a build was made from. CRC-32, not hashlib: importing hashlib
    here would map libcrypto, which shell/tlsload.py keeps out of a router's memory."""
    return f"{len(source)}:{zlib.crc32(source):08x}"


def _source(module: str, root: Path = PACKAGE_ROOT) -> Path:
    return root / (module.replace(".", "/") + ".py")


def why_pure(stamp_file: Path = STAMP, root: Path = PACKAGE_ROOT) -> str | None:
    """None when the compiled build matches the sources; else why the .py files are used."""
    if os.environ.get("DNSFILTER_PURE", "") not in ("", "0"):
        return "DNSFILTER_PURE is set"
    try:
        stamp = json.loads(stamp_file.read_text())
    except FileNotFoundError:
        return "not compiled (make native)"
    except (OSError, ValueError) as e:
        return f"{stamp_file.name} unreadable: {e}"
    if not isinstance(stamp, dict) or set(stamp) != set(MODULES):
        return "compiled for another module list (make native)"
    for m in MODULES:
        try:
            digest = _digest(_source(m, root).read_bytes())
        except OSError:
            return f"{m}: source unreadable"
        if digest != stamp[m]:
            return f"{m} changed since it was compiled (make native)"
    return None


def _loads() -> str | None:
    """None when the build's shared library imports here (it may come from another machine,
    in a wheel made from a built checkout); else why not."""
    try:
        importlib.import_module(LIBRARY)
    except ImportError as e:
        return f"the compiled build does not load: {e}"
    return None


_UNDECIDED = "undecided"
_reason: str | None = _UNDECIDED


def reason() -> str | None:
    """None when the listed modules come from the build; else why their .py files are used.
    Decided once per process, at the first import of a listed module (or the first call)."""
    global _reason
    if _reason is _UNDECIDED:
        _reason = why_pure() or _loads()
    return _reason


def compiled() -> bool:
    return reason() is None


class _Gate:
    """For a listed module: nothing when the build is in use (the path finder then takes the
    extension module); else its .py file, ahead of the extension module beside it. A plain
    meta path finder (importlib.abc would cost every `import dnsfilter` 9 ms)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES or compiled():
            return None
        leaf = fullname.rpartition(".")[2] + ".py"
        for d in path or ():
            p = os.path.join(d, leaf)
            if os.path.isfile(p):
                return importlib.util.spec_from_file_location(fullname, p)
        return None


if not any(isinstance(f, _Gate) for f in sys.meta_path):
    sys.meta_path.insert(0, _Gate())


def loaded() -> bool:
    """True when the listed modules imported so far all came from the compiled build."""
    return all(not str(getattr(sys.modules[m], "__file__", "")).endswith(".py") for m in MODULES if m in sys.modules)


def describe() -> str:
    """For the daemon's startup log and install.sh."""
    why = reason()
    return f"compiled with mypyc ({len(MODULES)} modules)" if why is None else f"pure Python ({why})"

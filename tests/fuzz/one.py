"""One fuzz target under atheris: `python -m tests.fuzz.one TARGET [libFuzzer arguments]`.

The project's modules are imported inside atheris.instrument_imports, so the fuzzer sees the
coverage of dnsfilter and feeds (not of the standard library or dnspython). tests/fuzz/run.py
starts one of these per target with the corpus directories and time limit.

Interpreted by default (DNSFILTER_PURE=1): the compiled query path (make native) has no bytecode
to instrument, and the fuzzer would be blind in the very modules it is for. The corpus and the
regressions are replayed against the compiled build by tests/fuzz/test_fuzz.py.
`DNSFILTER_PURE=0` fuzzes the build, without coverage of it."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("DNSFILTER_PURE", "1")  # before dnsfilter is imported: see above

import atheris

with atheris.instrument_imports(include=["dnsfilter", "feeds"]):
    from tests.fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(f"usage: python -m tests.fuzz.one TARGET [libFuzzer args]; targets: {', '.join(TARGETS)}",
              file=sys.stderr)
        raise SystemExit(2)
    target = TARGETS[sys.argv[1]]
    # libFuzzer re-runs argv[0] for -merge: tests/fuzz/run.py names a wrapper script for that
    argv0 = os.environ.get("FUZZ_ARGV0", sys.argv[0])
    atheris.Setup([argv0, *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

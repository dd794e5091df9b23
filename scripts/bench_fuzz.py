#!/usr/bin/env python3
"""Fuzz executions per second, per target (run by scripts/bench.sh; `make bench`).

    .venv/bin/python scripts/bench_fuzz.py [--seconds 20] [--md OUT.md]

Each target of tests/fuzz/targets.py runs under atheris for --seconds on a fresh copy of its
seed corpus (a throwaway work directory, so the figure does not depend on earlier runs), and
libFuzzer's own count of executed inputs is divided by the time. Coverage at start and end is
printed beside it: a target much slower than before, or one that stopped finding coverage, shows."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.run import run_one  # noqa: E402
from tests.fuzz.targets import TARGETS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description="fuzz executions per second per target")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--md", type=Path, help="also write the table here (Markdown)")
    args = ap.parse_args()
    rows = ["| target | seconds | executions | executions/s | coverage (start → end) | crashes |",
            "|---|---:|---:|---:|---|---|"]
    failed = False
    with tempfile.TemporaryDirectory(prefix="fuzz-bench-") as tmp:
        for name in TARGETS:
            r = run_one(name, args.seconds, Path(tmp))
            print(r.line(), flush=True)
            rows.append(f"| {name} | {r.seconds:.0f} | {r.execs} | {r.exec_per_sec} | {r.cov_start} → {r.cov_end} | "
                        f"{len(r.crashes)} |")
            failed = failed or bool(r.crashes)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text("## Fuzzing: executions per second\n\n" + "\n".join(rows) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the fuzz targets for a bounded time each and report what they did.

    python -m tests.fuzz.run [--seconds 60] [--work .fuzz] [--quiet] [TARGET ...]

Each target runs in its own process (tests/fuzz/one.py) on its seed corpus
(tests/fuzz/corpus/TARGET), what long runs found (tests/fuzz/found/TARGET) and its regression
inputs (tests/fuzz/regressions/TARGET); the inputs
it finds go to WORK/corpus/TARGET (kept between runs: a later run starts where this one ended)
and a crash's input to WORK/crashes/TARGET/. Prints one line per target: executions,
executions per second, coverage when the corpus was loaded and at the end, corpus size and
crashes. Exits 1 when any target crashed (its input is named: copy it into
tests/fuzz/regressions/TARGET/ with the fix)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MAX_LEN = 8192  # bytes per input: a 4 KB upstream answer, a feed of a few hundred lines
# Committed inputs: the seeds (tests/fuzz/seeds.py writes them), what long runs found (merged:
# the fewest inputs that keep their coverage) and the inputs of crashes found and fixed.
INPUTS = ("corpus", "found", "regressions")


@dataclass
class Result:
    target: str
    seconds: float
    execs: int = 0
    exec_per_sec: int = 0
    cov_start: int = 0
    cov_end: int = 0
    corpus: int = 0
    crashes: tuple[str, ...] = ()
    rc: int = 0

    def line(self) -> str:
        crashed = ", ".join(self.crashes) if self.crashes else "none"
        return (f"{self.target:<9} {self.seconds:6.0f} s  {self.execs:>10,} execs  {self.exec_per_sec:>6,}/s  "
                f"coverage {self.cov_start:>5} -> {self.cov_end:<5}  corpus {self.corpus:>5}  crashes: {crashed}")


def targets() -> list[str]:
    from tests.fuzz.targets import TARGETS

    return list(TARGETS)


def run_one(name: str, seconds: float, work: Path, log: Path | None = None) -> Result:
    corpus = work / "corpus" / name
    crashes = work / "crashes" / name
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(crashes))
    dirs = [str(corpus)] + [str(d) for d in (HERE / sub / name for sub in INPUTS) if d.is_dir()]
    cmd = [sys.executable, "-m", "tests.fuzz.one", name, *dirs, f"-max_total_time={max(1, int(seconds))}",
           f"-artifact_prefix={crashes}/", f"-max_len={MAX_LEN}", "-timeout=20", "-rss_limit_mb=1536",
           "-print_final_stats=1"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, errors="replace",
                          timeout=seconds + 600, env={**os.environ, "PYTHONHASHSEED": "0"})
    out = "\n".join(ln for ln in (proc.stdout + proc.stderr).splitlines() if not ln.startswith("INFO: Instrumenting"))
    if log is not None:
        log.write_text(out)
    r = Result(name, time.monotonic() - start, rc=proc.returncode)
    inited = re.search(r"#\d+\s+INITED cov: (\d+)", out)
    r.cov_start = int(inited.group(1)) if inited else 0
    covs = re.findall(r"#\d+\s+\w+\s+cov: (\d+).*?corp: (\d+)/", out)
    if covs:
        r.cov_end, r.corpus = int(covs[-1][0]), int(covs[-1][1])
    m = re.search(r"stat::number_of_executed_units:\s+(\d+)", out)
    r.execs = int(m.group(1)) if m else 0
    m = re.search(r"stat::average_exec_per_sec:\s+(\d+)", out)
    r.exec_per_sec = int(m.group(1)) if m else 0
    r.crashes = tuple(sorted(set(os.listdir(crashes)) - before))
    if proc.returncode and not r.crashes:  # it died without leaving an input: say how
        tail = "\n".join(out.splitlines()[-30:])
        print(f"{name}: exited {proc.returncode} without a crash input:\n{tail}", file=sys.stderr)
    elif r.crashes:
        tail = "\n".join(out.splitlines()[-40:])
        print(f"{name}: CRASH, input in {crashes}/{r.crashes[0]}\n{tail}", file=sys.stderr)
    return r


def merge(name: str, work: Path) -> int:
    """Add to tests/fuzz/found/TARGET the fewest inputs of WORK/corpus/TARGET that keep the
    coverage they reach beyond what is there (libFuzzer's -merge=1). Returns how many."""
    found = HERE / "found" / name
    found.mkdir(parents=True, exist_ok=True)
    before = len(os.listdir(found))
    wrapper = work / f"merge-{name}.sh"  # what libFuzzer re-runs for each merge step
    wrapper.write_text(f'#!/bin/sh\ncd "{REPO}" && exec "{sys.executable}" -m tests.fuzz.one {name} "$@"\n')
    wrapper.chmod(0o755)
    subprocess.run([sys.executable, "-m", "tests.fuzz.one", name, "-merge=1", f"-max_len={MAX_LEN}",
                    str(found), str(work / "corpus" / name)], cwd=REPO, capture_output=True, check=True,
                   timeout=3600, env={**os.environ, "FUZZ_ARGV0": str(wrapper)})
    return len(os.listdir(found)) - before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="targets to run (default: all)")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 60)))
    ap.add_argument("--work", type=Path, default=REPO / ".fuzz")
    ap.add_argument("--logs", action="store_true", help="keep each target's fuzzer output in WORK/logs/")
    ap.add_argument("--merge", action="store_true",
                    help="instead of fuzzing, merge WORK/corpus into tests/fuzz/found (after a long run)")
    args = ap.parse_args(argv)
    names = args.targets or targets()
    unknown = [n for n in names if n not in targets()]
    if unknown:
        print(f"unknown target(s): {', '.join(unknown)} (known: {', '.join(targets())})", file=sys.stderr)
        return 2
    if args.merge:
        for name in names:
            print(f"{name}: {merge(name, args.work)} inputs added to tests/fuzz/found/{name}", flush=True)
        return 0
    failed = False
    for name in names:
        log = None
        if args.logs:
            (args.work / "logs").mkdir(parents=True, exist_ok=True)
            log = args.work / "logs" / f"{name}.log"
        r = run_one(name, args.seconds, args.work, log)
        print(r.line(), flush=True)
        failed = failed or bool(r.crashes) or r.rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

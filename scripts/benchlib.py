"""What the benchmark scripts share: starting `dnsfilter serve` and timing it until it answers,
a process's memory figures from /proc, and writing a results/NAME.md section for BENCHMARKS.md."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_daemon(cfg: Path, log: Path, cpu: str | None = None) -> tuple[subprocess.Popen[bytes], float]:
    """`dnsfilter serve -c CFG` (pinned to `cpu` by taskset when given), its log in `log`, and the
    seconds until it logs that it answers (at most 120)."""
    t0 = time.perf_counter()
    pin = ["taskset", "-c", cpu] if cpu is not None else []
    p = subprocess.Popen([*pin, str(ROOT / ".venv/bin/dnsfilter"), "serve", "-c", str(cfg), "--log-level", "info"],
                         stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "ready: answering" in log.read_text(errors="replace"):
            return p, time.perf_counter() - t0
        if p.poll() is not None:
            raise RuntimeError(log.read_text())
        time.sleep(0.005)
    p.kill()
    raise RuntimeError("daemon not ready")


def status_kb(pid: int, field: str) -> int:
    """A /proc/PID/status figure in KB: VmRSS (resident now), VmHWM (its peak); 0 if absent."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def results_table(title: str, intro: str, rows: Iterable[str]) -> str:
    """A results section: its title, how it was measured, and a `what | result | detail` table."""
    return "\n".join([f"## {title}", "", intro, "", "| what | result | detail |", "|---|---|---|", *rows, ""])


def write_results(bench_dir: Path, name: str, text: str) -> None:
    """BENCH_DIR/results/NAME.md, and the same on stdout."""
    out = bench_dir / "results" / f"{name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)

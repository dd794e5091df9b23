#!/usr/bin/env python3
"""Profile benchmarks (issue "profiles" §5), written to .bench/results/profiles.md:

- in-process policy evaluation per query with 50 devices, 5 profiles and the 1M-name list:
  identify + time state + policy decision, against the same with no profiles (median µs);
- whole-daemon qps with profiles on against profiles off (dnsperf on loopback, bounded by -l).

Usage: bench_profiles.py BENCH_DIR  (the harness copy made by scripts/bench.sh, with its data/).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import results_table, start_daemon, write_results  # noqa: E402

from tests.support.household import household, numbered_devices, schedule  # noqa: E402

PROFILES = household(
    general={"timezone": "Asia/Almaty"},
    defaults={"profile": "Guests"},
    protection={"always_allow": ["helpline.kz", "childhelp.org"]},
    profiles=[
        {"name": "Kids", "block_categories": ["ads", "adult", "gambling"],
         "block_services": ["tiktok", "instagram", "roblox"], "allow": ["khanacademy.org", "kids.example.kz"],
         "deny": ["example.com"], "safe_search": True, "block_bypass": True,
         "budgets": {"youtube": "60m", "games": "2h"},
         "schedules": [schedule("bedtime", "daily", "21:00", "07:00", "all"),
                       schedule("homework", "weekdays", "15:00", "18:00", ["games", "video"])]},
        {"name": "Teens", "block_categories": ["ads", "adult"], "block_services": ["tiktok"], "safe_search": True,
         "budgets": {"games": "2h"}},
        {"name": "Adults", "block_categories": ["ads"]},
        {"name": "Guests", "block_categories": ["ads", "adult"], "safe_search": True},
        {"name": "Office", "block_categories": ["ads", "adult", "gambling"], "block_services": ["steam", "netflix"]},
    ],
    # 50 devices; the benchmark's own source address is a Kids device, so every query is evaluated
    devices=[*numbered_devices(["Kids", "Teens", "Adults", "Guests", "Office"], 50, name="dev{i}"),
             {"name": "dnsperf", "ip": "127.0.0.1", "profile": "Kids"}],
)


def config(d: Path, port: int, feed: Path, profiles: bool) -> Path:
    text = (f'[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.77.1:5300"]\n'
            f'[storage]\ndata_dir = "{d}/var"\n[network]\nneighbours = false\n'
            f'[[feeds]]\nname = "big"\nurl = "{feed}"\nformat = "domains"\ncategory = "ads"\n'
            f'[[feeds]]\nname = "big-adult"\nurl = "{feed}"\nformat = "domains"\ncategory = "adult"\n')
    if profiles:
        text += PROFILES
    cfg = d / ("profiles.toml" if profiles else "plain.toml")
    cfg.write_text(text)
    return cfg


def in_process(cfg_path: Path, names: list[str]) -> tuple[float, float]:
    """Median µs of identify + time state + policy per query; and the same for all queries."""
    from dnsfilter.assemble import build_engine
    from dnsfilter.config import load
    from dnsfilter.core.dns import wire
    from dnsfilter.shell.lists import load_matcher

    cfg = load(cfg_path)
    eng = build_engine(cfg, load_matcher(cfg))
    wires = [wire.text_to_wire(n) for n in names]
    ips = [f"127.0.1.{i % 50 + 1}" for i in range(len(wires))]
    now = time.time()
    samples = []
    pc = time.perf_counter
    for rep in range(3):
        for w, ip in zip(wires, ips, strict=True):
            t0 = pc()
            c = eng.identify.client(ip, now)
            assert c is not None
            st = eng._state(c, now)
            eng.policy.decide(c.profile, w, qtype=1, client=ip, state=st)
            if rep:
                samples.append(pc() - t0)
    samples.sort()
    return statistics.median(samples) * 1e6, statistics.mean(samples) * 1e6


def main() -> int:
    bench = Path(sys.argv[1]).resolve()
    reps = int(os.environ.get("REPS", "3"))
    duration = int(os.environ.get("DURATION", "10"))
    sys.path.insert(0, str(bench))
    import bench as h  # the harness: nsd upstream and dnsperf runner

    feed = bench / "data" / "lists" / "block-1m.domains"
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dnsfilter-profiles-") as tmp:
        d = Path(tmp)
        listed = [ln.strip() for ln in open(feed) if ln.strip() and not ln.startswith("#")][:20000:4]
        popular = [ln.split()[0] for ln in open(bench / "data" / "queries" / "mixed.txt") if ln.strip()][:5000]
        names = listed + popular + ["www.google.kz", "www.youtube.com", "www.tiktok.com", "i.ytimg.com",
                                    "khanacademy.org", "helpline.kz"] * 50
        plain_cfg, prof_cfg = config(d, 5391, feed, False), config(d, 5391, feed, True)
        # the compiled sets are shared: compile once through a start of the plain config
        p, _ = start_daemon(plain_cfg, d / "warm.log", "1")
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        on_med, on_mean = in_process(prof_cfg, names)
        off_med, off_mean = in_process(plain_cfg, names)
        rows.append(f"| policy per query, in process | {on_med:.2f} µs median with profiles ({on_mean:.2f} mean); "
                    f"{off_med:.2f} µs without; added {on_med - off_med:.2f} µs | 50 devices, 5 profiles (services, "
                    f"safe search, schedules, budgets), 1M listed names; {len(names)} names: listed, popular, "
                    "service and safe-search names |")
        h.start_upstream_detached()
        qps: dict[tuple[str, str], list[float]] = {}
        for _rep in range(reps):
            for label, cfg in (("off", plain_cfg), ("on", prof_cfg)):
                p, _ = start_daemon(cfg, d / f"{label}.log", h.SUT_CPU)
                for wl in ("blocked", "mixed"):
                    qfile = str(bench / "data" / "queries" / f"{wl}.txt")
                    base = ["taskset", "-c", h.LOAD_CPU, "dnsperf", "-s", "127.0.0.1", "-p", "5391", "-d", qfile,
                            "-c", "8", "-q", "200"]
                    # one pass over the file first, as the harness does: the measured run is warm
                    subprocess.run([*base, "-n", "1", "-l", "20", "-t", "2"], capture_output=True, timeout=60)
                    out = subprocess.run([*base, "-l", str(duration)], capture_output=True, text=True,
                                         timeout=duration + 60).stdout
                    qps.setdefault((wl, label), []).append(float(h.parse_dnsperf(out).get("qps", 0)))
                p.send_signal(signal.SIGTERM)
                p.wait(30)
        for wl in ("blocked", "mixed"):
            on, off = statistics.median(qps[(wl, "on")]), statistics.median(qps[(wl, "off")])
            rows.append(f"| whole daemon, {wl} workload | {on:,.0f} qps with profiles, {off:,.0f} without: "
                        f"{(on / off - 1) * 100:+.1f} % | dnsperf on loopback after one warm-up pass, {reps} reps "
                        f"× {duration} s, medians; the dnsperf source is a Kids device |")
    write_results(bench, "profiles",
                  results_table("Profiles", "Measured by `scripts/bench_profiles.py` (part of `make bench`).", rows))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())

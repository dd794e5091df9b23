#!/usr/bin/env python3
"""The benchmark's configs: what a user gets, with only the harness's addresses and list put in.

    bench_config.py SETUP LISTEN UPSTREAM DOMAINS DATA_DIR WORKERS  > config.toml

SETUP:
  defaults   config.example.toml as shipped (cache_size 20000, fastpath_size 50000, …)
  openwrt    the OpenWrt package's /etc/config/dnsfilter, rendered as its init script does
             (cache_size 2500, fastpath_size 5000)
  household  the defaults plus a household: 4 profiles, 50 devices, schedules and one daily
             budget; the load generator's address (127.0.0.1) is one of the Teens' devices

Only `listen`, `upstreams`, `data_dir`, `workers` and the feeds are replaced (the harness's
list as the one `domains` feed, category ads); every other key keeps the file's value, so no
setting exists for the benchmark alone. The lease files of the OpenWrt config are dropped:
this machine is not a router, and a leases file found here would be someone else's.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.household import numbered_devices, render, schedule  # noqa: E402

SETUPS = ("defaults", "openwrt", "household")

# Four profiles as a family sets them up: schedules on two of them, one daily budget. None of
# the harness's names is a game, a video or a social network, so whatever the hour the run
# starts at, the schedules and the budget change no answer the workloads check, but every
# query of a Teens device is evaluated against them (the cost this setup measures).
HOUSEHOLD = [
    {"name": "Kids", "block_categories": ["ads", "trackers", "malware", "phishing", "adult", "gambling"],
     "block_services": ["tiktok", "instagram"], "safe_search": True,
     "schedules": [schedule("bedtime", "daily", "21:00", "07:00", "all")]},
    {"name": "Teens", "block_categories": ["ads", "trackers", "malware", "phishing", "adult"],
     "block_services": ["tiktok"], "safe_search": True, "budgets": {"youtube": "60m"},
     "schedules": [schedule("homework", "weekdays", "15:00", "18:00", ["games", "social"])]},
    {"name": "Adults", "block_categories": ["ads", "malware", "phishing"]},
    {"name": "Guests", "block_categories": ["ads", "trackers", "malware", "phishing", "adult"]},
]


def household_devices(n: int = 50) -> list[dict[str, str]]:
    """`n` devices, the last of them the load generator's address (a Teens device)."""
    return [*numbered_devices([p["name"] for p in HOUSEHOLD], n - 1),
            {"name": "teen laptop", "ip": "127.0.0.1", "profile": "Teens"}]


def config(setup: str, listen: str, upstream: str, domains: str, data_dir: str, workers: int,
           root: Path = ROOT) -> str:
    """`root`: the checkout whose shipped config is used (an older commit's, for a before/after)."""
    if setup == "openwrt":
        from dnsfilter.router.uci import uci_to_toml

        data = tomllib.loads(uci_to_toml((ROOT / "deploy/openwrt/files/dnsfilter.config").read_text()))
        data.setdefault("network", {})["lease_files"] = []
    else:
        data = tomllib.loads((root / "config.example.toml").read_text())
    dns = data.setdefault("dns", {})
    dns["listen"], dns["upstreams"], dns["workers"] = [listen], [upstream], workers
    # the router's state_dir (/etc/dnsfilter) would be this machine's: the run's folder holds it
    data.setdefault("storage", {})["data_dir"] = data_dir
    data["storage"].pop("state_dir", None)
    data["feeds"] = [{"name": "bench", "url": domains, "format": "domains", "category": "ads"}]
    if setup == "household":
        data.setdefault("defaults", {})["profile"] = "Guests"
        data["profiles"] = [*data.get("profiles", []), *HOUSEHOLD]
        data["devices"] = [*data.get("devices", []), *household_devices()]
    return render(data)


def main() -> int:
    if len(sys.argv) != 7 or sys.argv[1] not in SETUPS:
        print(f"usage: bench_config.py {{{'|'.join(SETUPS)}}} LISTEN UPSTREAM DOMAINS DATA_DIR WORKERS",
              file=sys.stderr)
        return 2
    setup, listen, upstream, domains, data_dir, workers = sys.argv[1:]
    sys.stdout.write(config(setup, listen, upstream, domains, data_dir, int(workers)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

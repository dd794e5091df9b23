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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SETUPS = ("defaults", "openwrt", "household")

# Four profiles as a family sets them up: schedules on two of them, one daily budget. None of
# the harness's names is a game, a video or a social network, so whatever the hour the run
# starts at, the schedules and the budget change no answer the workloads check, but every
# query of a Teens device is evaluated against them (the cost this setup measures).
HOUSEHOLD = """
[[profiles]]
name = "Kids"
block_categories = ["ads", "trackers", "malware", "phishing", "adult", "gambling"]
block_services = ["tiktok", "instagram"]
safe_search = true
  [[profiles.schedules]]
  name = "bedtime"
  days = ["daily"]
  start = "21:00"
  end = "07:00"
  block = "all"

[[profiles]]
name = "Teens"
block_categories = ["ads", "trackers", "malware", "phishing", "adult"]
block_services = ["tiktok"]
safe_search = true
budgets = { youtube = "60m" }
  [[profiles.schedules]]
  name = "homework"
  days = ["weekdays"]
  start = "15:00"
  end = "18:00"
  block = ["games", "social"]

[[profiles]]
name = "Adults"
block_categories = ["ads", "malware", "phishing"]

[[profiles]]
name = "Guests"
block_categories = ["ads", "trackers", "malware", "phishing", "adult"]
"""


def household_devices(n: int = 50) -> str:
    names = ["Kids", "Teens", "Adults", "Guests"]
    out = [f'[[devices]]\nname = "device{i}"\nip = "127.0.1.{i + 1}"\nprofile = "{names[i % 4]}"\n'
           for i in range(n - 1)]
    out.append('[[devices]]\nname = "teen laptop"\nip = "127.0.0.1"\nprofile = "Teens"\n')
    return "\n".join(out)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def render(data: dict[str, Any]) -> str:
    """Plain tables and arrays of plain tables: all a dnsfilter config holds."""
    out: list[str] = []
    for name, value in data.items():
        if isinstance(value, dict):
            out.append(f"[{name}]")
            out += [f"{k} = {_toml(v)}" for k, v in value.items()]
            out.append("")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                out.append(f"[[{name}]]")
                out += [f"{k} = {_toml(v)}" for k, v in item.items()]
                out.append("")
    return "\n".join(out)


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
    data.setdefault("storage", {})["data_dir"] = data_dir
    data["feeds"] = [{"name": "bench", "url": domains, "format": "domains", "category": "ads"}]
    if setup == "household":
        data.setdefault("defaults", {})["profile"] = "Guests"
    text = render(data)
    if setup == "household":
        text += HOUSEHOLD + "\n" + household_devices()
    return text


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

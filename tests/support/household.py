"""A household written as config TOML from plain data: profiles (schedules and budgets in them),
devices, and any other tables. Tests and the benchmarks (scripts/bench_config.py,
scripts/bench_profiles.py) build theirs here, so a key's spelling lives in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def render(data: dict[str, Any]) -> str:
    """Plain tables and arrays of plain tables: all a dnsfilter config holds (a profile's
    schedules are an array of inline tables, as TOML allows)."""
    out: list[str] = []
    for name, value in data.items():
        if isinstance(value, dict):
            out.append(f"[{name}]")
            out += [f"{k} = {toml_value(v)}" for k, v in value.items()]
            out.append("")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                out.append(f"[[{name}]]")
                out += [f"{k} = {toml_value(v)}" for k, v in item.items()]
                out.append("")
    return "\n".join(out)


def schedule(name: str, days: str, start: str, end: str, block: str | Sequence[str]) -> dict[str, Any]:
    """One of a profile's `schedules`: `block` is "all" or a list of service groups."""
    return {"name": name, "days": [days], "start": start, "end": end,
            "block": block if isinstance(block, str) else list(block)}


def numbered_devices(profiles: Sequence[str], n: int, name: str = "device{i}",
                     net: str = "127.0.1.") -> list[dict[str, str]]:
    """`n` devices by address (`net` + 1, 2, …), dealt round the profiles in turn."""
    return [{"name": name.format(i=i), "ip": f"{net}{i + 1}", "profile": profiles[i % len(profiles)]}
            for i in range(n)]


def household(profiles: list[dict[str, Any]], devices: list[dict[str, str]], **tables: dict[str, Any]) -> str:
    """The config text of `tables` (e.g. defaults, protection), then the profiles, then the devices."""
    return render({**tables, "profiles": profiles, "devices": devices})

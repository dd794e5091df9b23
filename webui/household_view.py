"""What the daemon's household state means for a device card: whether the device (or its
profile) is paused and until when, and which quiet hours hold now. Read from the files the
daemon keeps (`data_dir/household.json`, saved at every pause and resume) and the config, so
the page is right even when the daemon is not running."""

from __future__ import annotations

import datetime as dt
import json
import time
import zoneinfo
from dataclasses import dataclass

from dnsfilter.config import Config


def pauses(cfg: Config, now: float | None = None) -> dict[str, float]:
    """{"device:ID" | "profile:NAME": until} of the pauses that hold now."""
    now = time.time() if now is None else now
    try:
        state = json.loads((cfg.state_path() / "household.json").read_text())
        raw = state.get("pauses", {}) if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float) and v > now}


@dataclass(frozen=True, slots=True)
class Quiet:
    name: str
    until: str  # local HH:MM when it ends


def quiet_now(cfg: Config, profile: str, now: float | None = None) -> Quiet | None:
    """The quiet hours (a schedule blocking everything) that hold for `profile` now."""
    from dnsfilter.core.household.schedule import Schedules, parse_window

    p = next((p for p in cfg.profiles if p.name == profile), None)
    if p is None or not p.schedules:
        return None
    now = time.time() if now is None else now
    rules = [r for r in p.schedules if r.block == "all"]
    if not rules:
        return None
    s = Schedules([parse_window(list(r.days), r.start, r.end, r.block, r.name) for r in rules], cfg.general.timezone)
    active = s.active(now)
    if not active:
        return None
    return Quiet(active[0].name, clock(s.next_change(now), cfg.general.timezone))


def clock(ts: float, tz: str) -> str:
    """HH:MM in the appliance's zone, with the date when it is not today."""
    zone = zoneinfo.ZoneInfo(tz)
    t = dt.datetime.fromtimestamp(ts, zone)
    if t.date() != dt.datetime.now(zone).date():
        return t.strftime("%Y-%m-%d %H:%M")
    return t.strftime("%H:%M")

"""The weekly report: per profile and device, over the last seven days, lookups and blocks by
category, time used against each budget, new devices, requests made and answered, and the top
blocked sites, read from the query log's hourly rollups (never its rows, so it takes the same
time however long the log is), the budget days and the requests (child_requests.py).

Privacy: a profile in `counts` or `anonymous` mode shows counts only, never a site's name (its
top blocked sites and its requests' names are left out); `off` records nothing to show.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dnsfilter.storage.child_requests import RequestStore
from dnsfilter.storage.logstore import LogStore

DAYS = 7
TOP = 10
NAMES_SHOWN = ("full",)  # privacy modes whose reports may name sites


@dataclass(slots=True)
class BudgetWeek:
    item: str
    used: int  # minutes over the week
    limit: int  # the days' limits added up (the days the device was counted)
    days: int


@dataclass(slots=True)
class DeviceWeek:
    device: str
    label: str
    lookups: int = 0
    blocked: int = 0
    by_category: dict[str, int] = field(default_factory=dict)  # blocked lookups per category
    budgets: list[BudgetWeek] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # state -> count
    asked: list[str] = field(default_factory=list)  # names asked for (full privacy only)


@dataclass(slots=True)
class ProfileWeek:
    name: str
    privacy: str
    lookups: int = 0
    blocked: int = 0
    by_category: dict[str, int] = field(default_factory=dict)
    top_blocked: list[tuple[str, int]] = field(default_factory=list)  # (site, count): full privacy only
    devices: list[DeviceWeek] = field(default_factory=list)

    @property
    def names_shown(self) -> bool:
        return self.privacy in NAMES_SHOWN


@dataclass(slots=True)
class WeeklyReport:
    start: float
    end: float
    tz: str
    profiles: list[ProfileWeek] = field(default_factory=list)
    new_devices: list[dict[str, Any]] = field(default_factory=list)  # id, label, profile, first_seen

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def week_start(now: float, tz: str, days: int = DAYS) -> float:
    """Local midnight `days - 1` days before today: the report covers seven whole local days,
    today included."""
    zone = zoneinfo.ZoneInfo(tz)
    today = dt.datetime.fromtimestamp(now, zone).date()
    first = today - dt.timedelta(days=days - 1)
    return dt.datetime(first.year, first.month, first.day, tzinfo=zone).timestamp()


def weekly(*, log: LogStore | None, requests: RequestStore | None, devices: list[dict[str, Any]],
           privacy: Mapping[str, str], labels: Mapping[str, str], now: float, tz: str) -> WeeklyReport:
    """The report for the seven local days up to `now`. `privacy` maps every profile to its mode
    (profiles missing count as `full`), `labels` device ids to names for people."""
    start = week_start(now, tz)
    rep = WeeklyReport(start, now, tz)
    profiles: dict[str, ProfileWeek] = {p: ProfileWeek(p, m) for p, m in privacy.items()}

    def prof(name: str) -> ProfileWeek:
        if name not in profiles:
            profiles[name] = ProfileWeek(name, privacy.get(name, "full"))
        return profiles[name]

    per_device: dict[tuple[str, str], DeviceWeek] = {}

    def dev(profile: str, device: str) -> DeviceWeek:
        key = (profile, device)
        if key not in per_device:
            per_device[key] = DeviceWeek(device, labels.get(device, device))
        return per_device[key]

    if log is not None:
        h0 = int(start // 3600)
        rows = log.db.execute("SELECT profile, device, category, outcome, sum(n) FROM rollup WHERE hour >= ? "
                              "GROUP BY profile, device, category, outcome", (h0,)).fetchall()
        for profile, device, category, outcome, n in rows:
            p = prof(profile)
            if p.privacy == "off":
                continue
            p.lookups += n
            d = dev(profile, device) if device else None
            if d is not None:
                d.lookups += n
            if outcome == "blocked":
                p.blocked += n
                p.by_category[category or "custom"] = p.by_category.get(category or "custom", 0) + n
                if d is not None:
                    d.blocked += n
                    d.by_category[category or "custom"] = d.by_category.get(category or "custom", 0) + n
        shown = [name for name, p in profiles.items() if p.names_shown]
        for name in shown:
            top = log.db.execute("SELECT name, sum(n) AS c FROM blocked_names WHERE hour >= ? AND profile = ? "
                                 "GROUP BY name ORDER BY c DESC LIMIT ?", (h0, name, TOP)).fetchall()
            profiles[name].top_blocked = [(str(n), int(c)) for n, c in top]
    if requests is not None:
        first = dt.datetime.fromtimestamp(start, zoneinfo.ZoneInfo(tz)).date().isoformat()
        last = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(tz)).date().isoformat()
        sums: dict[tuple[str, str, str], list[int]] = {}
        for _day, device, profile, item, used, limit in requests.budget_days(first, last):
            s = sums.setdefault((profile, device, item), [0, 0, 0])
            s[0] += used
            s[1] += limit
            s[2] += 1
        for (profile, device, item), (used, limit, days) in sorted(sums.items()):
            if prof(profile).privacy != "off":
                dev(profile, device).budgets.append(BudgetWeek(item, used, limit, days))
        for r in requests.find(since=start, limit=10_000):
            p = prof(r.profile)
            if p.privacy == "off":
                continue
            d = dev(r.profile, r.device)
            d.requests[r.state] = d.requests.get(r.state, 0) + 1
            if p.names_shown and r.kind == "site" and r.name not in d.asked:
                d.asked.append(r.name)
    for (profile, _device), d in per_device.items():
        profiles[profile].devices.append(d)
    for p in profiles.values():
        p.devices.sort(key=lambda d: (-d.lookups, d.label))
        p.by_category = dict(Counter(p.by_category).most_common())
    rep.profiles = [p for p in profiles.values() if p.lookups or p.devices]
    rep.new_devices = [{"id": d["id"], "label": labels.get(d["id"], d.get("hostname") or d["id"]),
                        "profile": d.get("profile"), "first_seen": d["first_seen"]}
                       for d in devices if d.get("first_seen", 0) >= start]
    return rep

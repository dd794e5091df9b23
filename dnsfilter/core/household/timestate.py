"""Stage 3's clock: which pauses, schedules and spent budgets hold for a device right now.

The result (a `TimeState`) is computed once per device and kept until the next moment it
can change (`valid_until`: a schedule boundary, a pause's end, local midnight), so the
query path reads a cached object instead of evaluating time rules per query. Devices in the
same state share a `key`, under which the fast path keeps their prebuilt answers.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass

from dnsfilter.core.household.budget import Budgets
from dnsfilter.core.household.schedule import Pauses, Schedules
from dnsfilter.core.model import Reason
from dnsfilter.core.policy.decide import TimeState
from dnsfilter.core.policy.overrides import Overrides, OverrideSet, decision

_HORIZON = 3600.0  # recomputed at least hourly, whatever the rules say


@dataclass(slots=True)
class ProfileTime:
    schedules: Schedules | None = None
    budgets: Budgets | None = None


class TimeRules:
    def __init__(self, profiles: Mapping[str, ProfileTime], tz: str, pauses: Pauses | None = None,
                 item_kinds: Mapping[str, str] | None = None, overrides: Overrides | None = None) -> None:
        self.profiles = dict(profiles)
        self.tz = zoneinfo.ZoneInfo(tz)
        self.pauses = pauses if pauses is not None else Pauses()
        self.item_kinds = dict(item_kinds or {})  # item id -> "category" | "service"
        self.overrides = overrides if overrides is not None else Overrides()

    def __bool__(self) -> bool:
        return any(p.schedules or p.budgets for p in self.profiles.values())

    def _clock(self, t: float) -> str:
        return dt.datetime.fromtimestamp(t, self.tz).strftime("%H:%M")

    def _item_reason(self, item: str, text: str, kind: str) -> Reason:
        if self.item_kinds.get(item) == "service":
            return Reason(text, kind=kind, service=item)
        return Reason(text, category=item, kind=kind)

    def state(self, profile: str, device: str, now: float) -> tuple[TimeState, float]:
        """(the device's state, the time until which it holds)."""
        until = now + _HORIZON
        paused: Reason | None = None
        for target in (f"device:{device}", f"profile:{profile}"):
            end = self.pauses.paused(target, now)
            if end is not None:
                who = "this device" if target.startswith("device:") else f"profile {profile}"
                paused = Reason(f"paused: {who} is paused until {self._clock(end)}", kind="pause")
                until = min(until, end)
                break
        pt = self.profiles.get(profile)
        block_all: Reason | None = None
        items: list[tuple[str, Reason]] = []
        key = [profile]
        if paused is not None:
            key.append("paused")
        if pt is not None and pt.schedules is not None:
            until = min(until, pt.schedules.next_change(now))
            for w in pt.schedules.active(now):
                key.append(f"s:{w.name}")
                if w.block == "all":
                    if block_all is None:
                        block_all = Reason(f"schedule {w.name} ({w.describe()}): everything is blocked",
                                           kind="schedule")
                else:
                    items += [(i, self._item_reason(i, f"schedule {w.name} ({w.describe()}): {i} is blocked",
                                                    "schedule")) for i in w.block]
        if pt is not None and pt.budgets is not None:
            spent = sorted(pt.budgets.exhausted(device, now))
            if spent:
                until = min(until, pt.budgets.reset_at(now))
                key += [f"b:{i}" for i in spent]
                items += [(i, self._item_reason(i, f"daily limit reached for {i}", "budget")) for i in spent]
        mine, theirs = self.overrides.holding(device, profile, now)
        ovs: OverrideSet | None = None
        if mine or theirs:
            ends = [o.until for o in (*mine, *theirs) if o.until is not None]
            until = min(until, *ends) if ends else until
            key.append("o:" + ",".join(str(o.id) for o in sorted((*mine, *theirs), key=lambda o: o.id)))
            ovs = OverrideSet(((o, decision(o, self._clock)) for o in mine),
                              ((o, decision(o, self._clock)) for o in theirs))
        if paused is None and block_all is None and not items and ovs is None:
            return TimeState(profile), until
        # Devices share a key (and prebuilt answers) only when nothing device-specific holds.
        if paused is not None or mine or any(k.startswith("b:") for k in key):
            key.append(f"d:{device}")
        return TimeState("|".join(key), paused, block_all, tuple(items), ovs), until

    def record(self, profile: str, device: str, items: tuple[str, ...], now: float) -> bool:
        """Count one minute of use of `items`; True when a budget has just been used up."""
        pt = self.profiles.get(profile)
        if pt is None or pt.budgets is None:
            return False
        changed = False
        for item in items:
            if pt.budgets.record(device, item, now) and pt.budgets.spent(device, item, now):
                changed = True
        return changed

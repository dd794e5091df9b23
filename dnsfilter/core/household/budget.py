"""Daily time budgets per device ("youtube = 60m"), as pure functions of `now`.

Use is counted in one-minute slots: a minute in which a device queried names of an item
(service or category id) costs one minute of that item's budget, however many queries it
made. Days are local days in the appliance's time zone: a day runs from one local midnight
to the next, so it lasts 23 or 25 hours across DST changes (and Asia/Almaty's 2024-02-29,
when Kazakhstan went from UTC+6 to UTC+5, lasted 25).

Per device only today's slots are kept, as one bitmask per item (bit i = the i-th minute
after local midnight: ~190 bytes per item-day); the device table is capped, dropping the
device seen least recently. `to_dict`/`from_dict` let the shell keep the minutes across a
restart; slots are stored against absolute epoch minutes, so a change of time zone between
save and load shifts nothing (minutes falling outside the restored day are dropped).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from dnsfilter.core.household.schedule import zone

__all__ = ["Budgets", "parse_duration"]

VERSION = 1
_DURATION = re.compile(r"(?:([0-9]{1,4})\s*h)?\s*(?:([0-9]{1,5})\s*m)?")
_MAX_HEX = 1024  # a day is at most 1500 minutes = 375 hex digits; anything longer is garbage


def parse_duration(text: str | int, maximum: int = 1440) -> int:
    """"60m", "2h", "1h30m" or "90" (minutes) -> minutes, 0..maximum (a day by default)."""
    if isinstance(text, int) and not isinstance(text, bool):
        minutes = text
    elif isinstance(text, str) and text.strip().isascii() and text.strip().isdigit():
        minutes = int(text.strip())
    else:
        m = _DURATION.fullmatch(text.strip().lower()) if isinstance(text, str) else None
        if m is None or not any(m.groups()):
            raise ValueError(f'{text!r} is not a duration (e.g. "60m", "2h", "1h30m" or "90" for minutes)')
        minutes = int(m.group(1) or 0) * 60 + int(m.group(2) or 0)
    if not 0 <= minutes <= maximum:
        raise ValueError(f"{text!r} is {minutes} minutes: must be between 0 and {maximum}")
    return minutes


@dataclass(slots=True)
class _Day:
    """One device's use during one local day [start, end)."""

    start: float
    end: float
    base: int  # epoch minute of bit 0
    used: dict[str, int]  # item -> bitmask of minutes used
    extra: dict[str, int] = field(default_factory=dict)  # item -> minutes a parent added for today


class Budgets:
    """Daily minutes per item for every device of one profile."""

    def __init__(self, limits: Mapping[str, int], tz: str, max_devices: int = 4096) -> None:
        for item, minutes in limits.items():
            if not isinstance(item, str) or not item:
                raise ValueError(f"budget item {item!r} is not a non-empty id")
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
                raise ValueError(f"budget of {item!r} is {minutes!r}, not a number of minutes >= 0")
        if max_devices < 1:
            raise ValueError("max_devices must be at least 1")
        self.limits: dict[str, int] = dict(limits)
        self.tz = zone(tz)
        self.max_devices = max_devices
        self._devices: OrderedDict[str, _Day] = OrderedDict()  # least recently seen first
        self._today = (math.inf, -math.inf)  # cached bounds of the last day looked up

    def __bool__(self) -> bool:
        # truthiness means "has budgets" (as for Schedules), not "has counted something"
        return bool(self.limits)

    @property
    def tracked(self) -> int:
        """How many devices have minutes counted (today or a day not yet dropped)."""
        return len(self._devices)

    def devices(self) -> list[str]:
        """The devices counted, least recently seen first (as in to_dict), whatever their day."""
        return list(self._devices)

    # ------------------------------------------------------------------ days

    def _midnight(self, day: dt.date) -> float:
        # fold=0: the first instant of the day, also when midnight falls in a DST gap
        return dt.datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()

    def _bounds(self, now: float) -> tuple[float, float]:
        """[start, end) of the local day holding `now`; cached, as almost every call is today."""
        start, end = self._today
        if start <= now < end:
            return start, end
        d = dt.datetime.fromtimestamp(now, self.tz).date()
        start, end = self._midnight(d), self._midnight(d + dt.timedelta(days=1))
        if now >= end:  # not seen in real zones; keeps days a partition of time regardless
            start, end = end, self._midnight(d + dt.timedelta(days=2))
        self._today = (start, end)
        return start, end

    def reset_at(self, now: float) -> float:
        """The next local midnight: when today's budgets start again."""
        return self._bounds(now)[1]

    def _new_day(self, now: float) -> _Day:
        start, end = self._bounds(now)
        return _Day(start, end, math.floor(start / 60), {})

    # ------------------------------------------------------------------ use

    def record(self, device: str, item: str, now: float) -> bool:
        """Mark the minute of `now` as used by `device` for `item`. True when that minute was
        not counted yet; items without a budget are not counted (False)."""
        if item not in self.limits:
            return False
        day = self._devices.get(device)
        if day is None or not day.start <= now < day.end:
            # a new day replaces the old one, also when the clock went back a day: a
            # router's clock jumping after NTP must not leave a device counting a far day
            day = self._new_day(now)
            if device not in self._devices:
                self._prune_front(now)
                if len(self._devices) >= self.max_devices:
                    self._devices.popitem(last=False)
            self._devices[device] = day
        self._devices.move_to_end(device)
        bit = 1 << (math.floor(now / 60) - day.base)
        mask = day.used.get(item, 0)
        if mask & bit:
            return False
        day.used[item] = mask | bit
        return True

    def _prune_front(self, now: float) -> None:
        # the least recently seen devices come first: their days are the first to end
        while self._devices:
            first = next(iter(self._devices.values()))
            if first.end > now:
                return
            self._devices.popitem(last=False)

    def prune(self, now: float) -> None:
        """Drop every device whose day has ended."""
        for device in [d for d, day in self._devices.items() if not day.start <= now < day.end]:
            del self._devices[device]

    def used(self, device: str, item: str, now: float) -> int:
        """Minutes of `item` used by `device` on the local day of `now`."""
        day = self._devices.get(device)
        if day is None or not day.start <= now < day.end:
            return 0
        return day.used.get(item, 0).bit_count()

    def extra(self, device: str, item: str, now: float) -> int:
        """Minutes a parent added to `item` for `device` on the local day of `now`."""
        day = self._devices.get(device)
        if day is None or not day.start <= now < day.end:
            return 0
        return day.extra.get(item, 0)

    def limit_today(self, device: str, item: str, now: float) -> int:
        return self.limits.get(item, 0) + self.extra(device, item, now)

    def spent(self, device: str, item: str, now: float) -> bool:
        """Has `device` used all of `item`'s budget today? (A budget of 0 is always spent.)"""
        limit = self.limits.get(item)
        return limit is not None and self.used(device, item, now) >= limit + self.extra(device, item, now)

    def exhausted(self, device: str, now: float) -> frozenset[str]:
        """The items whose budget `device` has spent today."""
        return frozenset(item for item, limit in self.limits.items()
                         if self.used(device, item, now) >= limit + self.extra(device, item, now))

    def _today_of(self, device: str, now: float) -> _Day:
        day = self._devices.get(device)
        if day is None or not day.start <= now < day.end:
            day = self._devices[device] = self._new_day(now)
        self._devices.move_to_end(device)
        return day

    def extend(self, device: str, item: str, minutes: int, now: float) -> None:
        """"+30 min today": more of `item` for `device` until local midnight."""
        if item not in self.limits:
            raise ValueError(f"{item!r} has no daily limit in this profile")
        if not 0 < minutes <= 1440:
            raise ValueError("minutes must be between 1 and 1440")
        day = self._today_of(device, now)
        day.extra[item] = min(day.extra.get(item, 0) + minutes, 1440)

    def reset(self, device: str, item: str, now: float) -> None:
        """"Reset today": `device` starts `item` from zero (and without today's extra)."""
        if item not in self.limits:
            raise ValueError(f"{item!r} has no daily limit in this profile")
        day = self._today_of(device, now)
        day.used.pop(item, None)
        day.extra.pop(item, None)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, object]:
        """JSON-safe and versioned; devices least recently seen first."""
        devices = []
        for device, day in self._devices.items():
            date = dt.datetime.fromtimestamp(day.start, self.tz).date().isoformat()
            entry: dict[str, object] = {"device": device, "day": date, "start": day.base,
                                        "used": {item: format(mask, "x") for item, mask in day.used.items()}}
            if day.extra:
                entry["extra"] = dict(day.extra)
            devices.append(entry)
        return {"version": VERSION, "tz": self.tz.key, "limits": dict(self.limits), "devices": devices}

    @classmethod
    def from_dict(cls, data: object, now: float | None = None, max_devices: int = 4096) -> Budgets:
        """The inverse of to_dict; ValueError for anything else (the caller then starts fresh).
        With `now`, days other than today's are dropped."""
        if not isinstance(data, Mapping):
            raise ValueError(f"budgets must be a mapping, not {type(data).__name__}")
        tz, limits = data.get("tz"), data.get("limits")
        if not isinstance(tz, str) or not isinstance(limits, Mapping):
            raise ValueError("budgets need a time zone name and a mapping of limits")
        b = cls(limits, tz, max_devices)
        b.load_usage(data, now)
        return b

    def load_usage(self, data: object, now: float | None = None) -> None:
        """Take the minutes used from a to_dict() result, keeping this object's limits and time
        zone (after a reload the limits may have changed; items without a budget are dropped).
        All or nothing: ValueError leaves the current state as it was."""
        if not isinstance(data, Mapping) or data.get("version") != VERSION:
            raise ValueError(f"budgets: not a version {VERSION} state")
        entries = data.get("devices")
        if not isinstance(entries, list):
            raise ValueError("budgets: 'devices' must be a list")
        today = self._bounds(now) if now is not None else None
        devices: OrderedDict[str, _Day] = OrderedDict()
        for entry in entries[-self.max_devices:]:  # the most recently seen survive the cap
            device, day = self._load_entry(entry)
            if (day.used or day.extra) and (today is None or day.start == today[0]):
                devices[device] = day
                devices.move_to_end(device)
        self._devices = devices

    def _load_entry(self, entry: object) -> tuple[str, _Day]:
        if not isinstance(entry, Mapping):
            raise ValueError("budgets: a device entry is not a mapping")
        device, date, base, used = entry.get("device"), entry.get("day"), entry.get("start"), entry.get("used")
        if not isinstance(device, str) or not device:
            raise ValueError(f"budgets: device {device!r} is not a non-empty string")
        if not isinstance(date, str) or isinstance(base, bool) or not isinstance(base, int) \
                or not isinstance(used, Mapping):
            raise ValueError(f"budgets: entry of {device!r} needs 'day', 'start' and 'used'")
        try:
            d = dt.date.fromisoformat(date)
        except ValueError:
            raise ValueError(f"budgets: {date!r} is not a date") from None
        if not dt.date(1971, 1, 1) <= d <= dt.date(9998, 1, 1):
            raise ValueError(f"budgets: {date!r} is out of range")
        start, end = self._midnight(d), self._midnight(d + dt.timedelta(days=1))
        day = _Day(start, end, math.floor(start / 60), {})
        width = math.ceil((end - start) / 60)
        for item, text in used.items():
            if not isinstance(item, str) or not isinstance(text, str) or not 0 < len(text) <= _MAX_HEX:
                raise ValueError(f"budgets: use of {item!r} by {device!r} is not a hex mask")
            mask = int(text, 16)  # ValueError on garbage
            if mask < 0:
                raise ValueError(f"budgets: use of {item!r} by {device!r} is negative")
            shift = base - day.base  # 0 unless the time zone changed since the save
            if not -4 * _MAX_HEX < shift < width:
                continue  # every stored minute falls outside the day (and a huge shift is garbage)
            mask = (mask << shift if shift >= 0 else mask >> -shift) & ((1 << width) - 1)
            if item in self.limits and mask:
                day.used[item] = mask
        extra = entry.get("extra", {})
        if not isinstance(extra, Mapping):
            raise ValueError(f"budgets: extra minutes of {device!r} are not a mapping")
        for item, minutes in extra.items():
            if not isinstance(item, str) or isinstance(minutes, bool) or not isinstance(minutes, int) \
                    or not 0 < minutes <= 1440:
                raise ValueError(f"budgets: extra minutes of {item!r} for {device!r} are not 1..1440")
            if item in self.limits:
                day.extra[item] = minutes
        return device, day

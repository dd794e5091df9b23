"""Schedules (weekly windows of local time) and pauses, as pure functions of `now`.

Semantics, all on the local wall clock of one IANA time zone:

- A window names the days on which it STARTS. "sun 21:00–07:00" covers Sunday 21:00 to
  Monday 07:00; a window with end <= start crosses midnight. End "24:00" is midnight at the
  end of the start day. Windows are half-open: [start, end).
- Membership is decided by the wall clock (`datetime.fromtimestamp(now, tz)`), so DST is
  handled the way people read clocks:
  * spring forward (Europe/Berlin 2026-03-29, 02:00 -> 03:00): wall times 02:00–02:59 do
    not exist. A 01:00–03:00 window lasts one real hour; a 02:00–02:30 window does not
    happen that night; a 02:30–04:00 window starts at 03:00 (the jump lands inside it).
  * fall back (Europe/Berlin 2026-10-25, 03:00 -> 02:00): wall times 02:00–02:59 happen
    twice and both are inside a 02:00–03:00 window, which so lasts two real hours. A window
    ending inside the repeated hour (say 21:00–02:30) ends at the first 02:30, starts again
    when the clock goes back to 02:00 and ends again at the second 02:30: what a wall clock
    shows, and `next_change` reports each of those moments.
- `Schedules.next_change(now)` is the first instant after `now` at which the set of active
  windows actually changes, so the engine recomputes a profile's state only then. Changes
  happen where the wall clock crosses a window boundary (each real instant of that wall time:
  two in a repeated hour) or where a UTC-offset transition jumps over one; both kinds of
  instants are candidates, and the first candidate whose active set differs is the answer.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dnsfilter.core.msgid import N_, MessageError

__all__ = ["DAY_NAMES", "Pauses", "ScheduleError", "Schedules", "Window", "parse_hhmm", "parse_window", "zone"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_GROUPS: dict[str, frozenset[int]] = {
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
    "daily": frozenset(range(7)),
}
_HHMM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_DAY = dt.timedelta(days=1)
_SEARCH_DAYS = 8  # the pattern repeats weekly: a change, if any, shows up within 7 days
EMPTY = N_("start and end are both %(time)s: the window would be empty")


class ScheduleError(MessageError):
    """Why a window or a time is refused, for the person who wrote it (a parent in the
    schedule editor): English text, a message id and its values (core/msgid.py). `field` is
    the window's part at fault ("start", "end", "days", "block"), "" for the whole window."""

    def __init__(self, message: str, *, field: str = "", words: tuple[str, ...] = (), **params: object) -> None:
        super().__init__(message, words=words, **params)
        self.field = field


def zone(tz: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `tz`, or ValueError (ZoneInfoNotFoundError is a KeyError, which callers
    validating config do not expect)."""
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(N_("unknown time zone %(value)r (an IANA name such as 'Europe/Berlin')"),
                            value=tz) from None


def _fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # 0 = Monday .. 6 = Sunday: the days the window starts on
    start_min: int  # minutes after local midnight, 0..1439
    end_min: int  # 1..1440; <= start_min means the window ends on the next day
    block: str | tuple[str, ...]  # "all" or category/service ids
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", frozenset(self.days))
        if not isinstance(self.block, str):
            object.__setattr__(self, "block", tuple(self.block))
        # day numbers and minutes out of range are a caller's bug (parse_window never makes
        # them), so they stay plain English; the two below can come from what a person wrote
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be a non-empty set of 0 (Monday) .. 6 (Sunday), not {sorted(self.days)}")
        if not 0 <= self.start_min < 1440 or not 0 < self.end_min <= 1440:
            raise ValueError(f"window {self.start_min}..{self.end_min} minutes is outside 00:00–24:00")
        if self.start_min == self.end_min:
            raise ScheduleError(EMPTY, time=_fmt(self.start_min))
        if self.block != "all" and (isinstance(self.block, str) or not self.block
                                    or not all(isinstance(b, str) and b for b in self.block)):
            raise ScheduleError(N_('block must be "all" or a non-empty list of category/service ids'), field="block")

    @property
    def overnight(self) -> bool:
        return self.end_min < self.start_min

    def covers(self, weekday: int, minute: int) -> bool:
        """Is local wall time (weekday, minute of day) inside the window?"""
        if not self.overnight:
            return weekday in self.days and self.start_min <= minute < self.end_min
        return (weekday in self.days and minute >= self.start_min) or (
            (weekday - 1) % 7 in self.days and minute < self.end_min)

    def describe(self) -> str:
        return f"{_fmt(self.start_min)}–{_fmt(self.end_min)}"


def parse_hhmm(text: str, what: str = N_("time")) -> int:
    """"HH:MM" (00:00..24:00) -> minutes after midnight. `what` names the value in an error:
    a message id ("start", "end"), translated by the web UI like the message."""
    m = _HHMM.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None or int(m.group(2)) > 59 or int(m.group(1)) > 24 or (m.group(1) == "24" and m.group(2) != "00"):
        raise ScheduleError(N_("%(what)s %(value)r is not a time of day (HH:MM, 00:00 to 24:00)"),
                            field=what if what in ("start", "end") else "", words=("what",), what=what, value=text)
    return int(m.group(1)) * 60 + int(m.group(2))


def _parse_days(days: Iterable[str] | str) -> frozenset[int]:
    if isinstance(days, str):  # a lone "daily" rather than ["daily"]
        days = [days]
    out: set[int] = set()
    for raw in days:
        d = raw.strip().lower() if isinstance(raw, str) else raw
        if d in _GROUPS:
            out |= _GROUPS[d]
        elif d in DAY_NAMES:
            out.add(DAY_NAMES.index(d))
        elif d in _FULL_NAMES:
            out.add(_FULL_NAMES.index(d))
        else:
            raise ScheduleError(N_("unknown day %(value)r (use mon, tue, wed, thu, fri, sat, sun, "
                                   "weekdays, weekends or daily)"), field="days", value=raw)
    if not out:
        raise ScheduleError(N_("days must name at least one day"), field="days")
    return frozenset(out)


def parse_window(days: list[str], start: str, end: str, block: str | Iterable[str] = "all",
                 name: str = "") -> Window:
    """A window from config values; ScheduleError (a ValueError) with a message fit for the
    user. An empty `name` becomes the window's hours, so reasons always name something."""
    d = _parse_days(days)
    s = parse_hhmm(start, N_("start"))
    e = parse_hhmm(end, N_("end"))
    if s == 1440:
        raise ScheduleError(N_("start 24:00 is not allowed (use 00:00 on the next day)"), field="start")
    if s == e:
        raise ScheduleError(EMPTY, time=_fmt(s))
    if e == 0:  # "until 00:00" is until midnight, the end of the start's day (written 24:00 too)
        e = 1440
    if isinstance(block, str):
        if block != "all":
            raise ScheduleError(N_('block must be "all" or a list of categories/services, not %(value)r'),
                                field="block", value=block)
        b: str | tuple[str, ...] = "all"
    else:
        b = tuple(block)
    return Window(d, s, e, b, name or f"{_fmt(s)}–{_fmt(e)}")


def _ts(day: dt.date, minute: int, tz: zoneinfo.ZoneInfo, fold: int) -> float:
    if minute == 1440:
        day, minute = day + _DAY, 0
    wall = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz, fold=fold)
    return wall.timestamp()


def _offset(t: float, tz: zoneinfo.ZoneInfo) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(t, tz).utcoffset()


def _transition(lo: float, hi: float, tz: zoneinfo.ZoneInfo) -> float | None:
    """The first whole second in (lo, hi] with hi's UTC offset (offsets change on whole
    seconds); None when lo and hi share an offset."""
    target = _offset(hi, tz)
    if _offset(lo, tz) == target:
        return None
    a, b = math.floor(lo), math.ceil(hi)
    while b - a > 1:
        mid = (a + b) // 2
        if _offset(mid, tz) == target:
            b = mid
        else:
            a = mid
    return float(b)


class Schedules:
    """The windows of one profile in one time zone."""

    def __init__(self, windows: Iterable[Window], tz: str) -> None:
        self.windows: tuple[Window, ...] = tuple(windows)
        self.tz = zone(tz)

    def __bool__(self) -> bool:
        return bool(self.windows)

    def active(self, now: float) -> tuple[Window, ...]:
        """The windows covering `now`, in declaration order."""
        if not self.windows:
            return ()
        local = dt.datetime.fromtimestamp(now, self.tz)
        wd, minute = local.weekday(), local.hour * 60 + local.minute
        return tuple(w for w in self.windows if w.covers(wd, minute))

    def _candidates(self, first: dt.date, days: int) -> set[float]:
        walls: set[tuple[dt.date, int]] = set()
        for i in range(days):
            d = first + i * _DAY
            wd = d.weekday()
            for w in self.windows:
                if wd in w.days:
                    walls.add((d, w.start_min))
                    walls.add((d + _DAY if w.overnight else d, w.end_min))
        out: set[float] = set()
        for d, minute in walls:
            t0, t1 = _ts(d, minute, self.tz, 0), _ts(d, minute, self.tz, 1)
            out.add(t0)
            if t0 != t1:
                # repeated or skipped wall time: both instants, and the jump between them
                # (where the clock may pass over the boundary without showing it)
                out.add(t1)
                jump = _transition(min(t0, t1), max(t0, t1), self.tz)
                if jump is not None:
                    out.add(jump)
        return out

    def next_change(self, now: float) -> float:
        """The first instant > now at which `active()` changes. When it never changes (no
        windows, or windows covering the whole week) this is local midnight a week ahead:
        a finite time to look again."""
        today = dt.datetime.fromtimestamp(now, self.tz).date()
        horizon = _ts(today + _SEARCH_DAYS * _DAY, 0, self.tz, 0)
        if not self.windows:
            return horizon
        current = self.active(now)
        # from yesterday: an overnight window started then ends today
        for t in sorted(self._candidates(today - _DAY, _SEARCH_DAYS + 1)):
            if now < t < horizon and self.active(t) != current:
                return t
        return horizon


class Pauses:
    """Pauses by target ("profile:Kids", "device:aa:bb:cc:dd:ee:ff"): plain strings to the
    epoch second the pause ends. Ended pauses are dropped when looked at."""

    MAX_ENTRIES = 4096  # targets come from users; keep the table bounded regardless

    def __init__(self, entries: Mapping[str, float] | None = None) -> None:
        self._until: dict[str, float] = dict(entries or {})

    def pause(self, target: str, until: float) -> None:
        if target not in self._until and len(self._until) >= self.MAX_ENTRIES:
            # full: the pause ending soonest makes room
            del self._until[min(self._until, key=self._until.__getitem__)]
        self._until[target] = float(until)

    def resume(self, target: str) -> bool:
        """True when `target` was paused."""
        return self._until.pop(target, None) is not None

    def paused(self, target: str, now: float) -> float | None:
        """The end of `target`'s pause, or None when it is not paused at `now`."""
        until = self._until.get(target)
        if until is None:
            return None
        if until <= now:
            del self._until[target]
            return None
        return until

    def prune(self, now: float) -> None:
        self._until = {t: u for t, u in self._until.items() if u > now}

    def __len__(self) -> int:
        return len(self._until)

    def to_dict(self) -> dict[str, float]:
        """JSON-safe: {target: until}."""
        return dict(self._until)

    @classmethod
    def from_dict(cls, data: object) -> Pauses:
        """The inverse of to_dict; ValueError for anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"pauses must be a mapping, not {type(data).__name__}")
        entries: dict[str, float] = {}
        for target, until in data.items():
            if not isinstance(target, str) or not target:
                raise ValueError(f"pause target {target!r} is not a non-empty string")
            if isinstance(until, bool) or not isinstance(until, int | float) or until != until \
                    or until in (float("inf"), float("-inf")):
                raise ValueError(f"pause of {target!r} ends at {until!r}, not an epoch time")
            entries[target] = float(until)
        if len(entries) > cls.MAX_ENTRIES:
            raise ValueError(f"{len(entries)} pauses (at most {cls.MAX_ENTRIES})")
        return cls(entries)

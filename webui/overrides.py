"""Expiring allows and blocks from the UI (dnsfilter/core/policy/overrides.py): what "Allow
this" / "Block this" may do for a row of the query log (this device, or its whole profile; for
an hour, until midnight, or always), making them, listing and ending them.

They are written to the runtime store and announced to the daemon (`overrides` on the control
socket), which applies them within the command. "Always" for a whole profile is a config edit
instead (the profile's allow/deny list, shown and changed on its page, like any setting).
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from dataclasses import dataclass

from flask_babel import gettext as _

from dnsfilter.config import Config, ConfigError
from dnsfilter.core.household.macaddr import normalise_mac
from dnsfilter.core.policy.overrides import Override
from dnsfilter.storage.family import family_db, runtime_db
from dnsfilter.storage.store import DeviceStore, open_devices
from webui import control, logview, views

DURATIONS = ("1h", "today", "always")  # what "Allow this" offers
API_DURATIONS = ("15m", *DURATIONS)  # and what the API takes (a child's request may ask for 15 minutes)
SCOPES = ("device", "profile")


@dataclass(frozen=True, slots=True)
class Choice:
    """What a log row offers: its device (if recorded) and the profile a rule would go to."""

    device: str  # "" when the row has none (a profile that does not record devices)
    device_name: str
    profile: str  # the profile the device is in (the default one when it has none of its own)
    assigned: bool  # the device has its own [[devices]] entry, or the profile is a [[profiles]] one
    household: bool  # the config has no [[profiles]]: a profile rule is a rule for everyone


def choice_of(cfg: Config, device: str) -> Choice:
    """ConfigError for a device the UI does not know (nothing to guess)."""
    household = not cfg.profiles
    if not device:
        return Choice("", "", cfg.defaults.profile, False, household)
    row = logview.device_index(cfg).get(device)
    if row is None:
        raise ConfigError("device", _("The device is not known."))
    return Choice(row.id, row.name, row.profile, row.assigned, household)


def until_of(duration: str, tz: str, now: float) -> float | None:
    """The end of "1h" or "today" (local midnight in [general].timezone); None for "always"."""
    if duration == "15m":
        return now + 900.0
    if duration == "1h":
        return now + 3600.0
    if duration == "today":
        local = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(tz))
        midnight = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight.timestamp()  # a DST day's midnight is still the wall clock's 00:00
    if duration == "always":
        return None
    raise ConfigError("for", _("Choose for how long."))


def clock(ts: float, tz: str) -> str:
    return dt.datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(tz)).strftime("%H:%M")


def _store(cfg: Config) -> DeviceStore:
    runtime_db(cfg).parent.mkdir(parents=True, exist_ok=True)
    return open_devices(cfg)


def add(cfg: Config, target: str, name: str, action: str, until: float | None, source: str = "admin") -> Override:
    """Write one override and have the daemon apply it now (it reads the store at start too)."""
    store = _store(cfg)
    try:
        o = store.add_override(target, name, action, until, source)
    finally:
        store.close()
    announce(cfg)
    return o


def announce(cfg: Config) -> bool:
    return control.send(cfg.data_path() / "control.sock", "overrides").ok


def end(cfg: Config, ident: int) -> bool:
    store = _store(cfg)
    try:
        gone = store.remove_override(ident)
    finally:
        store.close()
    if gone:
        announce(cfg)
    return gone


@dataclass(frozen=True, slots=True)
class Shown:
    id: int
    name: str
    action: str
    who: str  # the device's name, or "profile NAME"
    until: str  # the local time it ends, "" for "until removed"
    target: str


def active(cfg: Config, profile: str | None = None, now: float | None = None) -> list[Shown]:
    """The overrides that hold now, for a profile's page (its own and its devices') or all."""
    if not family_db(cfg).exists():  # the daemon creates it at start, older records moved in
        return []
    now = time.time() if now is None else now
    store = open_devices(cfg)
    try:
        items = store.overrides(now)
    finally:
        store.close()
    devices = {d.id: (d.name, d.profile) for d in views.devices(cfg)} if items else {}
    named = views.config_devices(cfg) if items else {}  # not seen since a reboot, yet in a profile
    out = []
    for o in items:
        kind, _sep, who = o.target.partition(":")
        row = (devices.get(who) or named.get(who)) if kind == "device" else None
        owner = row[1] if row is not None else who
        if profile is not None and owner != profile:
            continue
        label = ((row[0] or who) if row is not None else who) if kind == "device" else _("profile %(p)s", p=who)
        out.append(Shown(o.id, o.name, o.action, label, clock(o.until, cfg.general.timezone) if o.until else "",
                         o.target))
    return out



def done_text(action: str, scope: str, name: str, who: str, until: float | None, tz: str) -> str:
    """What was done, in one whole sentence (they translate better than pieces)."""
    t = clock(until, tz) if until is not None else ""
    if action == "allow":
        if scope == "device":
            return (_("%(n)s is allowed on %(d)s until %(t)s.", n=name, d=who, t=t) if until is not None
                    else _("%(n)s is allowed on %(d)s until you remove the rule.", n=name, d=who))
        return (_("%(n)s is allowed for the profile %(p)s until %(t)s.", n=name, p=who, t=t) if until is not None
                else _("%(n)s is allowed for the profile %(p)s until you remove the rule.", n=name, p=who))
    if scope == "device":
        return (_("%(n)s is blocked on %(d)s until %(t)s.", n=name, d=who, t=t) if until is not None
                else _("%(n)s is blocked on %(d)s until you remove the rule.", n=name, d=who))
    return (_("%(n)s is blocked for the profile %(p)s until %(t)s.", n=name, p=who, t=t) if until is not None
            else _("%(n)s is blocked for the profile %(p)s until you remove the rule.", n=name, p=who))


def target_of(cfg: Config, target: str) -> str:
    """`device:ID` of a known device or `profile:NAME` of a profile (the default one included),
    normalised; ConfigError otherwise."""
    kind, _sep, who = target.partition(":")
    if kind == "device" and who:
        try:
            who = normalise_mac(who)  # any notation of a MAC; an address stays as it is
        except ValueError:
            pass
        index = logview.device_index(cfg)
        if who in index:
            return f"device:{index[who].id}"
    if kind == "profile" and who in {p.name for p in cfg.profiles} | {cfg.defaults.profile}:
        return target
    raise ConfigError("target", _("Give device:ID of a known device or profile:NAME of a profile."))

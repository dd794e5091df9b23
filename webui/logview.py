"""What the Dashboard and Query log pages (and their JSON twins) show, read from the query
log (`data_dir/querylog.db`, dnsfilter/storage/logstore.py) and joined with the config: device names as
the Devices page shows them, each profile's privacy mode, reasons in plain words, and the
"Allow this" / "Block this" edits. Shared so that a page and its JSON twin never disagree."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dnsfilter.config import Config, ConfigError
from dnsfilter.storage.logstore import FILE, LogStore
from webui import edits, views
from webui.configfile import Edit, string_array, table

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

MAX_ROWS = 500  # a phone page; the CLI export is there for more
DEFAULT_ROWS = 100
MAX_FILTER = 253  # the longest DNS name
OWN_KEYS = ("name", "device")  # ConfigError keys raised here, with text already in the page's language

# The UI's own words for dnsfilter.core.querylog.PRIVACY_MODES (same meaning, translatable).
PRIVACY_TEXT = {
    "full": _l("Every site looked up is recorded with the device that asked, so you can see who visited what."),
    "anonymous": _l("Sites looked up are recorded, but not which device or person asked."),
    "counts": _l("Only totals are kept (how many lookups and blocks per device each hour); "
                 "no site names are recorded."),
    "off": _l("Nothing is recorded about this profile's devices."),
}
OUTCOMES = {
    "blocked": _l("Blocked"), "resolved": _l("Allowed"), "cached": _l("Allowed (from memory)"),
    "stale": _l("Allowed (old answer)"), "rewritten": _l("Changed (safe search)"), "local": _l("Answered here"),
    "refused": _l("Refused"), "failed": _l("No answer"),
}
# Why, in words a parent understands, by the reason kind the daemon logs.
KIND_TEXT = {
    "deny": _l("Blocked by your deny list"),
    "allow_only": _l("Blocked: not on the list of allowed sites"),
    "schedule": _l("Blocked by a schedule"),
    "budget_blocked": _l("Blocked: the daily limit is used up"),
    "pause": _l("Blocked: the internet is paused"),
    "allow": _l("Allowed by your allow list"),
    "always_allow": _l("Always allowed: a help resource"),
    "allowlist": _l("Allowed: on an allow list"),
    "budget": _l("Allowed, counted toward a daily limit"),
    "safe_search": _l("Safe search turned on"),
    "not_allowed": _l("Refused: this device may not use the filter"),
    "ratelimit": _l("Refused: too many lookups at once"),
    "unsupported": _l("Refused: this kind of lookup is not supported"),
    "busy": _l("Refused: the filter was busy"),
}


OVERRIDE_TEXT = {"allow": _l("Allowed by your rule for now"), "block": _l("Blocked by your rule for now")}


@dataclass(frozen=True, slots=True)
class Logging:
    """How much the log holds: per profile privacy, and whether the file exists yet."""

    exists: bool
    modes: dict[str, str]  # profile -> full | anonymous | counts | off

    @property
    def all_off(self) -> bool:
        return all(m == "off" for m in self.modes.values())

    def notes(self) -> list[tuple[str, str, str]]:
        """(profile, mode, sentence) for every profile: what is recorded about its devices."""
        return [(p, m, str(PRIVACY_TEXT[m])) for p, m in self.modes.items()]

    def as_dict(self) -> dict[str, Any]:
        return {"exists": self.exists, "all_off": self.all_off, "privacy": self.modes,
                "notes": [{"profile": p, "mode": m, "text": t} for p, m, t in self.notes()]}


def logging_of(cfg: Config) -> Logging:
    modes = {p.name: p.privacy for p in cfg.profiles} or {cfg.defaults.profile: "full"}
    return Logging((cfg.data_path() / FILE).exists(), modes)


def open_store(cfg: Config) -> LogStore | None:
    """The log read-only, or None before the daemon first wrote it (the UI never creates it)."""
    path = cfg.data_path() / FILE
    if not path.exists():
        return None
    try:
        return LogStore(path, readonly=True)
    except sqlite3.Error:
        return None


def device_index(cfg: Config) -> dict[str, views.DeviceRow]:
    """Device id as the daemon logs it (MAC or address) -> the Devices page's row."""
    out: dict[str, views.DeviceRow] = {}
    for d in views.devices(cfg):
        for key in (d.id, d.mac, *d.ips):
            if key:
                out.setdefault(key, d)
    return out


def device_label(device: str, index: dict[str, views.DeviceRow]) -> str:
    """The name on the Devices page; an empty device means the log kept none (privacy)."""
    if not device:
        return _("Not recorded")
    row = index.get(device)
    return row.name if row is not None else device


def group_label(group: str) -> str:
    """The rollup's category column (a category, else a service, else a reason kind) in words."""
    if group in views.CATEGORY_NAME:
        return str(views.CATEGORY_NAME[group])
    titles = dict(views.services())
    if group in titles:
        return titles[group]
    if group in ("schedule", "budget", "pause", "deny", "allow_only"):
        return str(KIND_TEXT["budget_blocked" if group == "budget" else group])
    if group == "override":
        return str(OVERRIDE_TEXT["block"])
    return group or _("Other")


def reason_text(row: dict[str, Any]) -> str:
    """'Blocked: Adult content', 'Blocked by your deny list', 'Allowed'..."""
    outcome, kind = row.get("outcome") or "", row.get("kind") or ""
    if kind == "override":  # a parent's rule for now (core/policy/overrides.py)
        return str(OVERRIDE_TEXT["block" if outcome == "blocked" else "allow"])
    if outcome == "blocked":
        if kind == "budget":
            return str(KIND_TEXT["budget_blocked"])
        if kind in KIND_TEXT:
            return str(KIND_TEXT[kind])
        what = row.get("service") or row.get("category") or ""
        if kind in ("category", "authority", "service", "bypass") and what:
            return _("Blocked: %(what)s", what=group_label(what))
        return str(OUTCOMES["blocked"])
    if kind in KIND_TEXT:
        return str(KIND_TEXT[kind])
    return str(OUTCOMES.get(outcome, outcome))


def clock(ts: float, tz: str, with_date: bool = False) -> str:
    t = dt.datetime.fromtimestamp(ts, ZoneInfo(tz))
    return t.strftime("%d.%m %H:%M:%S" if with_date else "%H:%M:%S")


@dataclass(frozen=True, slots=True)
class Filters:
    device: str = ""
    name: str = ""
    outcome: str = ""
    limit: int = DEFAULT_ROWS
    before: str = ""  # a cursor (cursor_of): the rows older than that row
    after: str = ""  # a cursor: the rows newer than that row


# A page's position in the log: "TS_ID", the row's time (repr of the float, exact) and rowid
# (bounded to 18 digits: SQLite's integers are 64-bit, a longer one would overflow, not 400).
_CURSOR = re.compile(r"([0-9]{1,11}(?:\.[0-9]{1,17})?)_([0-9]{1,18})")


def cursor_of(row: dict[str, Any]) -> str:
    return f"{float(row['ts'])!r}_{int(row['id'])}"


def _cursor(text: str) -> tuple[float, int] | None:
    m = _CURSOR.fullmatch(text)
    return (float(m.group(1)), int(m.group(2))) if m else None


def parse_filters(args: Any) -> Filters:
    """The GET form's (or the API's query string's) filters; ConfigError names a bad one."""
    device = (args.get("device") or "").strip()
    name = (args.get("name") or "").strip().lower()
    outcome = (args.get("outcome") or "").strip()
    raw = (args.get("limit") or str(DEFAULT_ROWS)).strip()
    if len(device) > 64:
        raise ConfigError("device", _("The device is not known."))
    if len(name) > MAX_FILTER:
        raise ConfigError("name", _("A site name is at most 253 characters long."))
    if outcome and outcome not in OUTCOMES:
        raise ConfigError("outcome", _("Unknown outcome."))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ROWS:  # "²".isdigit() is True
        raise ConfigError("limit", _("The number of rows must be from 1 to %(n)d.", n=MAX_ROWS))
    # Cursors come from links this app made: taken as sent (empty: none), never tidied.
    before, after = args.get("before") or "", args.get("after") or ""
    for key, text in (("before", before), ("after", after)):
        if text and _cursor(text) is None:
            raise ConfigError(key, _("This page of the log cannot be found. Start again from the newest lookups."))
    if before and after:
        raise ConfigError("after", _("Choose either older or newer lookups, not both."))
    return Filters(device, name, outcome, int(raw), before, after)


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    older: str | None  # the cursor for the next older page, None at the oldest row
    newer: str | None  # the cursor for the next newer page, None at the newest row


def page(cfg: Config, f: Filters) -> Page:
    """One page of rows matching the filters, newest first, with the cursors of its neighbours.
    One row more than the page is read in the direction of travel, to know whether there is a
    next page that way; the other way there is one, since that is where the cursor came from."""
    store = open_store(cfg)
    if store is None:
        return Page([], None, None)
    before, after = _cursor(f.before), _cursor(f.after)
    try:
        found = store.tail(f.limit + 1, device=f.device or None, name=f.name or None, outcome=f.outcome or None,
                           older_than=before, newer_than=after)
    finally:
        store.close()
    more = len(found) > f.limit
    if after is not None:
        found = found[1:] if more else found  # read upwards: the extra row is the newest
        newer = cursor_of(found[0]) if more else None
        older = cursor_of(found[-1]) if found else None
    else:
        found = found[:f.limit]
        older = cursor_of(found[-1]) if more else None
        newer = cursor_of(found[0]) if before is not None and found else None
    return Page(_described(cfg, found), older, newer)


def _described(cfg: Config, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row with the device's name, the local time and the reason in words."""
    index, tz = device_index(cfg), cfg.general.timezone
    midnight = dt.datetime.now(ZoneInfo(tz)).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    for r in found:
        r["device_name"] = device_label(r["device"] or "", index)
        r["time"] = clock(r["ts"], tz, with_date=r["ts"] < midnight)  # the date only when not today
        r["reason"] = reason_text(r)
    return found


def dashboard(cfg: Config, now: float | None = None) -> dict[str, Any]:
    """Today's totals, tops and per-device activity, and the 24 h and 7 day series."""
    store = open_store(cfg)
    tz = cfg.general.timezone
    if store is None:
        return {"summary": None, "series_24h": [], "series_7d": []}
    try:
        summary = store.summary(now=now, tz=tz)
        s24, s7 = store.series("24h", now=now, tz=tz), store.series("7d", now=now, tz=tz)
    finally:
        store.close()
    index = device_index(cfg)
    for d in summary["devices"]:
        d["name"] = device_label(d["device"], index)
    # the rollup's column holds a category, a service, or (for blocks of no category) the reason
    # kind: categories and apps in one list, the reasons ("blocked by a schedule") in their own
    titles = dict(views.services())
    groups: list[dict[str, Any]] = []
    reasons: list[dict[str, Any]] = []
    for c in summary["top_blocked_categories"]:
        c["label"] = group_label(c["category"])
        (groups if c["category"] in views.CATEGORY_NAME or c["category"] in titles else reasons).append(c)
    summary["top_blocked_categories"], summary["top_block_reasons"] = groups, reasons
    return {"summary": summary, "series_24h": s24, "series_7d": s7}


# ------------------------------------------------------------ "Allow this" / "Block this"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a name goes: a profile's allow/deny list, or the household's [filter] (profile None)."""

    profile: str | None

    def done(self, verb: str, name: str) -> str:
        """What was done, in one sentence (whole sentences translate better than pieces)."""
        if self.profile:
            return (_("%(n)s is now allowed in the profile %(p)s.", n=name, p=self.profile) if verb == "allow"
                    else _("%(n)s is now blocked in the profile %(p)s.", n=name, p=self.profile))
        return (_("%(n)s is now allowed for the whole household.", n=name) if verb == "allow"
                else _("%(n)s is now blocked for the whole household.", n=name))


def target_of(cfg: Config, device: str) -> Target:
    """The device's profile when the row names a known device whose profile is a [[profiles]]
    entry; the household's [filter] lists for rows without a device. ConfigError for a device
    that is not known (nothing to guess)."""
    if not device:
        return Target(None)
    row = device_index(cfg).get(device)
    if row is None:
        raise ConfigError("device", _("The device is not known."))
    known = {p.name for p in cfg.profiles}
    return Target(row.profile if row.profile in known else None)


def check_name(name: str) -> str:
    """A plain host name as typed or logged (ASCII: the log holds names as sent, IDNs in
    punycode); the config's own validation checks its labels afterwards."""
    name = name.strip().lower().rstrip(".")
    if not name or len(name) > MAX_FILTER or not all(32 < ord(c) < 127 for c in name) or "." not in name:
        raise ConfigError("name", _("This is not a site name: %(n)s", n=repr(name[:60])))
    return name


def household_allows(cfg: Config, target: Target, verb: str, name: str) -> bool:
    """A profile's new deny rule loses to the same name on the household's allow list (the two
    are merged per profile and the allow rule wins a tie): the parent must be told."""
    return verb == "block" and target.profile is not None and name in cfg.filter.allow


def list_edit(target: Target, name: str, verb: str) -> Edit:
    """Add `name` to the allow (verb "allow") or deny list of `target`, and take it off the
    other one (the two would contradict; the daemon lets an allow rule win a tie, so a new
    deny rule would not take effect while the same name stays allowed)."""
    add, drop = ("allow", "deny") if verb == "allow" else ("deny", "allow")

    def edit(doc: TOMLDocument) -> None:
        if target.profile is None:
            place = table(doc, "filter")
        else:
            place = edits.find_profile(doc, target.profile)
            if place is None:
                raise ConfigError("profile", _("No profile named %(p)s.", p=target.profile))
        current = [str(v) for v in place.get(add, [])]
        if name not in current:
            place[add] = string_array([*current, name])
        other = [str(v) for v in place.get(drop, [])]
        if name in other:
            place[drop] = string_array([v for v in other if v != name])
    return edit

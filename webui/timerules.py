"""Schedules and daily budgets of a profile: the form rows, the config edit and today's use
from the daemon's `usage` control command. Values are validated with the whole config
(`configfile.apply`), so the rules live in one place: dnsfilter.config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from dnsfilter.config import ConfigError
from dnsfilter.config.profiles import Profile
from dnsfilter.config.values import N_
from webui import control, edits
from webui.configfile import Edit, string_array

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = {"mon": _l("Mon"), "tue": _l("Tue"), "wed": _l("Wed"), "thu": _l("Thu"), "fri": _l("Fri"),
             "sat": _l("Sat"), "sun": _l("Sun")}
MAX_ROWS = 20  # a household needs a handful; bounds what a form can make us write


@dataclass(slots=True)
class ScheduleRow:
    name: str = ""
    days: list[str] = field(default_factory=list)
    start: str = ""
    end: str = ""
    everything: bool = True  # the whole internet, or only `block`
    block: list[str] = field(default_factory=list)

    def as_config(self) -> dict[str, Any]:
        return {"name": self.name, "days": list(self.days), "start": self.start, "end": self.end,
                "block": "all" if self.everything else list(self.block)}


def _expand_days(days: tuple[str, ...] | list[str]) -> list[str]:
    """Config day words ("daily", "weekdays", "weekends") as the seven checkboxes."""
    out: list[str] = []
    for d in days:
        d = d.lower()[:3] if d.lower() not in ("daily", "weekdays", "weekends") else d.lower()
        out += {"daily": list(DAYS), "weekdays": list(DAYS[:5]), "weekends": list(DAYS[5:])}.get(d, [d])
    return [d for d in DAYS if d in out]


def rows_of(prof: Profile) -> tuple[list[ScheduleRow], list[tuple[str, str]]]:
    """The profile's schedules as form rows, and its budgets as (item, minutes) text pairs."""
    rows = [ScheduleRow(s.name, _expand_days(s.days), s.start, s.end, s.block == "all",
                        [] if s.block == "all" else list(s.block)) for s in prof.schedules]
    return rows, [(item, str(minutes)) for item, minutes in prof.budgets]


def parse_form(form: Any) -> tuple[list[ScheduleRow], list[tuple[str, str]]]:
    """Rows from the posted form (`s{i}_*` and `b{i}_*`); blank and removed rows are dropped."""
    rows = []
    for i in range(MAX_ROWS):
        if f"s{i}_start" not in form or form.get(f"s{i}_remove"):
            continue
        row = ScheduleRow(str(form.get(f"s{i}_name", "")).strip()[:64], [d for d in DAYS if form.get(f"s{i}_{d}")],
                          str(form.get(f"s{i}_start", "")).strip(), str(form.get(f"s{i}_end", "")).strip(),
                          form.get(f"s{i}_all", "1") == "1", [str(v) for v in form.getlist(f"s{i}_block")])
        if row.start or row.end or row.name:
            rows.append(row)
    budgets = []
    for i in range(MAX_ROWS):
        item = str(form.get(f"b{i}_item", "")).strip()
        minutes = str(form.get(f"b{i}_minutes", "")).strip()
        if item and minutes and not form.get(f"b{i}_remove"):
            budgets.append((item, minutes))
    return rows, budgets


def check_rows(rows: list[ScheduleRow], budgets: list[tuple[str, str]]) -> None:
    """What the config cannot say about a form: a row with no day, a list with nothing in it,
    an item limited twice. ConfigError keys use the config's own names (`schedules[1].days`)."""
    if len(rows) > MAX_ROWS or len(budgets) > MAX_ROWS:
        raise ConfigError("form", _("At most %(n)d schedules and %(n)d limits.", n=MAX_ROWS))
    for i, r in enumerate(rows):
        if not r.days:
            raise ConfigError(f"schedules[{i}].days", _("Choose at least one day."))
        if not r.everything and not r.block:
            raise ConfigError(f"schedules[{i}].block", _("Choose what to block, or the whole internet."))
    seen: set[str] = set()
    for item, _minutes in budgets:
        if item in seen:
            raise ConfigError(f"budgets.{item}", _("This has two limits: keep one."))
        seen.add(item)


def set_time_rules(name: str, rows: list[ScheduleRow], budgets: list[tuple[str, str]]) -> Edit:
    """Replace the profile's schedules and budgets (other keys and comments are kept)."""
    check_rows(rows, budgets)

    def edit(doc: TOMLDocument) -> None:
        import tomlkit  # at the first edit, as in configfile

        prof = edits.find_profile(doc, name)
        if prof is None:
            raise ConfigError("profile", N_("no profile named %(name)r"), name=name)
        if "schedules" in prof:
            del prof["schedules"]
        if "budgets" in prof:
            del prof["budgets"]
        if budgets:
            table = tomlkit.inline_table()
            for item, minutes in budgets:
                table[item] = f"{minutes}m" if minutes.isdigit() else minutes
            prof["budgets"] = table
        if rows:
            aot = tomlkit.aot()
            for r in rows:
                t = tomlkit.table()
                for key, value in r.as_config().items():
                    t[key] = string_array(value) if isinstance(value, list) else value
                aot.append(t)
            prof["schedules"] = aot
    return edit


def field_of(key: str) -> str:
    """The form field a ConfigError key points at: `profiles[0].schedules[1].start` → `s1_start`,
    `profiles[0].schedules[1]` → `s1`, `profiles[0].budgets.youtube` → `budget_youtube`."""
    import re

    m = re.search(r"schedules\[(\d+)\](?:\.(\w+))?", key)
    if m:
        return f"s{m.group(1)}_{m.group(2)}" if m.group(2) else f"s{m.group(1)}"
    m = re.search(r"budgets\.([\w.-]+)", key)
    if m:
        return f"budget_{m.group(1)}"
    return "form"


def api_field(key: str) -> str | None:
    """The JSON path a ConfigError key points at: `profiles[0].schedules[1].start` →
    `schedules[1].start`; None when it is not about schedules or budgets."""
    import re

    m = re.search(r"(?:schedules|budgets)\S*", key)
    return m.group(0) if m else None


# ------------------------------------------------------------------ today's use


@dataclass(frozen=True, slots=True)
class Usage:
    running: bool
    message: str
    profiles: dict[str, Any]  # the `usage` reply: profile -> {limits, reset_at, devices}


def usage(socket_path: Any) -> Usage:
    reply = control.send(socket_path, "usage", timeout=3.0)
    data = reply.data.get("usage") if reply.ok else None
    if not isinstance(data, dict):
        return Usage(False, reply.reason if not reply.ok else _(control.UNREADABLE), {})
    return Usage(True, "", data)


def usage_rows(u: Usage, profile: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    """[{device, name, items: [{item, used, limit}]}] for one profile, by device name."""
    devices = (u.profiles.get(profile) or {}).get("devices") or {}
    out = []
    for device, items in devices.items():
        if not isinstance(items, dict):
            continue
        out.append({"device": device, "name": names.get(device, device),
                    "items": [{"item": k, "used": int(v.get("used", 0)), "limit": int(v.get("limit", 0)),
                               "extra": int(v.get("extra", 0))}
                              for k, v in sorted(items.items()) if isinstance(v, dict)]})
    return sorted(out, key=lambda r: str(r["name"]).lower())


def from_json(body: Mapping[str, Any]) -> tuple[list[ScheduleRow] | None, list[tuple[str, str]] | None]:
    """`schedules` ([{name, days, start, end, block}]) and `budgets` ({item: "60m"}) of an API
    call; None for a key left out. ConfigError for wrong JSON types, with N_ message ids: the
    API answers through webui.error_text in the session's language, as its other errors do."""
    rows = budgets = None
    if "schedules" in body:
        raw = body["schedules"]
        if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
            raise ConfigError("schedules", N_("must be a list of objects {name, days, start, end, block}"))
        rows = []
        for i, r in enumerate(raw):
            days, block = r.get("days", ["daily"]), r.get("block", "all")
            if not isinstance(days, list) or not all(isinstance(d, str) for d in days):
                raise ConfigError(f"schedules[{i}].days", N_("must be a list of day names"))
            if block != "all" and not (isinstance(block, list) and all(isinstance(b, str) for b in block)):
                raise ConfigError(f"schedules[{i}].block", N_('must be "all" or a list of categories and services'))
            for key in ("name", "start", "end"):
                if not isinstance(r.get(key, ""), str):
                    raise ConfigError(f"schedules[{i}].{key}", N_("must be a string"))
            rows.append(ScheduleRow(r.get("name", ""), _expand_days(days), r.get("start", ""), r.get("end", ""),
                                    block == "all", [] if block == "all" else list(block)))
    if "budgets" in body:
        raw = body["budgets"]
        if not isinstance(raw, dict) or not all(isinstance(v, str | int) and not isinstance(v, bool)
                                                for v in raw.values()):
            raise ConfigError("budgets", N_('must be an object {item: "60m"}'))
        budgets = [(str(k), str(v)) for k, v in raw.items()]
    return rows, budgets


def as_json(prof: Profile) -> dict[str, Any]:
    return {"schedules": [{"name": s.name, "days": list(s.days), "start": s.start, "end": s.end,
                           "block": s.block if s.block == "all" else list(s.block)} for s in prof.schedules],
            "budgets": {item: minutes for item, minutes in prof.budgets}}

"""What the pages and the API show: devices from the store joined with the config, and the
plain-language text of categories. Shared so that a page and its JSON twin never disagree."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from dnsfilter.config import Config, ConfigError
from dnsfilter.config.values import N_
from dnsfilter.core.household.macaddr import normalise_mac
from dnsfilter.storage.family import runtime_db
from dnsfilter.storage.store import open_devices
from webui import edits
from webui.configfile import Edit

NEW_FOR = 7 * 86400  # a device nobody has placed in a profile is "new" for its first week

# What each category blocks, in words a parent understands.
CATEGORY_TEXT = {
    "ads": _l("Banners and pop-ups on websites and in apps."),
    "trackers": _l("Services that follow what you do across sites."),
    "malware": _l("Viruses and other harmful programs."),
    "phishing": _l("Fake sites that steal passwords and bank cards."),
    "adult": _l("Pornography and other adult content."),
    "gambling": _l("Betting, casinos and lotteries."),
    "dating": _l("Dating sites and apps."),
    "social": _l("Facebook, VKontakte, Instagram and the like."),
    "games": _l("Online games."),
    "video": _l("Video sites and streaming."),
    "drugs": _l("Drugs and alcohol."),
    "violence": _l("Violence, weapons and hate."),
    "piracy": _l("Pirated films, music and programs."),
    "bypass": _l("VPNs, proxies and other DNS services that get around the filter."),
    "custom": _l("Your own lists."),
}
CATEGORY_NAME = {
    "ads": _l("Ads"), "trackers": _l("Trackers"), "malware": _l("Malware"), "phishing": _l("Phishing"),
    "adult": _l("Adult content"), "gambling": _l("Gambling"), "dating": _l("Dating"), "social": _l("Social networks"),
    "games": _l("Games"), "video": _l("Video"), "drugs": _l("Drugs"), "violence": _l("Violence"),
    "piracy": _l("Piracy"), "bypass": _l("Filter bypass"), "custom": _l("Custom lists"),
}
TOGGLE_CATEGORIES = tuple(c for c in CATEGORY_TEXT if c != "custom")


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    mac: str | None
    name: str
    vendor: str | None
    ips: tuple[str, ...]
    last_seen: float
    profile: str
    assigned: bool  # has its own [[devices]] entry in the config
    new: bool

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ips"] = list(self.ips)
        return d


def config_devices(cfg: Config) -> dict[str, tuple[str, str]]:
    """(name, profile) by normalised MAC, and by address for single-address entries."""
    out = {}
    for d in cfg.devices:
        if d.mac:
            out[normalise_mac(d.mac)] = (d.name, d.profile)
        elif d.ip:
            out[d.ip] = (d.name, d.profile)
    return out


def devices(cfg: Config, now: float | None = None) -> list[DeviceRow]:
    """Devices seen by the daemon, the most recent first; the store is only read if it exists
    (the UI must not create the daemon's database)."""
    if not runtime_db(cfg).exists():
        return []
    store = open_devices(cfg)
    try:
        seen = store.list_devices()
    finally:
        store.close()
    now = time.time() if now is None else now
    named = config_devices(cfg)
    rows = []
    for d in seen:
        key = d.get("mac") or (d["ips"][0] if len(d.get("ips") or ()) == 1 else "")
        name, profile = named.get(key, ("", ""))
        rows.append(DeviceRow(
            id=d["id"], mac=d.get("mac"), name=name or d.get("hostname") or d.get("vendor") or d["id"],
            vendor=d.get("vendor"), ips=tuple(d.get("ips") or ()), last_seen=float(d["last_seen"]),
            profile=profile or d.get("profile") or cfg.defaults.profile, assigned=bool(profile),
            new=not profile and now - float(d["first_seen"]) < NEW_FOR))
    return rows


def assign_edit(cfg: Config, device: str, profile: str, name: str) -> Edit:
    """The edit that puts `device` (a MAC, or the id of a MAC-less device with one address)
    in `profile`; ConfigError when it is neither."""
    try:
        mac = normalise_mac(device)
    except ValueError:
        row = next((d for d in devices(cfg) if d.id == device), None)
        if row is None or row.mac or len(row.ips) != 1:
            raise ConfigError("device", N_("%(value)r is not a MAC address or a known device"), value=device[:40]) from None
        return edits.assign_device_ip(row.ips[0], profile, name)
    return edits.assign_device(mac, profile, name)


def profile_names(cfg: Config) -> list[str]:
    names = [p.name for p in cfg.profiles]
    return names or [cfg.defaults.profile]


def services() -> list[tuple[str, str]]:
    """(id, title) of every blockable service, by title."""
    from feeds.services import load_services

    return sorted(((sid, s.title) for sid, s in load_services().items()), key=lambda t: t[1].lower())


GROUP_TITLE = {
    "social": _l("Social networks"), "video": _l("Video"), "games": _l("Games"), "messaging": _l("Messengers"),
    "streaming": _l("Films and music streaming"), "ai": _l("AI chat bots"), "dating": _l("Dating"),
    "adult": _l("Adult content"), "shopping": _l("Online shops"),
}


def services_by_group(find: str = "") -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(group id, its title, [(id, title)]) of the services whose title or id contains `find`
    (all when empty), groups in a fixed order, empty groups left out."""
    from feeds.services import GROUPS, load_services

    needle = find.strip().lower()
    found = {sid: s for sid, s in load_services().items()
             if not needle or needle in s.title.lower() or needle in sid}
    out = []
    for g in GROUPS:
        items = sorted(((sid, s.title) for sid, s in found.items() if s.group == g), key=lambda t: t[1].lower())
        if items:
            out.append((g, str(GROUP_TITLE.get(g, g)), items))
    return out


def field_of(key: str) -> str:
    """The form field a ConfigError key points at: `profiles[2].deny[0]` → `deny`."""
    last = key.rsplit(".", 1)[-1]
    return last.split("[", 1)[0] or "form"


# service groups (feeds.services.GROUPS) that are not also a category
GROUP_NAME = {"messaging": _l("Messengers"), "streaming": _l("Films and music streaming"),
              "ai": _l("AI chat bots"), "shopping": _l("Online shops")}


def item_choices() -> list[tuple[str, str]]:
    """(id, label) of what a schedule or a limit can name: categories, service groups, services."""
    cats = [(c, str(CATEGORY_NAME[c])) for c in TOGGLE_CATEGORIES]
    known = {c for c, _t in cats}
    from feeds.services import GROUPS

    groups = [(g, str(GROUP_NAME.get(g, g))) for g in GROUPS if g not in known]
    return cats + groups + services()

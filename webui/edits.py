"""The edits the UI makes to the config file, as functions of a tomlkit document. Each one
only changes the keys it owns; `configfile.apply` validates the whole result afterwards."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dnsfilter.config import SECURITY_SET
from dnsfilter.config.values import N_, ConfigError
from dnsfilter.core.household.macaddr import normalise_mac
from webui.configfile import Edit, array_of_tables, new_table, string_array, table

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

# The protection levels offered at setup, as blocked categories of the default profile.
LEVELS: dict[str, tuple[str, ...]] = {
    "basic": SECURITY_SET,
    "family": (*SECURITY_SET, "adult", "gambling", "drugs", "violence", "piracy"),
    "strict": (*SECURITY_SET, "adult", "gambling", "drugs", "violence", "piracy", "dating", "social",
               "games", "video"),
}
PROFILE_SWITCHES = ("safe_search", "block_bypass")


def default_profile_name(doc: TOMLDocument) -> str:
    defaults = doc.get("defaults", {})
    profiles = doc.get("profiles", [])
    first = str(profiles[0].get("name", "Default")) if profiles else "Default"
    return str(defaults.get("profile", first))


def find_profile(doc: TOMLDocument, name: str) -> Any | None:
    for p in doc.get("profiles", []):
        if p.get("name") == name:
            return p
    return None


def set_timezone(tz: str) -> Edit:
    def edit(doc: TOMLDocument) -> None:
        table(doc, "general")["timezone"] = tz
    return edit


def set_protection_level(level: str) -> Edit:
    """The default profile's categories: its own list when it is a [[profiles]] entry,
    otherwise [defaults].block_categories (what profile-less clients get)."""
    if level not in LEVELS:
        raise ConfigError("level", N_("unknown protection level %(value)r"), value=level[:40])

    def edit(doc: TOMLDocument) -> None:
        prof = find_profile(doc, default_profile_name(doc))
        target = prof if prof is not None else table(doc, "defaults")
        target["block_categories"] = string_array(list(LEVELS[level]))
    return edit


def assign_device(mac: str, profile: str, name: str) -> Edit:
    """Put the device with this MAC in `profile`: its [[devices]] entry is updated, or one is
    added. Raises ConfigError for a malformed MAC before anything is read."""
    try:
        mac = normalise_mac(mac)
    except ValueError:
        raise ConfigError("mac", N_("%(value)r is not a MAC address"), value=mac[:40]) from None

    def edit(doc: TOMLDocument) -> None:
        devices = array_of_tables(doc, "devices")
        for d in devices:
            raw = d.get("mac")
            try:
                same = raw is not None and normalise_mac(str(raw)) == mac
            except ValueError:
                same = False
            if same:
                d["profile"] = profile
                if name:
                    d["name"] = name  # renamed on the Devices page
                return
        entry = new_table()
        entry["name"] = name or mac
        entry["mac"] = mac
        entry["profile"] = profile
        devices.append(entry)
    return edit


def assign_device_ip(ip: str, profile: str, name: str) -> Edit:
    """Put the device at this one address in `profile`, for devices seen without a MAC (routed,
    loopback or a host whose neighbour entry is unknown): its `ip` entry is updated or added."""
    try:
        ip = str(ipaddress.ip_address(ip))
    except ValueError:
        raise ConfigError("ip", N_("%(value)r is not an IP address"), value=ip[:40]) from None

    def edit(doc: TOMLDocument) -> None:
        devices = array_of_tables(doc, "devices")
        for d in devices:
            if d.get("mac") is None and d.get("cidr") is None and str(d.get("ip", "")) == ip:
                d["profile"] = profile
                if name:
                    d["name"] = name
                return
        entry = new_table()
        entry["name"] = name or ip
        entry["ip"] = ip
        entry["profile"] = profile
        devices.append(entry)
    return edit


def household_level(doc: TOMLDocument | None = None) -> tuple[str, ...]:
    """The categories of the household's default profile (what setup's level chose): a new
    profile starts from them, not from the bare security set."""
    from dnsfilter import config as config_mod
    from webui import load_config

    try:
        cfg = config_mod.from_dict(doc.unwrap()) if doc is not None else load_config()
    except config_mod.ConfigError:
        return SECURITY_SET
    prof = next((p for p in cfg.profiles if p.name == cfg.defaults.profile), None)
    if prof is not None and prof.block_categories is not None:
        return prof.block_categories
    return cfg.defaults.block_categories


def add_profile(name: str, categories: Iterable[str] | None = None) -> Edit:
    """A new [[profiles]] entry blocking `categories` (None: the household's level)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ConfigError("name", N_("a profile needs a name of 1 to 64 characters"))

    def edit(doc: TOMLDocument) -> None:
        if find_profile(doc, name) is not None:
            raise ConfigError("name", N_("a profile named %(name)r already exists"), name=name)
        cats_new = list(categories) if categories is not None else list(household_level(doc))
        had_profiles = bool(doc.get("profiles"))
        profiles = array_of_tables(doc, "profiles")
        if not had_profiles:
            # the first [[profiles]] entry would otherwise become everyone's default: keep the
            # household's current protection as the explicit default profile
            base = new_table()
            base["name"] = default_profile_name(doc)
            cats = doc.get("defaults", {}).get("block_categories")
            base["block_categories"] = string_array(list(cats) if cats is not None else list(SECURITY_SET))
            profiles.append(base)
            table(doc, "defaults")["profile"] = base["name"]
            if base["name"] == name:
                return
        entry = new_table()
        entry["name"] = name
        entry["block_categories"] = string_array(cats_new)
        profiles.append(entry)
    return edit


def update_profile(name: str, changes: dict[str, Any]) -> Edit:
    """Set the given keys of the profile (block_categories, block_services, allow, deny,
    safe_search, block_bypass); values are validated with the whole config afterwards."""
    allowed = {"block_categories", "block_services", "allow", "deny", "privacy", *PROFILE_SWITCHES}
    unknown = set(changes) - allowed
    if unknown:
        raise ConfigError(sorted(unknown)[0], N_("cannot be changed here"))

    def edit(doc: TOMLDocument) -> None:
        prof = find_profile(doc, name)
        if prof is None:
            raise ConfigError("profile", N_("no profile named %(name)r"), name=name)
        for key, value in changes.items():
            prof[key] = string_array(list(value)) if isinstance(value, list | tuple) else value
    return edit


def parse_names(text: str) -> list[str]:
    """One name per line (or separated by spaces/commas), as typed into an allow/deny box; a
    pasted address (`https://www.youtube.com/watch?v=…`) is reduced to its host name."""
    out = []
    for w in text.replace(",", " ").split():
        w = w.strip().lower()
        if "/" in w:
            from urllib.parse import urlsplit

            try:
                host = urlsplit(w if "//" in w else f"//{w}").hostname
            except ValueError:
                host = None
            w = host or w  # not an address after all: the config's check says what is wrong
        if w:
            out.append(w)
    return out


def forget_device(mac: str | None, ip: str | None) -> Edit:
    """Drop the [[devices]] entry of this MAC (or of this one address): the device goes back to
    the default profile, and is listed as new if it comes back."""
    def edit(doc: TOMLDocument) -> None:
        devices = doc.get("devices")
        if devices is None:
            return
        drop = []
        for i, d in enumerate(devices):
            raw = d.get("mac")
            try:
                same = mac is not None and raw is not None and normalise_mac(str(raw)) == mac
            except ValueError:
                same = False
            if same or (ip is not None and raw is None and d.get("cidr") is None and str(d.get("ip", "")) == ip):
                drop.append(i)
        if len(drop) == len(devices):
            del doc["devices"]
            return
        for i in reversed(drop):
            del devices[i]
    return edit

"""Config sections about people and devices: `[[profiles]]` (with their schedules and
budgets), `[[devices]]` and `[network]` (how devices are recognised)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dnsfilter.config.feeds import CATEGORIES
from dnsfilter.config.values import N_, ConfigError, Section, check_name, network
from feeds.safesearch import YOUTUBE_MODES


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """A recurring window (local time) that blocks `all` or the listed categories/services."""

    name: str
    days: tuple[str, ...]
    start: str
    end: str
    block: str | tuple[str, ...]  # "all" or category/service ids


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    block_categories: tuple[str, ...] | None = None  # None: [defaults].block_categories
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    block_services: tuple[str, ...] = ()
    safe_search: bool = False
    youtube: str = "strict"  # with safe_search: strict | moderate | off
    block_bypass: bool = False
    allow_only: bool = False  # only `allow` (and always_allow) names resolve
    schedules: tuple[ScheduleRule, ...] = ()
    budgets: tuple[tuple[str, int], ...] = ()  # (category or service id, minutes per day)
    privacy: str = "full"  # query log: full | anonymous | counts | off (core/querylog.PRIVACY_MODES)
    block_page: bool = False  # blocked A/AAAA answer with the portal's address: plain-HTTP visits see why

    def wanted_categories(self, default: tuple[str, ...]) -> tuple[str, ...]:
        """Every category this profile asks the lists for: blocked (its own set, or `default`),
        named by a schedule, or under a daily budget; in CATEGORIES order. `allow_only` needs
        no list (everything not allowed is blocked)."""
        if self.allow_only:
            return ()
        wanted = set(self.block_categories if self.block_categories is not None else default)
        wanted |= {i for i, _m in self.budgets} | {i for r in self.schedules if r.block != "all" for i in r.block}
        if self.block_bypass:
            wanted.add("bypass")
        return tuple(c for c in CATEGORIES if c in wanted)


def unenforced(wanted: tuple[str, ...], covered: set[str] | frozenset[str]) -> tuple[str, ...]:
    """The wanted categories with no list in force. `custom` is the profile's own rules and
    `authority` lists apply to everyone: neither is a promise a category list keeps."""
    return tuple(c for c in wanted if c not in covered and c not in ("custom", "authority"))


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    profile: str
    ip: str | None = None
    cidr: str | None = None
    mac: str | None = None


@dataclass(frozen=True, slots=True)
class Network:
    """How devices are recognised on the LAN."""

    neighbours: bool = True  # MACs from the kernel neighbour table (ARP/NDP)
    lease_files: tuple[str, ...] = ()  # DHCP leases for hostnames (dnsmasq, odhcpd, ISC dhcpd)
    trusted_forwarders: tuple[str, ...] = ()  # may tell us the client (dnsmasq's EDNS MAC options 65001/65073, ECS /32)


def names_of(sec: Section, name: str) -> tuple[str, ...]:
    return tuple(check_name(v, f"{sec.key(name)}[{i}]", wildcard=True)
                 for i, v in enumerate(sec.strings(name, ())))


def categories_of(sec: Section, name: str, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if name not in sec.data:
        sec.seen.add(name)
        return default
    values = sec.strings(name, ())
    for i, c in enumerate(values):
        if c not in CATEGORIES:
            raise ConfigError(f"{sec.key(name)}[{i}]", N_("unknown category %(value)r (known: %(known)s)"),
                              value=c, known=", ".join(CATEGORIES))
    return values


def service_ids() -> frozenset[str]:
    from feeds.services import load_services  # cached: the bundled file is read once

    return frozenset(load_services())


def _item(value: str, key: str) -> str:
    """A category or service id (what schedules and budgets name)."""
    from feeds.services import GROUPS

    if value in CATEGORIES or value in service_ids() or value in GROUPS:
        return value
    raise ConfigError(key, N_("%(value)r is neither a category nor a service id "
                              "(categories: %(known)s; services: see `dnsfilter services`)"),
                      value=value, known=", ".join(CATEGORIES))


DAY_MINUTES = 24 * 60  # budget.parse_duration's default maximum


def parse_minutes(text: Any, key: str) -> int:
    """"60m", "2h", "1h30m" or a number of minutes."""
    from dnsfilter.core.household.budget import parse_duration

    try:
        return parse_duration(text)
    except (ValueError, TypeError):
        pass
    # the core's reason is English prose: say it again as a message id the web UI translates,
    # telling "not a duration" from "too long" by parsing once more without the day's limit
    try:
        minutes = parse_duration(text, maximum=1 << 30)
    except (ValueError, TypeError):
        raise ConfigError(key, N_('%(value)r is not a duration (e.g. "60m", "2h", "1h30m" or "90" for minutes)'),
                          value=text) from None
    raise ConfigError(key, N_("%(value)r is %(minutes)s minutes: must be between 0 and %(maximum)s"),
                      value=text, minutes=minutes, maximum=DAY_MINUTES)


def _hhmm(s: Section, name: str) -> str:
    from dnsfilter.core.household.schedule import parse_hhmm

    text = s.get(name, str, None)
    if text is None:
        raise ConfigError(s.key(name), N_("is required (HH:MM, local time)"))
    try:
        minutes = parse_hhmm(text)
    except ValueError:
        raise ConfigError(s.key(name), N_("%(value)r is not a time of day (HH:MM, 00:00 to 24:00)"),
                          value=text) from None
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _schedule(s: Section, index: int) -> ScheduleRule:
    from dnsfilter.core.household.schedule import ScheduleError, parse_window

    days = s.strings("days", ("daily",))
    start, end = _hhmm(s, "start"), _hhmm(s, "end")
    raw = s.get("block", (str, list), "all")
    if raw == "all":
        block: str | tuple[str, ...] = "all"
    elif isinstance(raw, list) and raw and all(isinstance(v, str) for v in raw):
        block = tuple(_item(v, f"{s.key('block')}[{i}]") for i, v in enumerate(raw))
    else:
        raise ConfigError(s.key("block"), N_('must be "all" or a non-empty list of categories and services'))
    name = s.get("name", str, f"schedule {index + 1}")
    try:
        parse_window(list(days), start, end, block, name)
    except ScheduleError as e:  # its message id goes on, next to the part of the window at fault
        raise ConfigError(s.key(e.field) if e.field else s.prefix, e.message, words=e.words, **e.params) from None
    s.done()
    return ScheduleRule(name, days, start, end, block)


def parse_profile(s: Section) -> Profile:
    name = s.get("name", str, "")
    if not name:
        raise ConfigError(s.key("name"), N_("every profile needs a name"))
    services = s.strings("block_services", ())
    from feeds.services import GROUPS

    for i, sid in enumerate(services):
        if sid not in service_ids() and sid not in GROUPS:
            raise ConfigError(f"{s.key('block_services')}[{i}]",
                              N_("unknown service %(value)r (a service id, or a group: %(groups)s)"),
                              value=sid, groups=", ".join(GROUPS))
    youtube = s.get("youtube", str, "strict")
    if youtube not in YOUTUBE_MODES:
        raise ConfigError(s.key("youtube"), N_("must be one of %(modes)s"), modes=", ".join(YOUTUBE_MODES))
    raw_budgets = s.get("budgets", dict, {})
    budgets = tuple((_item(k, f"{s.key('budgets')}.{k}"), parse_minutes(v, f"{s.key('budgets')}.{k}"))
                    for k, v in raw_budgets.items())
    privacy = s.get("privacy", str, "full")
    if privacy not in ("full", "anonymous", "counts", "off"):
        raise ConfigError(s.key("privacy"), N_("must be full, anonymous, counts or off"))
    sched = s.get("schedules", list, [])
    schedules = tuple(_schedule(Section(f"{s.key('schedules')}[{i}]", item), i) for i, item in enumerate(sched))
    p = Profile(name, categories_of(s, "block_categories", None), names_of(s, "allow"), names_of(s, "deny"),
                services, s.get("safe_search", bool, False), youtube, s.get("block_bypass", bool, False),
                s.get("allow_only", bool, False), schedules, budgets, privacy, s.get("block_page", bool, False))
    s.done()
    return p


def parse_device(s: Section, profiles: list[str]) -> Device:
    name = s.get("name", str, "")
    profile = s.get("profile", str, "")
    if profile not in profiles:
        raise ConfigError(s.key("profile"), N_("no profile named %(name)r"), name=profile)
    ip = s.get("ip", str, None)
    cidr = s.get("cidr", str, None)
    mac = s.get("mac", str, None)
    if ip is not None:
        network(ip, s.key("ip"))
    if cidr is not None:
        network(cidr, s.key("cidr"))
    if mac is not None:
        from dnsfilter.core.household.macaddr import normalise_mac

        try:
            mac = normalise_mac(mac)
        except ValueError:
            raise ConfigError(s.key("mac"), N_("%(value)r is not a MAC address (e.g. aa:bb:cc:dd:ee:ff)"),
                              value=mac) from None
    if ip is None and cidr is None and mac is None:
        raise ConfigError(s.prefix, N_("a device needs mac, ip or cidr"))
    dev = Device(name or mac or ip or cidr or "", profile, ip, cidr, mac)
    s.done()
    return dev


def parse_network(s: Section) -> Network:
    from dnsfilter.config.values import networks

    base = Network()
    n = Network(s.get("neighbours", bool, base.neighbours),
                tuple(s.strings("lease_files", base.lease_files)),
                networks(s.strings("trusted_forwarders", ()), s.key("trusted_forwarders")))
    s.done()
    return n


__all__ = ["Device", "Network", "Profile", "ScheduleRule", "check_name", "parse_device", "parse_network",
           "parse_profile", "categories_of", "names_of"]

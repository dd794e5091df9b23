"""The TOML config file: frozen dataclasses per section, defaults, and validation.

Every error names its key (`dns.listen[1]`) and says what is wrong in one line, so that
`dnsfilter config check` and a reload that keeps the old config can both explain themselves.

This module holds `load`, `from_dict` and `Config`; `values` the shared value parsers and
ConfigError, `feeds` the `[[feeds]]` tables, `profiles` the profiles, devices and schedules,
`provider` the managed router's `[provider]` and the merge of its bundle under the household's file,
`resolver` the `[dns]` section, `firewall` the `[firewall]` section.
Must not import: `dnsfilter.shell`, `dnsfilter.storage`, `dnsfilter.router` or `webui` (the
config is read by all of them).
"""

from __future__ import annotations

import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnsfilter.config import upstreams as _upstreams
from dnsfilter.config.feeds import CATEGORIES, Feed, Tsig, parse_catalog_mirror, parse_feed  # noqa: F401 - re-exported
from dnsfilter.config.firewall import DOH_RESOLVERS, Firewall, parse_firewall  # noqa: F401 - re-exported
from dnsfilter.config.portal import Notify, Portal, parse_notify, parse_portal
from dnsfilter.config.profiles import (
    Device,
    Network,
    Profile,
    categories_of,
    names_of,
    parse_device,
    parse_network,
    parse_profile,
)
from dnsfilter.config.provider import Managed, Provider, merge, parse_provider, read_bundle
from dnsfilter.config.resolver import DEFAULT_ALLOWED, Dns, parse_dns  # noqa: F401 - re-exported
from dnsfilter.config.rpz import Rpz, parse_rpz
from dnsfilter.config.values import (
    N_,
    ConfigError,
    Listen,  # noqa: F401 - re-exported
    Section,
    check_name,
    parse_listen,
    read_text,
    toml_position,
)

upstream_warnings = _upstreams.warnings

# a hand-edited file that does not parse (the web UI's pages and edits say it too)
BROKEN_TOML = N_("%(path)s: not valid TOML: %(detail)s (line %(line)s, column %(column)s)")
SECURITY_SET = ("ads", "trackers", "malware", "phishing")



@dataclass(frozen=True, slots=True)
class General:
    hostname: str = "dnsfilter.lan"
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Storage:
    data_dir: str = "var"
    log_days: float = 7.0  # query log retention
    log_max_mb: float = 64.0  # size cap of data_dir/querylog.db (the oldest rows go first)
    log_mode: str = "disk"  # disk: written every few seconds; ram: kept in memory, flushed rarely (flash)
    log_flush: float = 0.0  # seconds between writes; 0: 5 s on disk, 600 s in ram mode
    # the family's small state (the web UI's account, pauses and budgets): "" keeps it in data_dir;
    # a router with data_dir in RAM points it at flash (the OpenWrt package: /etc/dnsfilter)
    state_dir: str = ""
    # records each query-log ring holds between two drains (2 s) at most, a power of two; beyond
    # it a flood's oldest records are overwritten and estimated (docs/querylog.md "Floods")
    log_ring: int = 16384


@dataclass(frozen=True, slots=True)
class Web:
    listen: str = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class Filter:
    """Household-wide rules: `deny` blocks a name and its subdomains for everyone; `allow`
    un-blocks names caught by a list (never an authority list)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Protection:
    """Helplines and health resources: never blocked by categories (only by an explicit
    deny rule or an authority list)."""

    always_allow: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Defaults:
    profile: str = "Default"
    block_categories: tuple[str, ...] = SECURITY_SET


@dataclass(frozen=True, slots=True)
class Authority:
    """Proof of enforcement run by the daemon (`dnsfilter authority selftest`): every
    `selftest_interval` seconds (0: never) a sample of each authority list, at a bounded rate."""

    selftest_interval: float = 0.0
    selftest_sample: int = 500
    selftest_rate: int = 200  # queries per second
    audit_log: str = ""  # "": data_dir/audit.jsonl. Keep it where it survives a reboot.


@dataclass(frozen=True, slots=True)
class Config:
    path: str = ""
    general: General = field(default_factory=General)
    dns: Dns = field(default_factory=Dns)
    storage: Storage = field(default_factory=Storage)
    web: Web | None = None
    feeds: tuple[Feed, ...] = ()
    filter: Filter = field(default_factory=Filter)
    protection: Protection = field(default_factory=Protection)
    defaults: Defaults = field(default_factory=Defaults)
    profiles: tuple[Profile, ...] = ()
    devices: tuple[Device, ...] = ()
    network: Network = field(default_factory=Network)
    firewall: Firewall = field(default_factory=Firewall)
    authority: Authority = field(default_factory=Authority)
    provider: Provider | None = None
    managed: Managed = field(default_factory=Managed)  # what the provider's bundle in force set and locked
    rpz: Rpz = field(default_factory=Rpz)
    portal: Portal | None = None  # the child's page and the block page ([portal]; None: not served)
    notify: Notify = field(default_factory=Notify)

    def base_dir(self) -> Path:
        """The folder relative paths in the config count from: the config file's real folder.
        A config reached through a symlink (Debian's /etc/dnsfilter/config.toml, a link into
        the state folder) counts from where the file is, so `-c` either path means the same."""
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    def tsig_secret(self, feed: Feed) -> bytes:
        """The TSIG secret of an xfr feed, decoded. Raises ValueError naming the file (never
        its content) when it cannot be read or is not base64."""
        assert feed.tsig is not None
        return self.secret_of(feed.tsig)

    def secret_of(self, key: Tsig) -> bytes:
        """A TSIG key's secret (an xfr feed's, `[rpz] update_key`), as tsig_secret."""
        import base64
        import binascii

        path = self.base_dir() / key.secret_file
        try:
            text = path.read_text(encoding="ascii", errors="strict").strip()
            secret = base64.b64decode(text.split()[-1] if text else "", validate=True)
        except OSError as e:
            raise ValueError(f"TSIG secret file {path}: {e.strerror or type(e).__name__}") from None
        except (UnicodeDecodeError, binascii.Error, ValueError):
            raise ValueError(f"TSIG secret file {path}: not a base64 secret") from None
        if len(secret) < 8:
            raise ValueError(f"TSIG secret file {path}: the secret is shorter than 8 bytes")
        return secret

    def data_path(self) -> Path:
        return (self.base_dir() / self.storage.data_dir).resolve()

    def state_path(self) -> Path:
        """Where the small state that must outlive a reboot lives ([storage] state_dir)."""
        if not self.storage.state_dir:
            return self.data_path()
        return (self.base_dir() / self.storage.state_dir).resolve()

    def provider_dir(self) -> Path:
        """Where the provider's bundle in force and its state are kept."""
        assert self.provider is not None
        return _provider_dir(self.path, self.data_path(), self.provider)

    def audit_path(self) -> Path:
        """The audit log of authority lists and provider bundles."""
        if not self.authority.audit_log:
            return self.data_path() / "audit.jsonl"
        return ((Path(self.path).parent if self.path else Path.cwd()) / self.authority.audit_log).resolve()

    def feed_source(self, feed: Feed) -> Path | None:
        """The local file behind a feed URL, relative paths against the config's folder."""
        url = feed.url
        if url.startswith("file://"):
            url = url[len("file://"):]
        elif "://" in url:
            return None
        p = Path(url)
        return p if p.is_absolute() else self.base_dir() / p


def _section(data: dict[str, Any], name: str) -> Section:
    return Section(name, data.get(name, {}))


def _table_list(data: dict[str, Any], name: str) -> list[Section]:
    items = data.get(name, [])
    if not isinstance(items, list):
        raise ConfigError(name, N_("must be an array of tables ([[%(name)s]])"), name=name)
    return [Section(f"{name}[{i}]", item) for i, item in enumerate(items)]




# ---------------------------------------------------------------- loading


def load(path: str | Path) -> Config:
    """Read and validate a config file. Raises ConfigError naming the key at fault."""
    p = Path(path)
    try:
        text = read_text(p)
    except FileNotFoundError:
        raise ConfigError("", N_("%(path)s: no such config file"), path=str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("", BROKEN_TOML, path=str(p), **toml_position(e, text)) from None
    return from_dict(data, str(p))


LOG_RINGS = (1024, 2048, 4096, 8192, 16384)  # powers of two; beyond 16384 a drain is counted from a sample


def _log_ring(s: Section) -> int:
    n = s.get("log_ring", int, 16384)
    if n not in LOG_RINGS:
        raise ConfigError(s.key("log_ring"), N_("must be one of %(modes)s"), modes=", ".join(map(str, LOG_RINGS)))
    return int(n)


def from_dict(data: dict[str, Any], path: str = "", bundle: dict[str, Any] | None = None) -> Config:
    """The config of a household file's `data`; with a `[provider]`, merged under the bundle in
    force (or `bundle`: a candidate the sync child checks before accepting it)."""
    known = {"general", "dns", "storage", "web", "feeds", "filter", "protection", "defaults", "profiles",
             "devices", "network", "firewall", "authority", "provider", "catalog", "rpz", "portal", "notify"}
    for k in data:
        if k not in known:
            raise ConfigError(k, N_("unknown section"))
    provider, managed = None, Managed()
    if "provider" in data:
        provider = parse_provider(_section(data, "provider"))
        if bundle is None:
            bundle = read_bundle(_provider_dir(path, _raw_data_dir(data, path), provider))
        if bundle is not None:
            data, managed = merge(bundle, data)
    g = _section(data, "general")
    hostname = check_name(g.get("hostname", str, "dnsfilter.lan"), g.key("hostname"))
    tz = g.get("timezone", str, "UTC")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(g.key("timezone"), N_("%(value)r is not an IANA time zone name (e.g. Asia/Almaty)"),
                          value=tz) from None
    g.done()
    general = General(hostname, tz)
    dns = parse_dns(_section(data, "dns"), Path(path).parent if path else Path.cwd())
    s = _section(data, "storage")
    log_mode = s.get("log_mode", str, "disk")
    if log_mode not in ("disk", "ram"):
        raise ConfigError(s.key("log_mode"), N_("must be disk or ram"))
    storage = Storage(s.get("data_dir", str, "var"), s.float_in("log_days", 7.0, 0.0, 3660.0),
                      s.float_in("log_max_mb", 64.0, 1.0, 1 << 20), log_mode, s.float_in("log_flush", 0.0, 0.0, 86400.0),
                      s.get("state_dir", str, ""), _log_ring(s))
    s.done()
    web = None
    if "web" in data:
        w = _section(data, "web")
        web = Web(w.get("listen", str, "127.0.0.1:8080"))
        parse_listen(web.listen, w.key("listen"), 8080)
        w.done()
    mirror = parse_catalog_mirror(_section(data, "catalog"))
    feeds = tuple(parse_feed(sec, mirror) for sec in _table_list(data, "feeds"))
    seen: set[str] = set()
    for i, fd in enumerate(feeds):
        if fd.name in seen:
            raise ConfigError(f"feeds[{i}].name", N_("duplicate feed name %(name)r"), name=fd.name)
        seen.add(fd.name)
    f = _section(data, "filter")
    filt = Filter(names_of(f, "allow"), names_of(f, "deny"))
    f.done()
    pr = _section(data, "protection")
    protection = Protection(names_of(pr, "always_allow"))
    pr.done()
    d = _section(data, "defaults")
    profiles = tuple(parse_profile(sec) for sec in _table_list(data, "profiles"))
    pnames = [p.name for p in profiles]
    default_profile = d.get("profile", str, pnames[0] if pnames else "Default")
    if profiles and default_profile not in pnames:
        raise ConfigError(d.key("profile"), N_("no profile named %(name)r (have: %(names)s)"),
                          name=default_profile, names=", ".join(pnames))
    defaults = Defaults(default_profile, categories_of(d, "block_categories", SECURITY_SET) or ())
    d.done()
    if len(set(pnames)) != len(pnames):
        raise ConfigError("profiles", N_("two profiles have the same name"))
    devices = tuple(parse_device(sec, pnames) for sec in _table_list(data, "devices"))
    if dns.workers != 1 and any(p.budgets for p in profiles):
        raise ConfigError("dns.workers", N_("daily budgets are counted in one process: they need workers = 1"))
    net = parse_network(_section(data, "network"))
    fw = parse_firewall(_section(data, "firewall"))
    portal = parse_portal(_section(data, "portal"), tz) if "portal" in data else None
    for i, p in enumerate(profiles):
        if p.block_page and portal is None:
            raise ConfigError(f"profiles[{i}].block_page", N_("needs a [portal] section (where the page is served)"))
    notify = parse_notify(_section(data, "notify"))
    return Config(path, general, dns, storage, web, feeds, filt, protection, defaults, profiles, devices, net, fw,
                  _authority(_section(data, "authority")), provider, managed, parse_rpz(_section(data, "rpz")),
                  portal, notify)


def _provider_dir(path: str, data_dir: Path, prov: Provider) -> Path:
    if not prov.state_dir:
        return data_dir / "provider"
    return ((Path(path).parent if path else Path.cwd()) / prov.state_dir).resolve()


def _raw_data_dir(data: dict[str, Any], path: str) -> Path:
    """data_dir before the file is validated (where the provider bundle in force is kept)."""
    storage = data.get("storage")
    d = storage.get("data_dir", "var") if isinstance(storage, dict) else "var"
    return ((Path(path).parent if path else Path.cwd()) / str(d)).resolve()


def _authority(s: Section) -> Authority:
    from dnsfilter.config.feeds import _interval

    every = s.get("selftest_interval", (str, int), 0)
    a = Authority(0.0 if every in (0, "0", "off") else _interval(every, s.key("selftest_interval")),
                  s.int_in("selftest_sample", 500, 1, 1_000_000), s.int_in("selftest_rate", 200, 1, 10_000),
                  s.get("audit_log", str, ""))
    s.done()
    return a

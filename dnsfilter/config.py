"""The TOML config file: frozen dataclasses per section, defaults, and validation.

Every error names its key (`dns.listen[1]`) and says what is wrong in one line, so that
`dnsfilter config check` and a reload that keeps the old config can both explain themselves.
"""

from __future__ import annotations

import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnsfilter.config_values import (
    BlockMode,
    ConfigError,
    Listen,
    Section,
    check_name,
    network,
    parse_block_mode,
    parse_listen,
)
from dnsfilter.config_values import networks as _networks
from dnsfilter.core.upstream_spec import UpstreamSpec, parse_upstream
from dnsfilter.model import AUTHORITY_CATEGORY

CATEGORIES = ("ads", "trackers", "malware", "phishing", "adult", "gambling", "dating", "social", "games",
              "video", "drugs", "violence", "piracy", "bypass", "authority", "custom")
SECURITY_SET = ("ads", "trackers", "malware", "phishing")
FEED_FORMATS = ("auto", "hosts", "domains", "adblock", "dnsmasq", "rpz", "csv", "sha256")
DEFAULT_INTERVAL = 86400.0
FEED_EDE = (15, 16, 17)  # Blocked, Censored, Filtered (RFC 8914)
CSV_KEYS = ("delimiter", "encoding", "skip_lines", "columns", "url_policy")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZES = {"": 1, "b": 1, "kb": 1 << 10, "k": 1 << 10, "mb": 1 << 20, "m": 1 << 20, "gb": 1 << 30, "g": 1 << 30}
DEFAULT_ALLOWED = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                   "100.64.0.0/10", "fc00::/7", "fe80::/10")


@dataclass(frozen=True, slots=True)
class General:
    hostname: str = "dnsfilter.lan"
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Dns:
    listen: tuple[Listen, ...] = (Listen("127.0.0.1", 5353), Listen("::1", 5353))
    upstreams: tuple[UpstreamSpec, ...] = ()
    block_mode: BlockMode = BlockMode("null")
    block_ttl: int = 10
    allowed_clients: tuple[str, ...] = DEFAULT_ALLOWED
    ratelimit_qps: int = 1000
    ratelimit_burst: int = 2000
    # Loopback is a local forwarder (dnsmasq on the router): limiting it would limit the whole LAN.
    ratelimit_exempt: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    cache_size: int = 20000
    fastpath_size: int = 50000  # prebuilt UDP answers per profile (about 250 bytes each)
    min_ttl: int = 0
    max_ttl: int = 86400
    negative_max_ttl: int = 3600
    serve_stale: bool = True
    stale_max_age: int = 86400
    stale_ttl: int = 30
    prefetch: bool = True
    upstream_timeout: float = 2.0
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 256
    max_inflight: int = 2048
    send_client_subnet: bool = False
    workers: int = 1


@dataclass(frozen=True, slots=True)
class Storage:
    data_dir: str = "var"


@dataclass(frozen=True, slots=True)
class Web:
    listen: str = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class Feed:
    name: str
    url: str
    format: str = "auto"
    category: str = "ads"
    kind: str = "block"  # block | allow
    enabled: bool = True
    catalog: str | None = None  # the catalog id that filled url/format/category
    ede: int | None = None  # 15 | 16 | 17: overrides the category's EDE code
    interval: float = DEFAULT_INTERVAL  # seconds between periodic syncs (jittered by ±10 %)
    max_shrink: float = 0.5  # a new version smaller by more than this fraction is rejected
    min_entries: int = 0  # a new version with fewer compiled entries is rejected
    max_bytes: int = 64 << 20  # cap on the downloaded (decoded) size
    signature_url: str | None = None  # minisign signature of the feed file
    public_key: str | None = None  # minisign public key (base64, the .pub file's second line)
    # csv options as sorted (key, value) pairs: the dataclass stays frozen and hashable
    csv: tuple[tuple[str, Any], ...] = ()

    def compile_options(self) -> dict[str, Any]:
        """Options for the format parser (feeds.formats), `columns` back as a dict."""
        return {k: (dict(v) if k == "columns" else v) for k, v in self.csv}

    @property
    def remote(self) -> bool:
        return self.url.split("://", 1)[0].lower() in ("http", "https") if "://" in self.url else False


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
class Profile:
    name: str
    block_categories: tuple[str, ...] | None = None  # None: [defaults].block_categories
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    profile: str
    ip: str | None = None
    cidr: str | None = None
    mac: str | None = None


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

    def data_path(self) -> Path:
        base = Path(self.path).parent if self.path else Path.cwd()
        return (base / self.storage.data_dir).resolve()

    def feed_source(self, feed: Feed) -> Path | None:
        """The local file behind a feed URL, relative paths against the config's folder."""
        url = feed.url
        if url.startswith("file://"):
            url = url[len("file://"):]
        elif "://" in url:
            return None
        p = Path(url)
        if not p.is_absolute():
            p = (Path(self.path).parent if self.path else Path.cwd()) / p
        return p


def _section(data: dict[str, Any], name: str) -> Section:
    return Section(name, data.get(name, {}))


def _names(sec: Section, name: str) -> tuple[str, ...]:
    return tuple(check_name(v, f"{sec.key(name)}[{i}]", wildcard=True)
                 for i, v in enumerate(sec.strings(name, ())))


def _categories(sec: Section, name: str, default: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if name not in sec.data:
        sec.seen.add(name)
        return default
    values = sec.strings(name, ())
    for i, c in enumerate(values):
        if c not in CATEGORIES:
            raise ConfigError(f"{sec.key(name)}[{i}]", f"unknown category {c!r} (known: {', '.join(CATEGORIES)})")
    return values


def _table_list(data: dict[str, Any], name: str) -> list[Section]:
    items = data.get(name, [])
    if not isinstance(items, list):
        raise ConfigError(name, f"must be an array of tables ([[{name}]])")
    return [Section(f"{name}[{i}]", item) for i, item in enumerate(items)]




# ---------------------------------------------------------------- loading


def load(path: str | Path) -> Config:
    """Read and validate a config file. Raises ConfigError naming the key at fault."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("", f"{p}: no such config file") from None
    except OSError as e:
        raise ConfigError("", f"{p}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("", f"{p}: not valid TOML: {e}") from None
    return from_dict(data, str(p))


def from_dict(data: dict[str, Any], path: str = "") -> Config:
    known = {"general", "dns", "storage", "web", "feeds", "filter", "protection", "defaults", "profiles",
             "devices"}
    for k in data:
        if k not in known:
            raise ConfigError(k, "unknown section")
    g = _section(data, "general")
    hostname = check_name(g.get("hostname", str, "dnsfilter.lan"), g.key("hostname"))
    tz = g.get("timezone", str, "UTC")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(g.key("timezone"), f"{tz!r} is not an IANA time zone name (e.g. Asia/Almaty)") from None
    g.done()
    general = General(hostname, tz)
    dns = _dns(_section(data, "dns"))
    s = _section(data, "storage")
    storage = Storage(s.get("data_dir", str, "var"))
    s.done()
    web = None
    if "web" in data:
        w = _section(data, "web")
        web = Web(w.get("listen", str, "127.0.0.1:8080"))
        parse_listen(web.listen, w.key("listen"), 8080)
        w.done()
    feeds = tuple(_feed(sec) for sec in _table_list(data, "feeds"))
    seen: set[str] = set()
    for i, fd in enumerate(feeds):
        if fd.name in seen:
            raise ConfigError(f"feeds[{i}].name", f"duplicate feed name {fd.name!r}")
        seen.add(fd.name)
    f = _section(data, "filter")
    filt = Filter(_names(f, "allow"), _names(f, "deny"))
    f.done()
    pr = _section(data, "protection")
    protection = Protection(_names(pr, "always_allow"))
    pr.done()
    d = _section(data, "defaults")
    profiles = tuple(_profile(sec) for sec in _table_list(data, "profiles"))
    pnames = [p.name for p in profiles]
    default_profile = d.get("profile", str, pnames[0] if pnames else "Default")
    if profiles and default_profile not in pnames:
        raise ConfigError(d.key("profile"), f"no profile named {default_profile!r} (have: {', '.join(pnames)})")
    defaults = Defaults(default_profile, _categories(d, "block_categories", SECURITY_SET) or ())
    d.done()
    if len(set(pnames)) != len(pnames):
        raise ConfigError("profiles", "two profiles have the same name")
    devices = tuple(_device(sec, pnames) for sec in _table_list(data, "devices"))
    return Config(path, general, dns, storage, web, feeds, filt, protection, defaults, profiles, devices)


def _dns(s: Section) -> Dns:
    base = Dns()
    listen = tuple(parse_listen(v, f"{s.key('listen')}[{i}]")
                   for i, v in enumerate(s.strings("listen", tuple(map(str, base.listen)))))
    if not listen:
        raise ConfigError(s.key("listen"), "needs at least one address")
    ups = []
    for i, text in enumerate(s.strings("upstreams", ("9.9.9.9", "1.1.1.1"))):
        try:
            ups.append(parse_upstream(text))
        except ValueError as e:
            raise ConfigError(f"{s.key('upstreams')}[{i}]", str(e)) from None
    if not ups:
        raise ConfigError(s.key("upstreams"), "needs at least one upstream resolver")
    dns = Dns(
        listen=listen,
        upstreams=tuple(ups),
        block_mode=parse_block_mode(s.get("block_mode", str, "null"), s.key("block_mode")),
        block_ttl=s.int_in("block_ttl", base.block_ttl, 0, 86400),
        allowed_clients=_networks(s.strings("allowed_clients", base.allowed_clients), s.key("allowed_clients")),
        ratelimit_qps=s.int_in("ratelimit_qps", base.ratelimit_qps, 0, 10_000_000),
        ratelimit_burst=s.int_in("ratelimit_burst", base.ratelimit_burst, 1, 10_000_000),
        ratelimit_exempt=_networks(s.strings("ratelimit_exempt", base.ratelimit_exempt), s.key("ratelimit_exempt")),
        cache_size=s.int_in("cache_size", base.cache_size, 0, 10_000_000),
        fastpath_size=s.int_in("fastpath_size", base.fastpath_size, 0, 10_000_000),
        min_ttl=s.int_in("min_ttl", base.min_ttl, 0, 86400),
        max_ttl=s.int_in("max_ttl", base.max_ttl, 1, 7 * 86400),
        negative_max_ttl=s.int_in("negative_max_ttl", base.negative_max_ttl, 0, 86400),
        serve_stale=s.get("serve_stale", bool, base.serve_stale),
        stale_max_age=s.int_in("stale_max_age", base.stale_max_age, 0, 7 * 86400),
        stale_ttl=s.int_in("stale_ttl", base.stale_ttl, 1, 3600),
        prefetch=s.get("prefetch", bool, base.prefetch),
        upstream_timeout=s.float_in("upstream_timeout", base.upstream_timeout, 0.05, 30.0),
        tcp_idle_timeout=s.float_in("tcp_idle_timeout", base.tcp_idle_timeout, 0.1, 600.0),
        tcp_max_connections=s.int_in("tcp_max_connections", base.tcp_max_connections, 1, 65535),
        max_inflight=s.int_in("max_inflight", base.max_inflight, 1, 1_000_000),
        send_client_subnet=s.get("send_client_subnet", bool, base.send_client_subnet),
        workers=s.int_in("workers", base.workers, 0, 64),
    )
    if dns.min_ttl > dns.max_ttl:
        raise ConfigError(s.key("min_ttl"), "must not be above max_ttl")
    if dns.send_client_subnet:
        raise ConfigError(s.key("send_client_subnet"), "sending client subnets upstream is not supported (privacy)")
    s.done()
    return dns


def _feed(s: Section) -> Feed:
    name = s.get("name", str, "")
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ConfigError(s.key("name"), "needs a name of letters, digits, '-', '_' or '.'")
    url = s.get("url", str, "")
    catalog = s.get("catalog", str, None)
    fmt_default, cat_default = "auto", "ads"
    if catalog is not None:
        if url:
            raise ConfigError(s.key("catalog"), "give either url or catalog, not both")
        from feeds.catalog import CatalogError, lookup  # only when used: the catalog file is read once

        try:
            entry = lookup(catalog)
        except CatalogError as e:
            raise ConfigError(s.key("catalog"), str(e)) from None
        url, fmt_default, cat_default = entry.url, entry.format, entry.category
    if not url:
        raise ConfigError(s.key("url"), "needs a URL, a file path, or catalog = \"ID\"")
    fmt = s.get("format", str, fmt_default)
    if fmt not in FEED_FORMATS:
        raise ConfigError(s.key("format"), f"unknown format {fmt!r} (known: {', '.join(FEED_FORMATS)})")
    category = s.get("category", str, cat_default)
    if category not in CATEGORIES:
        raise ConfigError(s.key("category"), f"unknown category {category!r}")
    kind = s.get("kind", str, "block")
    if kind not in ("block", "allow"):
        raise ConfigError(s.key("kind"), "must be 'block' or 'allow'")
    if kind == "allow" and category == AUTHORITY_CATEGORY:
        raise ConfigError(s.key("kind"), "an authority list cannot be an allowlist")
    ede = s.get("ede", int, None)
    if ede is not None and ede not in FEED_EDE:
        raise ConfigError(s.key("ede"), "must be 15 (Blocked), 16 (Censored) or 17 (Filtered)")
    sig, key = s.get("signature_url", str, None), s.get("public_key", str, None)
    if (sig is None) != (key is None):
        raise ConfigError(s.key("public_key" if key is None else "signature_url"),
                          "signature_url and public_key go together")
    if key is not None:
        _check_public_key(key, s.key("public_key"))
    feed = Feed(name, url, fmt, category, kind, s.get("enabled", bool, True), catalog, ede,
                interval=_interval(s.get("interval", (str, int), "24h"), s.key("interval")),
                max_shrink=s.float_in("max_shrink", 0.5, 0.0, 1.0),
                min_entries=s.int_in("min_entries", 0, 0, 1 << 40),
                max_bytes=_size(s.get("max_bytes", (str, int), 64 << 20), s.key("max_bytes")),
                signature_url=sig, public_key=key, csv=_csv_options(s, fmt))
    s.done()
    return feed


def _interval(value: str | int, key: str) -> float:
    """"24h", "30m", "90s", "1d" or a number of seconds; at least 1 s (tests use "1s")."""
    if isinstance(value, int):
        seconds = float(value)
    else:
        text = value.strip().lower()
        unit = _UNITS.get(text[-1:]) if text else None
        try:
            seconds = float(text[:-1]) * unit if unit else float(text)
        except ValueError:
            raise ConfigError(key, f"{value!r}: expected a duration like \"24h\", \"30m\" or \"90s\"") from None
    if not 1 <= seconds <= 366 * 86400:
        raise ConfigError(key, "must be between 1s and 366d")
    return seconds


def _size(value: str | int, key: str) -> int:
    if isinstance(value, int):
        size = value
    else:
        text = value.strip().lower().replace(" ", "")
        digits = text.rstrip("bkmg")
        mult = _SIZES.get(text[len(digits):])
        try:
            size = int(float(digits) * mult) if mult else -1
        except ValueError:
            size = -1
        if size < 0:
            raise ConfigError(key, f"{value!r}: expected bytes or a size like \"64MB\"")
    if not 1024 <= size <= 4 << 30:
        raise ConfigError(key, "must be between 1KB and 4GB")
    return size


def _check_public_key(text: str, key: str) -> None:
    """A minisign public key: base64 of "Ed" + 8-byte key id + 32-byte Ed25519 key."""
    import base64
    import binascii

    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 42 or raw[:2] != b"Ed":
        raise ConfigError(key, "not a minisign public key (the base64 line of a minisign .pub file)")


def _csv_options(s: Section, fmt: str) -> tuple[tuple[str, Any], ...]:
    given = [k for k in CSV_KEYS if k in s.data]
    if not given:
        return ()
    if fmt not in ("csv", "auto"):
        raise ConfigError(s.key(given[0]), "only for format = \"csv\"")
    out: dict[str, Any] = {}
    if "delimiter" in s.data:
        d = s.get("delimiter", str, ";")
        if len(d) != 1 or d in "\r\n":
            raise ConfigError(s.key("delimiter"), "must be one character")
        out["delimiter"] = d
    if "encoding" in s.data:
        import codecs

        enc = s.get("encoding", str, "utf-8")
        try:
            codecs.lookup(enc)
        except LookupError:
            raise ConfigError(s.key("encoding"), f"unknown encoding {enc!r}") from None
        out["encoding"] = enc
    if "skip_lines" in s.data:
        out["skip_lines"] = s.int_in("skip_lines", 0, 0, 10_000)
    if "url_policy" in s.data:
        policy = s.get("url_policy", str, "skip")
        if policy not in ("skip", "host"):
            raise ConfigError(s.key("url_policy"), "must be 'skip' or 'host'")
        out["url_policy"] = policy
    if "columns" in s.data:
        cols = Section(s.key("columns"), s.get("columns", dict, {}))
        table = {c: cols.int_in(c, 0, 1, 1000) for c in ("domain", "url") if c in cols.data}
        cols.done()
        if "domain" not in table:
            raise ConfigError(cols.key("domain"), "columns needs at least the domain column (1-based)")
        out["columns"] = tuple(sorted(table.items()))
    return tuple(sorted(out.items()))


def _profile(s: Section) -> Profile:
    name = s.get("name", str, "")
    if not name:
        raise ConfigError(s.key("name"), "every profile needs a name")
    p = Profile(name, _categories(s, "block_categories", None), _names(s, "allow"), _names(s, "deny"))
    s.done()
    return p


def _device(s: Section, profiles: list[str]) -> Device:
    name = s.get("name", str, "")
    profile = s.get("profile", str, "")
    if profile not in profiles:
        raise ConfigError(s.key("profile"), f"no profile named {profile!r}")
    ip = s.get("ip", str, None)
    cidr = s.get("cidr", str, None)
    mac = s.get("mac", str, None)
    if ip is not None:
        network(ip, s.key("ip"))
    if cidr is not None:
        network(cidr, s.key("cidr"))
    if mac is not None:
        raise ConfigError(s.key("mac"), "matching devices by MAC address is not supported yet; use ip or cidr")
    if ip is None and cidr is None:
        raise ConfigError(s.prefix, "a device needs ip or cidr")
    dev = Device(name or ip or cidr or "", profile, ip, cidr, mac)
    s.done()
    return dev

"""The `[[feeds]]` part of the config: where a list comes from, how to read it, and the
safety limits of its sync."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from dnsfilter.config.values import N_, ConfigError, Section
from dnsfilter.core.model import AUTHORITY_CATEGORY

CATEGORIES = ("ads", "trackers", "malware", "phishing", "adult", "gambling", "dating", "social", "games",
              "video", "drugs", "violence", "piracy", "bypass", "authority", "custom")
FEED_FORMATS = ("auto", "hosts", "domains", "adblock", "dnsmasq", "rpz", "csv", "sha256", "registry-xml")
DEFAULT_INTERVAL = 86400.0
FEED_EDE = (15, 16, 17)  # Blocked, Censored, Filtered (RFC 8914)
TSIG_ALGORITHMS = ("hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
CSV_KEYS = ("delimiter", "encoding", "skip_lines", "columns", "url_policy", "ip_policy")
REGISTRY_KEYS = ("url_policy", "ip_policy")  # of CSV_KEYS, those a registry-xml feed takes
MAX_LEGAL_BASIS = 500
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZES = {"": 1, "b": 1, "kb": 1 << 10, "k": 1 << 10, "mb": 1 << 20, "m": 1 << 20, "gb": 1 << 30, "g": 1 << 30}


@dataclass(frozen=True, slots=True)
class Tsig:
    """A TSIG key (RFC 8945) for a feed followed by zone transfer. The secret stays in its file
    (base64, as `tsig-keygen` and `keymgr` print it): read where it is used, never logged."""

    name: str  # the key's name, as the primary knows it
    algorithm: str
    secret_file: str  # relative to the config file's folder


@dataclass(frozen=True, slots=True)
class XfrSource:
    """Where an `xfr://HOST[:PORT]/ZONE` feed is transferred from."""

    host: str  # an IP address: NOTIFY is accepted from it, and only from it
    port: int
    zone: str  # lower case, no final dot


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
    # csv and registry-xml options as sorted (key, value) pairs: the dataclass stays frozen and hashable
    csv: tuple[tuple[str, Any], ...] = ()
    legal_basis: str = ""  # authority lists: why the list is enforced (a law, a court order), in EDE 16
    appeal_url: str = ""  # authority lists: where a block can be contested
    tsig: Tsig | None = None  # xfr:// feeds only

    def compile_options(self) -> dict[str, Any]:
        """Options for the format parser (feeds.formats), `columns` back as a dict."""
        return {k: (dict(v) if k == "columns" else v) for k, v in self.csv}

    @property
    def remote(self) -> bool:
        return self.url.split("://", 1)[0].lower() in ("http", "https", "xfr") if "://" in self.url else False

    @property
    def xfr(self) -> XfrSource | None:
        """The primary and zone of a feed followed by zone transfer, None for other feeds."""
        return xfr_source(self.url) if self.url[:6].lower() == "xfr://" else None


_XFR_ERRORS = {
    "shape": N_("%(value)r: expected xfr://ADDRESS[:PORT]/ZONE"),
    "host": N_("%(value)r: the primary must be an IP address (NOTIFY is accepted from it, and only from it)"),
    "zone": N_("%(value)r: the zone is not a DNS name"),
}


def xfr_source(url: str) -> XfrSource:
    """`xfr://HOST[:PORT]/ZONE` read; raises ValueError("shape" | "host" | "zone") when it is
    not one."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        p = urlsplit(url)
        port = p.port or 53
        host = p.hostname or ""
    except ValueError:
        raise ValueError("shape") from None
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError("host") from None
    zone = p.path.strip("/").rstrip(".").lower()
    if p.scheme.lower() != "xfr" or not zone or p.query or p.fragment or p.username or "/" in zone:
        raise ValueError("shape")
    labels = zone.split(".")
    if len(zone) > 253 or any(not 0 < len(lab) < 64 for lab in labels) or not zone.isascii():
        raise ValueError("zone")
    return XfrSource(host, port, zone)


def parse_catalog_mirror(s: Section) -> str:
    """`[catalog] mirror`: an http(s) base under which every catalog list is served by its id
    (`<mirror>/hagezi-nsfw`), for a network that keeps its own copies; "" downloads from the
    projects themselves."""
    mirror = s.get("mirror", str, "").strip()
    s.done()
    if mirror and (not mirror.lower().startswith(("http://", "https://")) or any(c.isspace() for c in mirror)):
        raise ConfigError(s.key("mirror"), N_("must be an http:// or https:// address"))
    return mirror.rstrip("/")


def parse_feed(s: Section, mirror: str = "") -> Feed:
    name = s.get("name", str, "")
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ConfigError(s.key("name"), N_("needs a name of letters, digits, '-', '_' or '.'"))
    url = s.get("url", str, "")
    catalog = s.get("catalog", str, None)
    fmt_default, cat_default = "auto", "ads"
    if catalog is not None:
        if url:
            raise ConfigError(s.key("catalog"), N_("give either url or catalog, not both"))
        from feeds.catalog import CatalogError, lookup  # only when used: the catalog file is read once

        try:
            entry = lookup(catalog)
        except CatalogError as e:  # feeds/ has no message ids: its typed error's values go into ours
            if e.suggestions:
                raise ConfigError(s.key("catalog"), N_("no catalog entry %(value)r (did you mean %(close)s?)"),
                                  value=e.wanted, close=", ".join(map(repr, e.suggestions))) from None
            raise ConfigError(s.key("catalog"), N_("no catalog entry %(value)r"), value=e.wanted) from None
        url, fmt_default, cat_default = entry.url, entry.format, entry.category
        if mirror:
            url = f"{mirror}/{entry.id}"
    if not url:
        raise ConfigError(s.key("url"), N_("needs a URL, a file path, or catalog = \"ID\""))
    xfr = url[:6].lower() == "xfr://"
    if xfr:
        try:
            xfr_source(url)
        except ValueError as e:
            raise ConfigError(s.key("url"), _XFR_ERRORS[str(e)], value=url) from None
        fmt_default = "rpz"
    fmt = s.get("format", str, fmt_default)
    if fmt not in FEED_FORMATS:
        raise ConfigError(s.key("format"), N_("unknown format %(value)r (known: %(known)s)"), value=fmt,
                          known=", ".join(FEED_FORMATS))
    category = s.get("category", str, cat_default)
    if category not in CATEGORIES:
        raise ConfigError(s.key("category"), N_("unknown category %(value)r"), value=category)
    kind = s.get("kind", str, "block")
    if kind not in ("block", "allow"):
        raise ConfigError(s.key("kind"), N_("must be 'block' or 'allow'"))
    if kind == "allow" and category == AUTHORITY_CATEGORY:
        raise ConfigError(s.key("kind"), N_("an authority list cannot be an allowlist"))
    ede = s.get("ede", int, None)
    if ede is not None and ede not in FEED_EDE:
        raise ConfigError(s.key("ede"), N_("must be 15 (Blocked), 16 (Censored) or 17 (Filtered)"))
    sig, key = s.get("signature_url", str, None), s.get("public_key", str, None)
    if (sig is None) != (key is None):
        raise ConfigError(s.key("public_key" if key is None else "signature_url"),
                          N_("signature_url and public_key go together"))
    if key is not None:
        _check_public_key(key, s.key("public_key"))
    if xfr and fmt != "rpz":
        raise ConfigError(s.key("format"), N_('a feed followed by zone transfer (xfr://) has format = "rpz"'))
    if xfr and sig is not None:
        raise ConfigError(s.key("signature_url"), N_("not for xfr:// feeds: a TSIG key authenticates a transfer"))
    tsig = _tsig(s) if "tsig" in s.data else None
    if tsig is not None and not xfr:
        raise ConfigError(s.key("tsig"), N_("only for feeds followed by zone transfer (xfr://)"))
    feed = Feed(name, url, fmt, category, kind, s.get("enabled", bool, True), catalog, ede,
                interval=_interval(s.get("interval", (str, int), "24h"), s.key("interval")),
                max_shrink=s.float_in("max_shrink", 0.5, 0.0, 1.0),
                min_entries=s.int_in("min_entries", 0, 0, 1 << 40),
                max_bytes=_size(s.get("max_bytes", (str, int), 64 << 20), s.key("max_bytes")),
                signature_url=sig, public_key=key, csv=_csv_options(s, fmt),
                legal_basis=_legal_basis(s), appeal_url=_appeal_url(s), tsig=tsig)
    s.done()
    return feed


def _tsig(s: Section, key: str = "tsig") -> Tsig:
    t = Section(s.key(key), s.get(key, dict, {}))
    name = t.get("name", str, "").strip().rstrip(".").lower()
    if not name or len(name) > 253 or any(not 0 < len(lab) < 64 for lab in name.split(".")) or not name.isascii():
        raise ConfigError(t.key("name"), N_("needs the key's name (a DNS name, as the primary calls the key)"))
    algorithm = t.get("algorithm", str, "hmac-sha256").lower()
    if algorithm not in TSIG_ALGORITHMS:
        raise ConfigError(t.key("algorithm"), N_("unknown algorithm %(value)r (known: %(known)s)"), value=algorithm,
                          known=", ".join(TSIG_ALGORITHMS))
    secret_file = t.get("secret_file", str, "")
    if not secret_file:
        raise ConfigError(t.key("secret_file"), N_("needs the file that holds the key's base64 secret"))
    t.done()
    return Tsig(name, algorithm, secret_file)


def _legal_basis(s: Section) -> str:
    text = " ".join(s.get("legal_basis", str, "").split())
    if len(text) > MAX_LEGAL_BASIS:
        raise ConfigError(s.key("legal_basis"), N_("at most %(n)s characters"), n=MAX_LEGAL_BASIS)
    return text


def _appeal_url(s: Section) -> str:
    url = s.get("appeal_url", str, "").strip()
    if url and (not url.lower().startswith(("https://", "http://")) or len(url) > 2000
                or any(c.isspace() for c in url)):
        raise ConfigError(s.key("appeal_url"), N_("must be a web address starting with https://"))
    return url


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
            raise ConfigError(key, N_('%(value)r: expected a duration like "24h", "30m" or "90s"'), value=value) from None
    if not 1 <= seconds <= 366 * 86400:
        raise ConfigError(key, N_("must be between 1s and 366d"))
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
            raise ConfigError(key, N_('%(value)r: expected bytes or a size like "64MB"'), value=value)
    if not 1024 <= size <= 4 << 30:
        raise ConfigError(key, N_("must be between 1KB and 4GB"))
    return size


def _check_public_key(text: str, key: str) -> None:
    """A minisign public key: base64 of "Ed" + 8-byte key id + 32-byte Ed25519 key."""
    import binascii

    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 42 or raw[:2] != b"Ed":
        raise ConfigError(key, N_("not a minisign public key (the base64 line of a minisign .pub file)"))


def _csv_options(s: Section, fmt: str) -> tuple[tuple[str, Any], ...]:
    given = [k for k in CSV_KEYS if k in s.data]
    if not given:
        return ()
    if fmt == "registry-xml":
        if any(k not in REGISTRY_KEYS for k in given):
            raise ConfigError(s.key(next(k for k in given if k not in REGISTRY_KEYS)), N_('only for format = "csv"'))
    elif "ip_policy" in given:
        raise ConfigError(s.key("ip_policy"), N_('only for format = "registry-xml"'))
    elif fmt not in ("csv", "auto"):
        raise ConfigError(s.key(given[0]), N_('only for format = "csv"'))
    out: dict[str, Any] = {}
    if "delimiter" in s.data:
        d = s.get("delimiter", str, ";")
        if len(d) != 1 or d in "\r\n":
            raise ConfigError(s.key("delimiter"), N_("must be one character"))
        out["delimiter"] = d
    if "encoding" in s.data:
        import codecs

        enc = s.get("encoding", str, "utf-8")
        try:
            codecs.lookup(enc)
        except LookupError:
            raise ConfigError(s.key("encoding"), N_("unknown encoding %(value)r"), value=enc) from None
        out["encoding"] = enc
    if "skip_lines" in s.data:
        out["skip_lines"] = s.int_in("skip_lines", 0, 0, 10_000)
    if "url_policy" in s.data:
        policy = s.get("url_policy", str, "skip")
        if policy not in ("skip", "host"):
            raise ConfigError(s.key("url_policy"), N_("must be 'skip' or 'host'"))
        out["url_policy"] = policy
    if "ip_policy" in s.data:
        ipp = s.get("ip_policy", str, "blocktype")
        if ipp not in ("blocktype", "all"):
            raise ConfigError(s.key("ip_policy"), N_("must be 'blocktype' or 'all'"))
        out["ip_policy"] = ipp
    if "columns" in s.data:
        cols = Section(s.key("columns"), s.get("columns", dict, {}))
        table = {c: cols.int_in(c, 0, 1, 1000) for c in ("domain", "url") if c in cols.data}
        cols.done()
        if "domain" not in table:
            raise ConfigError(cols.key("domain"), N_("columns needs at least the domain column (1-based)"))
        out["columns"] = tuple(sorted(table.items()))
    return tuple(sorted(out.items()))



"""OpenWrt's `/etc/config/dnsfilter` (UCI) rendered into dnsfilter's TOML config: which
options each section takes, their types, and the TOML written out. The grammar (what libuci
accepts, with the line of every error) is in `dnsfilter.router.uci_grammar`; its names are
re-exported here for the init script's helper (deploy/openwrt/files/dnsfilter-uci).

Pure: text in, a dict or TOML text out; reading the file is the caller's job.
"""

from __future__ import annotations

import builtins
import json
import re
from typing import Any

from dnsfilter.router.uci_grammar import Section, UciError, Value, parse

__all__ = ["MODES", "SOURCE_MARK", "Section", "UciError", "Value", "orphan_schedules", "parse", "render", "settings",
           "source_of", "to_dict", "to_toml", "uci_to_toml"]


# ---------------------------------------------------------------- /etc/config/dnsfilter

_TRUE = ("1", "yes", "on", "true", "enabled")
_FALSE = ("0", "no", "off", "false", "disabled")
MODES = ("forward", "replace")


class _Opts:
    """Typed reads of one section's options, remembering which were read so that a
    misspelt option is an error rather than silently ignored. (The methods are named after
    the types they read, so annotations below them say `builtins.str` etc.: in the class
    body a bare `str` is the method.)"""

    def __init__(self, sec: Section) -> None:
        self.sec, self.seen = sec, set[str]()
        self.where = f"{sec.type} {sec.name!r}" if sec.name else f"{sec.type} (line {sec.line})"

    def err(self, name: str, why: str) -> UciError:
        return UciError(self.sec.lines.get(name, self.sec.line), f"{self.where}: option {name}: {why}")

    def has(self, name: str) -> bool:
        return name in self.sec.options

    def str(self, name: str, default: str | None = None) -> str | None:
        self.seen.add(name)
        v = self.sec.options.get(name)
        if v is None:
            return default
        if isinstance(v, list):
            raise self.err(name, "must be an option, not a list")
        return v

    def list(self, name: builtins.str) -> builtins.list[builtins.str]:
        """A list; a plain option counts as a one-element list (uci's own readers do the same)."""
        self.seen.add(name)
        v = self.sec.options.get(name, [])
        return [v] if isinstance(v, str) else list(v)

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        v = self.str(name)
        if v is None:
            return default
        if v.lower() in _TRUE:
            return True
        if v.lower() in _FALSE:
            return False
        raise self.err(name, f"{v!r} is not a boolean (1/0, yes/no, on/off, true/false)")

    def int(self, name: builtins.str, default: builtins.int | None = None) -> builtins.int | None:
        v = self.str(name)
        if v is None:
            return default
        if not re.fullmatch(r"-?\d+", v.strip()):
            raise self.err(name, f"{v!r} is not a whole number")
        return int(v)

    def done(self) -> None:
        extra = sorted(set(self.sec.options) - self.seen)
        if extra:
            raise self.err(extra[0], "unknown option")


def settings(sections: list[Section]) -> dict[str, Any]:
    """What the init script needs besides the TOML: mode, port, forced DNS, web address."""
    o = _Opts(_main(sections) or Section("dnsfilter", "main", 0))
    mode = o.str("mode", "forward") or "forward"
    if mode not in MODES:
        raise o.err("mode", f"{mode!r}: must be forward or replace")
    port = o.int("port", 5353) or 0
    if not 1 <= port <= 65535:
        raise o.err("port", "must be between 1 and 65535")
    return {
        "enabled": o.bool("enabled", True),
        "mode": mode,
        "port": 53 if mode == "replace" else port,
        "force_dns": o.bool("force_dns", False),
        "web_listen": o.str("web_listen", "") or "",
    }


def _main(sections: list[Section]) -> Section | None:
    mains = [s for s in sections if s.type == "dnsfilter"]
    if len(mains) > 1:
        raise UciError(mains[1].line, "only one `config dnsfilter` section is allowed")
    return mains[0] if mains else None


def render(sections: list[Section]) -> dict[str, Any]:
    """The TOML config (as a dict for config.from_dict) of a parsed /etc/config/dnsfilter."""
    known = {"dnsfilter", "feed", "profile", "schedule", "device", "provider", "authority"}
    for s in sections:
        if s.type not in known:
            raise UciError(s.line, f"unknown section type {s.type!r} (known: {', '.join(sorted(known))})")
    st = settings(sections)
    main = _main(sections) or Section("dnsfilter", "main", 0)
    o = _Opts(main)
    for name in ("enabled", "mode", "port", "force_dns", "web_listen"):
        o.seen.add(name)
    out: dict[str, Any] = {}
    out["general"] = _pick({"hostname": o.str("hostname"), "timezone": o.str("timezone")})
    port = st["port"]
    if st["mode"] == "forward":
        # dnsmasq keeps port 53 and forwards to us over loopback, naming the client (add-mac)
        listen = [f"127.0.0.1:{port}", f"[::1]:{port}"]
    else:
        listen = ["lan:53", "127.0.0.1:53", "[::1]:53"]
    dns = {"listen": o.list("listen") or listen, "upstreams": o.list("upstream") or None,
           "block_mode": o.str("block_mode"), "block_ttl": o.int("block_ttl"),
           "cache_size": o.int("cache_size"), "fastpath_size": o.int("fastpath_size"),
           "workers": o.int("workers"), "allowed_clients": o.list("allowed_client") or None,
           "bootstrap": o.list("bootstrap") or None, "upstream_policy": o.str("upstream_policy"),
           "tls_ca_file": o.str("tls_ca_file")}
    out["dns"] = _pick(dns)
    # data_dir in RAM (compiled lists, query log); state_dir on flash: the family's small state
    out["storage"] = {"data_dir": o.str("data_dir", "/var/lib/dnsfilter"), "state_dir": o.str("state_dir", PERSISTENT),
                      **_pick({"log_ring": o.int("log_ring")})}
    if st["web_listen"]:
        out["web"] = {"listen": st["web_listen"]}
    feeds = [_feed(s) for s in sections if s.type == "feed"]
    if feeds:
        out["feeds"] = feeds
    out["filter"] = {"allow": o.list("allow"), "deny": o.list("deny")}
    out["protection"] = {"always_allow": o.list("always_allow")}
    out["defaults"] = _pick({"profile": o.str("default_profile"),
                             "block_categories": _categories(o.list("block_category")) or None})
    if o.has("block_category") and not out["defaults"].get("block_categories"):
        out["defaults"]["block_categories"] = []
    forwarders = ["127.0.0.1/32", "::1/128"] if st["mode"] == "forward" else []
    out["network"] = {"neighbours": o.bool("neighbours", True),
                      "lease_files": o.list("lease_file") or ["/tmp/dhcp.leases"],
                      "trusted_forwarders": forwarders}
    # Port-53 traffic is redirected to whoever holds 53: dnsmasq (forward) or dnsfilter (replace).
    out["firewall"] = {"interfaces": o.list("lan_interface") or ["br-lan"], "port": 53,
                       "block_dot": o.bool("block_dot", True), "block_doq": o.bool("block_doq", True),
                       # the DoH resolver list as a feed: the daemon (root under procd) refills the sets
                       **_pick({"doh_feed": o.str("doh_feed"), "doh_refresh": o.int("doh_refresh")})}
    mirror = o.str("catalog_mirror")
    if mirror is not None:
        out["catalog"] = {"mirror": mirror}
    weekly = o.str("weekly_report")
    if weekly is not None:
        out["notify"] = {"weekly_report": weekly}
    o.done()
    profiles = [s for s in sections if s.type == "profile"]
    schedules = [s for s in sections if s.type == "schedule"]
    if profiles:
        out["profiles"] = [_profile(p, schedules) for p in profiles]
    elif schedules:
        raise UciError(schedules[0].line, "a schedule needs a profile section")
    # a device may name its profile by the UCI section name ('kids') or by its name ('Kids')
    by_section = {p.name: p.options.get("name", p.name) for p in profiles if p.name}
    devices = [_device(s, by_section) for s in sections if s.type == "device"]
    if devices:
        out["devices"] = devices
    out |= _managed(sections)
    return out


# On flash: the provider's last accepted serial (what refuses a replayed bundle) and the audit
# trail must outlive a reboot, unlike data_dir (RAM). Written only when a bundle or list changes.
PERSISTENT = "/etc/dnsfilter"


def _managed(sections: list[Section]) -> dict[str, Any]:
    """`config provider` → [provider] (an ACS or USP agent provisions a router by writing these
    four options) and `config authority` → [authority]; docs/authority.md has the mapping."""
    out: dict[str, Any] = {}
    for kind in ("provider", "authority"):
        found = [s for s in sections if s.type == kind]
        if len(found) > 1:
            raise UciError(found[1].line, f"only one `config {kind}` section is allowed")
    for s in sections:
        o = _Opts(s)
        if s.type == "provider":
            if not o.bool("enabled", True):
                o.seen.update(s.options)
                o.done()
                continue
            url, key = o.str("bundle_url"), o.str("public_key")
            if not url or not key:
                raise UciError(s.line, "provider: needs option bundle_url and option public_key")
            out["provider"] = _pick({"bundle_url": url, "public_key": key, "interval": o.str("interval"),
                                     "ca_file": o.str("ca_file"),
                                     "state_dir": o.str("state_dir", f"{PERSISTENT}/provider")})
            o.done()
        elif s.type == "authority":
            out["authority"] = _pick({"selftest_interval": o.str("selftest_interval"),
                                      "selftest_sample": o.int("selftest_sample"),
                                      "selftest_rate": o.int("selftest_rate"),
                                      "audit_log": o.str("audit_log", f"{PERSISTENT}/audit.jsonl")})
            o.done()
    if "provider" in out and "authority" not in out:
        out["authority"] = {"audit_log": f"{PERSISTENT}/audit.jsonl"}
    return out


# `list block_category 'none'`: blocks no category (UCI has no empty list; the web UI can make one)
NO_CATEGORY = "none"


def _categories(cats: list[str]) -> list[str]:
    return [] if cats == [NO_CATEGORY] else cats


def _pick(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _feed(s: Section) -> dict[str, Any]:
    o = _Opts(s)
    name = o.str("name", s.name)
    if not name:
        raise UciError(s.line, "feed: a feed needs a name (config feed 'NAME' or option name)")
    enabled = o.bool("enabled", True)
    d = _pick({"name": name, "url": o.str("url"), "catalog": o.str("catalog"), "format": o.str("format"),
               "category": o.str("category"), "kind": o.str("kind"), "interval": o.str("interval"),
               "ede": o.int("ede"), "max_bytes": o.str("max_bytes"), "min_entries": o.int("min_entries"),
               "legal_basis": o.str("legal_basis"), "appeal_url": o.str("appeal_url"),
               "signature_url": o.str("signature_url"), "public_key": o.str("public_key"),
               "url_policy": o.str("url_policy"), "ip_policy": o.str("ip_policy")})
    shrink = o.str("max_shrink")
    if shrink is not None:
        try:
            d["max_shrink"] = float(shrink)
        except ValueError:
            raise o.err("max_shrink", f"{shrink!r} is not a number") from None
    # an xfr:// feed's TSIG key (docs/rpz.md): tsig_name, tsig_algorithm, tsig_secret_file
    tsig = _pick({"name": o.str("tsig_name"), "algorithm": o.str("tsig_algorithm"),
                  "secret_file": o.str("tsig_secret_file")})
    if tsig:
        d["tsig"] = tsig
    d["enabled"] = enabled
    o.done()
    return d


def _profile(s: Section, schedules: list[Section]) -> dict[str, Any]:
    o = _Opts(s)
    name = o.str("name", s.name)
    if not name:
        raise UciError(s.line, "profile: a profile needs a name (config profile 'NAME' or option name)")
    d: dict[str, Any] = {"name": name}
    cats = o.list("block_category")
    if cats or o.has("block_category"):
        d["block_categories"] = _categories(cats)
    d |= {"block_services": o.list("block_service"), "allow": o.list("allow"), "deny": o.list("deny"),
          "safe_search": o.bool("safe_search", False), "block_bypass": o.bool("block_bypass", False),
          "allow_only": o.bool("allow_only", False)}
    d |= _pick({"youtube": o.str("youtube"), "privacy": o.str("privacy")})
    if o.bool("block_page", False):
        d["block_page"] = True
    budgets: dict[str, str] = {}
    for item in o.list("budget"):
        key, sep, amount = item.partition("=")
        if not sep or not key.strip() or not amount.strip():
            raise o.err("budget", f"{item!r}: expected ID=DURATION, e.g. youtube=60m")
        budgets[key.strip()] = amount.strip()
    if budgets:
        d["budgets"] = budgets
    o.done()
    mine = [_schedule(x) for x in schedules if x.options.get("profile") in (name, s.name)]
    if mine:
        d["schedules"] = mine
    return d


def _schedule(s: Section) -> dict[str, Any]:
    o = _Opts(s)
    o.str("profile")
    block = o.list("block")
    d = _pick({"name": o.str("name", s.name), "days": o.list("day") or None, "start": o.str("start"),
               "end": o.str("end")})
    d["block"] = "all" if block in ([], ["all"]) else block
    o.done()
    return d


def _device(s: Section, by_section: dict[str, Any]) -> dict[str, Any]:
    o = _Opts(s)
    profile = o.str("profile", "") or ""
    d = _pick({"name": o.str("name", s.name), "mac": o.str("mac"), "ip": o.str("ip"), "cidr": o.str("cidr"),
               "profile": by_section.get(profile, profile)})
    o.done()
    return d


def orphan_schedules(sections: list[Section]) -> list[Section]:
    names = {s.options.get("name", s.name) for s in sections if s.type == "profile"} | {
        s.name for s in sections if s.type == "profile"}
    return [s for s in sections if s.type == "schedule" and s.options.get("profile") not in names]


def to_dict(text: str) -> dict[str, Any]:
    sections = parse(text)
    lost = orphan_schedules(sections)
    if lost:
        raise UciError(lost[0].line, f"schedule: no profile named {lost[0].options.get('profile', '')!r}")
    return render(sections)


# ---------------------------------------------------------------- TOML out


# The rendered TOML's mark: the UCI file it came from. The web UI writes its edits back there
# (webui/configfile.py, dnsfilter.router.uci_write), so that a restart renders them again.
SOURCE_MARK = "# uci-source: "


def source_of(toml_text: str) -> str | None:
    """The UCI file a rendered TOML names in its mark (in its first lines), else None."""
    for line in toml_text.splitlines()[:5]:
        if line.startswith(SOURCE_MARK):
            return line[len(SOURCE_MARK):].strip() or None
    return None


def to_toml(data: dict[str, Any], source: str | None = None) -> str:
    """A small TOML writer for what render() produces: tables, arrays of tables (with one
    nested array of tables, profiles.schedules), strings, numbers, booleans, lists, and
    inline tables of strings. With `source`, the first lines name the UCI file (`source_of`)."""
    if source is None:
        out = ["# Generated from a UCI config (dnsfilter/router/uci.py).\n"]
    else:
        out = [f"# Generated from {source} by /etc/init.d/dnsfilter: edit the UCI file, not this one\n",
               "# (the web UI writes its changes back there).\n", f"{SOURCE_MARK}{source}\n"]
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"\n[{key}]\n")
            out += _pairs(value)
        else:
            for item in value:
                out.append(f"\n[[{key}]]\n")
                out += _pairs({k: v for k, v in item.items() if not _is_tables(v)})
                for sub, rows in ((k, v) for k, v in item.items() if _is_tables(v)):
                    for row in rows:
                        out.append(f"\n[[{key}.{sub}]]\n")
                        out += _pairs(row)
    return "".join(out)


def _is_tables(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _pairs(d: dict[str, Any]) -> list[str]:
    return [f"{k} = {_value(v)}\n" for k, v in d.items()]


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_string(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _string(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's, but JSON leaves DEL (U+007F) as it is,
    which TOML forbids: a UCI value holding one made TOML the loader refused (the fuzzer's find)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def uci_to_toml(text: str, source: str | None = None) -> str:
    return to_toml(to_dict(text), source)

"""dnsfilter's TOML config written back into OpenWrt's `/etc/config/dnsfilter` (UCI): the
inverse of `dnsfilter.router.uci.render`, for the web UI's edits on a router (UCI stays the
one source of truth; the TOML in RAM is rendered from it at every start).

The file is patched, not rewritten: an option whose rendered value already matches is left
as it is (its line, quoting and comments kept); a changed one is replaced where it stands, a
new one goes at the end of its section, a new section after the last of its type. Sections
the TOML does not come from (anything but main, feeds, profiles, schedules and devices) are
kept. The result is checked: rendered again it must load as the same config, or UciWriteError
says which setting has no UCI form and nothing is written.

Pure: text in, text out; writing the file is the caller's job (webui/configfile.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dnsfilter.core.household.macaddr import normalise_mac
from dnsfilter.router.uci import NO_CATEGORY, render
from dnsfilter.router.uci_grammar import Section, UciError, parse


class UciWriteError(ValueError):
    """The config has a setting /etc/config/dnsfilter cannot hold (named in the message)."""


# (TOML table, key, UCI option, kind) of `config dnsfilter 'main'`; kind: str int bool list cats
MAIN: tuple[tuple[str, str, str, str], ...] = (
    ("general", "hostname", "hostname", "str"), ("general", "timezone", "timezone", "str"),
    ("dns", "listen", "listen", "list"), ("dns", "upstreams", "upstream", "list"),
    ("dns", "block_mode", "block_mode", "str"), ("dns", "block_ttl", "block_ttl", "int"),
    ("dns", "cache_size", "cache_size", "int"), ("dns", "fastpath_size", "fastpath_size", "int"),
    ("dns", "workers", "workers", "int"), ("dns", "allowed_clients", "allowed_client", "list"),
    ("dns", "bootstrap", "bootstrap", "list"), ("dns", "upstream_policy", "upstream_policy", "str"),
    ("dns", "tls_ca_file", "tls_ca_file", "str"),
    ("storage", "data_dir", "data_dir", "str"), ("storage", "state_dir", "state_dir", "str"),
    ("storage", "log_ring", "log_ring", "int"),
    ("filter", "allow", "allow", "list"), ("filter", "deny", "deny", "list"),
    ("protection", "always_allow", "always_allow", "list"),
    ("defaults", "profile", "default_profile", "str"), ("defaults", "block_categories", "block_category", "cats"),
    ("network", "neighbours", "neighbours", "bool"), ("network", "lease_files", "lease_file", "list"),
    ("firewall", "interfaces", "lan_interface", "list"), ("firewall", "block_dot", "block_dot", "bool"),
    ("firewall", "block_doq", "block_doq", "bool"), ("firewall", "doh_feed", "doh_feed", "str"),
    ("firewall", "doh_refresh", "doh_refresh", "int"), ("notify", "weekly_report", "weekly_report", "str"),
    ("catalog", "mirror", "catalog_mirror", "str"),
)
FEED: tuple[tuple[str, str, str], ...] = tuple((k, k, "str") for k in (
    "name", "url", "catalog", "format", "category", "kind", "interval", "max_bytes", "legal_basis", "appeal_url",
    "signature_url", "public_key", "url_policy", "ip_policy")) + (
    ("ede", "ede", "int"), ("min_entries", "min_entries", "int"), ("max_shrink", "max_shrink", "str"),
    ("enabled", "enabled", "bool"))
PROFILE: tuple[tuple[str, str, str], ...] = (
    ("name", "name", "str"), ("block_categories", "block_category", "cats"),
    ("block_services", "block_service", "list"), ("allow", "allow", "list"), ("deny", "deny", "list"),
    ("safe_search", "safe_search", "bool"), ("block_bypass", "block_bypass", "bool"),
    ("allow_only", "allow_only", "bool"), ("youtube", "youtube", "str"), ("privacy", "privacy", "str"),
    ("block_page", "block_page", "bool"), ("budgets", "budget", "budgets"))
SCHEDULE: tuple[tuple[str, str, str], ...] = (
    ("name", "name", "str"), ("days", "day", "list"), ("start", "start", "str"), ("end", "end", "str"),
    ("block", "block", "block"))
DEVICE: tuple[tuple[str, str, str], ...] = tuple((k, k, "str") for k in ("name", "mac", "ip", "cidr", "profile"))
_MISSING = object()


def uci_value(value: Any, kind: str) -> str | list[str] | None:
    """A TOML value as UCI option text (a list for `list` lines); None: no option."""
    if value is None or value is _MISSING:
        return None
    if kind == "bool":
        return "1" if value else "0"
    if kind == "cats":
        return [str(v) for v in value] or [NO_CATEGORY]
    if kind == "budgets":
        return [f"{k}={v}" for k, v in value.items()] or None
    if kind == "block":
        return None if value == "all" else [str(v) for v in value]
    if kind == "list":
        return [str(v) for v in value] or None
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return [str(x) for x in a] == [str(x) for x in b]
    return a == b


@dataclass
class Want:
    """A section as it should be: matched to an existing one (`old`) or new."""

    type: str
    name: str | None
    options: dict[str, str | list[str] | None]  # None: the option goes
    old: Section | None = None
    after: Section | None = None  # for a new section: placed after this one
    extra: list[Want] = field(default_factory=list)  # its schedules (a profile's)


def patch(old: Section | None, cur: dict[str, Any], want: dict[str, Any],
          table: tuple[tuple[str, str, str], ...]) -> dict[str, str | list[str] | None]:
    """The options to set (or drop, None) so that the section renders `want`: only where what it
    renders now (`cur`) differs."""
    out: dict[str, str | list[str] | None] = {}
    for key, opt, kind in table:
        w, c = want.get(key, _MISSING), cur.get(key, _MISSING)
        if old is not None and _same(w, c):
            continue
        out[opt] = uci_value(w, kind)
    return out


def write(text: str, data: dict[str, Any], path: str = "/etc/config/dnsfilter") -> str:
    """The UCI file `text` changed so that it renders the config `data` (a TOML dict); `path` is
    where that TOML lives (relative paths in it count from there)."""
    from dnsfilter import config as config_mod

    sections = parse(text)
    if _shared_lines(sections):  # `option a 1; option b 2`: one command a line first, comments lost
        text = canonical(sections)
        sections = parse(text)
    cur = render(sections)
    wants: list[Want] = []
    main = next((s for s in sections if s.type == "dnsfilter"), None)
    opts: dict[str, str | list[str] | None] = {}
    for tbl, key, opt, kind in MAIN:
        w = data.get(tbl, {}).get(key, _MISSING)
        if not _same(w, cur.get(tbl, {}).get(key, _MISSING)):
            opts[opt] = uci_value(w, kind)
    if data.get("web", {}).get("listen") != cur.get("web", {}).get("listen"):
        opts["web_listen"] = data.get("web", {}).get("listen")
    if main is not None or any(v is not None for v in opts.values()):
        wants.append(Want("dnsfilter", "main" if main is None else main.name, opts, main))
    wants += _feeds(sections, cur, data)
    wants += _profiles(sections, cur, data)
    wants += _devices(sections, cur, data)
    out = _apply(text, sections, wants)
    try:
        again = render(parse(out))
        same = config_mod.from_dict(again, path) == config_mod.from_dict(data, path)
    except (UciError, config_mod.ConfigError) as e:
        raise UciWriteError(f"the UCI file would not read back: {e}") from None
    if not same:
        raise UciWriteError(f"the UCI file (/etc/config/dnsfilter) cannot hold this setting: "
                            f"{_first_difference(again, data)}")
    return out


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"[{key}]"
    return "the config"


def _by_name(sections: list[Section], kind: str) -> dict[str, Section]:
    return {str(s.options.get("name", s.name)): s for s in sections if s.type == kind}


def _free_name(name: str, sections: list[Section]) -> str | None:
    """A UCI section name for a new section called `name`, when it is one and is free."""
    import re

    taken = {s.name for s in sections}
    return name if re.fullmatch(r"[A-Za-z0-9_]+", name) and name not in taken else None


def _feeds(sections: list[Section], cur: dict[str, Any], data: dict[str, Any]) -> list[Want]:
    old = _by_name(sections, "feed")
    rendered = {f["name"]: f for f in cur.get("feeds", [])}
    out: list[Want] = []
    for feed in data.get("feeds", []):
        name = str(feed.get("name", ""))
        want = dict(feed)
        tsig = want.pop("tsig", None) or {}
        want |= {f"tsig_{k}": v for k, v in tsig.items()}
        table = FEED + tuple((f"tsig_{k}", f"tsig_{k}", "str") for k in ("name", "algorithm", "secret_file"))
        cur_feed = dict(rendered.get(name, {}))
        cur_tsig = cur_feed.pop("tsig", None) or {}
        cur_feed |= {f"tsig_{k}": v for k, v in cur_tsig.items()}
        sec = old.get(name)
        opts = patch(sec, cur_feed, want, table)
        if sec is None:
            sname = _free_name(name, sections)
            if sname is not None:
                opts.pop("name", None)
            out.append(Want("feed", sname, opts))
        else:
            out.append(Want("feed", sec.name, opts, sec))
    return out


def _profiles(sections: list[Section], cur: dict[str, Any], data: dict[str, Any]) -> list[Want]:
    old = _by_name(sections, "profile")
    rendered = {p["name"]: p for p in cur.get("profiles", [])}
    out: list[Want] = []
    for prof in data.get("profiles", []):
        name = str(prof.get("name", ""))
        sec = old.get(name)
        opts = patch(sec, rendered.get(name, {}), prof, PROFILE)
        if sec is None:
            sname = _free_name(name.lower(), sections) or _free_name(name, sections)
            if sname is not None and sname == name:
                opts.pop("name", None)
            w = Want("profile", sname, opts)
        else:
            w = Want("profile", sec.name, opts, sec)
        ref = w.name or name
        refs = {name, sec.name} if sec is not None and sec.name else {name}
        mine = [s for s in sections if s.type == "schedule" and s.options.get("profile") in refs]
        had = rendered.get(name, {}).get("schedules", []) if sec is not None else []
        for i, sched in enumerate(prof.get("schedules", [])):
            s_old = mine[i] if i < len(mine) else None
            s_opts = patch(s_old, had[i] if i < len(had) else {}, sched, SCHEDULE)
            if s_old is None:
                s_opts = {"profile": ref, **s_opts}
            w.extra.append(Want("schedule", None, s_opts, s_old))
        out.append(w)
    return out


def _device_key(d: dict[str, Any] | Section) -> str:
    get = d.options.get if isinstance(d, Section) else d.get
    mac = get("mac")
    if mac:
        try:
            return "mac:" + normalise_mac(str(mac))
        except ValueError:
            return "mac:" + str(mac)
    for k in ("ip", "cidr", "name"):
        if get(k):
            return f"{k}:{get(k)}"
    return ""


def _devices(sections: list[Section], cur: dict[str, Any], data: dict[str, Any]) -> list[Want]:
    olds = [s for s in sections if s.type == "device"]
    rendered = cur.get("devices", [])
    pairs = dict(zip([_device_key(s) for s in olds], zip(olds, rendered, strict=True), strict=True))
    out: list[Want] = []
    for dev in data.get("devices", []):
        sec, was = pairs.get(_device_key(dev), (None, {}))
        out.append(Want("device", sec.name if sec else None, patch(sec, was, dev, DEVICE), sec))
    return out


# ---------------------------------------------------------------- text


def quote(value: str) -> str:
    """A UCI single-quoted value (as `uci export` writes it: ' becomes '\\'')."""
    return "'" + value.replace("'", "'\\''") + "'"


def option_lines(name: str, value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return [f"\tlist {name} {quote(v)}\n" for v in value]
    return [f"\toption {name} {quote(value)}\n"]


def section_lines(w: Want) -> list[str]:
    head = f"config {w.type}" + (f" {quote(w.name)}" if w.name else "") + "\n"
    body = [line for opt, v in w.options.items() if v is not None for line in option_lines(opt, v)]
    return ["\n", head, *body]


def _spans(sec: Section) -> list[tuple[int, int]]:
    return [sec.head, *(sp for spans in sec.spans.values() for sp in spans)]


def _shared_lines(sections: list[Section]) -> bool:
    seen: set[int] = set()
    for sec in sections:
        for first, last in _spans(sec):
            here = set(range(first, last + 1))
            if here & seen:
                return True
            seen |= here
    return False


def canonical(sections: list[Section]) -> str:
    """The sections one command a line, as `uci commit` writes them (comments are lost)."""
    out: list[str] = []
    for sec in sections:
        out += section_lines(Want(sec.type, sec.name, dict(sec.options)))
    return "".join(out).lstrip("\n")


def _end(sec: Section) -> int:
    return max([sec.head[1], *(last for spans in sec.spans.values() for _, last in spans)])


def _apply(text: str, sections: list[Section], wants: list[Want]) -> str:
    """Edit the text line by line: replace[i] stands in for physical line i (1-based), after[i]
    follows it."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    replace: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    flat = [x for w in wants for x in (w, *w.extra)]
    kept = {id(w.old) for w in flat if w.old is not None}
    for sec in sections:
        if sec.type in ("feed", "profile", "schedule", "device") and id(sec) not in kept:
            for first, last in _spans(sec):
                for i in range(first, last + 1):
                    replace[i] = []
            first = sec.head[0]
            if first > 1 and not lines[first - 2].strip():
                replace[first - 1] = []  # the blank line that set it apart
    last_of: dict[str, int] = {}
    for sec in sections:
        if id(sec) in kept or sec.type not in ("feed", "profile", "schedule", "device"):
            last_of[sec.type] = _end(sec)
    for w in flat:
        if w.old is not None:
            end = _end(w.old)
            for opt, value in w.options.items():
                spans = w.old.spans.get(opt, [])
                new = option_lines(opt, value) if value is not None else []
                if spans:
                    for n, (first, last) in enumerate(spans):
                        for i in range(first, last + 1):
                            replace[i] = new if (n == 0 and i == first) else []
                else:
                    after.setdefault(end, []).extend(new)
            continue
        where = last_of.get(w.type) or (last_of.get("profile") if w.type == "schedule" else None) or len(lines)
        after.setdefault(where, []).extend(section_lines(w))
    out: list[str] = after.get(0, [])[:]
    for i, line in enumerate(lines, start=1):
        out += replace.get(i, [line])
        out += after.get(i, [])
    return "".join(out)

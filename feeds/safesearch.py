"""Safe-search rewrites (feeds/safesearch.toml): which names each search engine's documented
safe endpoint replaces.

A profile with safe search on answers, say, `www.google.kz` with a CNAME to
`forcesafesearch.google.com` plus that name's own addresses. This module only says which names
go where; the policy and dnsfilter.core.dns.rewrite build the answers. Names are exact (never
subtrees): `images.google.com` is not `www.google.com`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from feeds.services import CatalogError, domain_problem, load_toml

SAFESEARCH_PATH = Path(__file__).with_name("safesearch.toml")
# Engines a profile can name; "youtube" stands for youtube_strict or youtube_moderate.
ENGINES = ("google", "bing", "duckduckgo", "yandex", "brave", "ecosia", "youtube")
YOUTUBE_MODES = ("strict", "moderate", "off")
_FIELDS = ("title", "target", "source", "names", "domains")


@dataclass(frozen=True, slots=True)
class SafeSearch:
    engine: str
    target: str
    names: tuple[str, ...]  # exact names, lower-case, no trailing dot
    title: str = ""
    source: str = ""  # where the provider documents the endpoint


def _generated(table: object, fail: Callable[[str], CatalogError]) -> list[str]:
    """Names from `domains = { stem, prefixes, tlds = { second-level: "cc cc …" } }`."""
    if not isinstance(table, dict) or set(table) != {"stem", "prefixes", "tlds"}:
        raise fail("domains: needs exactly stem, prefixes and tlds")
    stem, prefixes, tlds = table["stem"], table["prefixes"], table["tlds"]
    if not isinstance(stem, str) or not isinstance(prefixes, list) or not isinstance(tlds, dict):
        raise fail("domains: stem is a string, prefixes a list, tlds a table")
    out = []
    for second, codes in tlds.items():
        if not isinstance(codes, str) or not codes.split():
            raise fail(f"domains.tlds.{second or '(none)'}: a space-separated list of codes")
        for cc in codes.split():
            for prefix in prefixes:
                if not isinstance(prefix, str):
                    raise fail("domains.prefixes: strings only")
                out.append(f"{prefix}{stem}.{second + '.' if second else ''}{cc}")
    return out


def parse_safe_search(path: Path) -> dict[str, SafeSearch]:
    data, lines = load_toml(path)
    out: dict[str, SafeSearch] = {}
    for engine, table in data.items():
        line = lines.get(engine)

        def fail(why: str, engine: str = engine, line: int | None = line) -> CatalogError:
            return CatalogError(path, line, f"[{engine}] {why}")

        if not isinstance(table, dict):
            raise CatalogError(path, None, f"{engine!r}: every engine is a [table]")
        extra = sorted(set(table) - set(_FIELDS))
        if extra:
            raise fail(f"unknown key {extra[0]!r} (known: {', '.join(_FIELDS)})")
        target, title, source = table.get("target"), table.get("title", ""), table.get("source", "")
        if not isinstance(target, str) or domain_problem(target, wildcard=False):
            raise fail(f"target: {target!r} is not a DNS name")
        if not isinstance(title, str) or not isinstance(source, str):
            raise fail("title and source are strings")
        raw = table.get("names", [])
        if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
            raise fail("names: a list of strings")
        names = list(raw) + (_generated(table["domains"], fail) if "domains" in table else [])
        if not names:
            raise fail("no names (give names or domains)")
        seen: set[str] = set()
        for name in names:
            why = domain_problem(name, wildcard=False)
            if why:
                raise fail(f"{name!r}: {why}")
            if name in seen:
                raise fail(f"{name!r} is listed twice")
            seen.add(name)
        out[engine] = SafeSearch(engine, target, tuple(names), title, source)
    _check_consistent(path, out, lines)
    return out


def _check_consistent(path: Path, engines: Mapping[str, SafeSearch], lines: Mapping[str, int]) -> None:
    """Two engines may not send one name to different targets (YouTube's two modes excepted:
    a profile takes one of them), and no target may itself be rewritten (a loop)."""
    owner: dict[str, SafeSearch] = {}
    for e in engines.values():
        for name in e.names:
            other = owner.get(name)
            if other and other.target != e.target and {other.engine, e.engine} != {"youtube_strict",
                                                                                  "youtube_moderate"}:
                raise CatalogError(path, lines.get(e.engine),
                                   f"[{e.engine}] {name!r} already goes to {other.target} ([{other.engine}])")
            owner.setdefault(name, e)
    for e in engines.values():
        if e.target in owner:
            raise CatalogError(path, lines.get(e.engine), f"[{e.engine}] target {e.target} is itself rewritten")


@functools.cache
def _bundled() -> Mapping[str, SafeSearch]:
    return parse_safe_search(SAFESEARCH_PATH)


def load_safe_search(path: Path | None = None) -> dict[str, SafeSearch]:
    """Every engine entry by id (google, bing, …, youtube_strict, youtube_moderate): the bundled
    table (read once per process) or the file at `path`. Bad input raises CatalogError."""
    return dict(_bundled()) if path is None else parse_safe_search(Path(path))


def rewrite_table(engines: Iterable[str], youtube: str = "strict",
                  table: Mapping[str, SafeSearch] | None = None) -> dict[str, str]:
    """Every name to rewrite for these engines, mapped to its CNAME target. `engines` are names
    of ENGINES (or entry ids); "youtube" follows `youtube` (strict, moderate, or off = none).
    Unknown engines or modes raise ValueError."""
    if youtube not in YOUTUBE_MODES:
        raise ValueError(f"youtube mode {youtube!r}: must be one of {', '.join(YOUTUBE_MODES)}")
    entries = _bundled() if table is None else table
    out: dict[str, str] = {}
    for engine in engines:
        if engine == "youtube":
            if youtube == "off":
                continue
            engine = f"youtube_{youtube}"
        e = entries.get(engine)
        if e is None:
            raise ValueError(f"unknown safe-search engine {engine!r} (known: {', '.join(ENGINES)})")
        for name in e.names:
            out[name] = e.target
    return out

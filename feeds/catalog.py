"""The catalog of well-known public feeds (feeds/catalog.toml).

A feed in the config can name a catalog entry (`catalog = "hagezi-pro"`) instead of a URL; the
entry fills in url, format and category. The web UI lists the same entries as choices. The file
is read once and validated, so a broken entry fails loudly in the tests rather than at a
user's first sync. Only the standard library is used: dnsfilter.config imports this module.
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

CATALOG_PATH = Path(__file__).with_name("catalog.toml")
FIELDS = ("name", "url", "format", "category", "licence", "description", "homepage")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    name: str
    url: str
    format: str
    category: str
    licence: str
    description: str
    homepage: str  # the project's page: where its terms are, and where a parent can read more
    entries: int  # about how many names, rounded (feeds/catalog.toml says where each figure is from)
    default: bool = False  # the list enabled when a parent chooses this category


class CatalogError(KeyError):
    """An unknown catalog id; `suggestions` holds the closest known ids."""

    def __init__(self, wanted: str, suggestions: list[str]) -> None:
        super().__init__(wanted)
        self.wanted = wanted
        self.suggestions = suggestions

    def __str__(self) -> str:
        hint = f" (did you mean {', '.join(map(repr, self.suggestions))}?)" if self.suggestions else ""
        return f"no catalog entry {self.wanted!r}{hint}"


def parse(text: str) -> dict[str, CatalogEntry]:
    """Entries of a catalog TOML text. Raises ValueError naming the entry and field at fault."""
    data = tomllib.loads(text)
    out: dict[str, CatalogEntry] = {}
    for ident, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"catalog: {ident!r} must be a table")
        extra = sorted(set(table) - set(FIELDS) - {"entries", "default"})
        if extra:
            raise ValueError(f"catalog: {ident}.{extra[0]}: unknown field")
        for f in FIELDS:
            if not isinstance(table.get(f), str) or not table[f]:
                raise ValueError(f"catalog: {ident}.{f}: missing or not a string")
        size = table.get("entries")
        if type(size) is not int or size <= 0:
            raise ValueError(f"catalog: {ident}.entries: missing or not a positive integer")
        default = table.get("default", False)
        if type(default) is not bool:
            raise ValueError(f"catalog: {ident}.default: must be true or false")
        out[ident] = CatalogEntry(ident, **{f: table[f] for f in FIELDS}, entries=size, default=default)
    defaults = [e.category for e in out.values() if e.default]
    twice = sorted({c for c in defaults if defaults.count(c) > 1})
    if twice:
        raise ValueError(f"catalog: more than one default list for the category {twice[0]!r}")
    return out


@functools.cache
def entries() -> dict[str, CatalogEntry]:
    """Every shipped catalog entry by id (read once per process)."""
    return parse(CATALOG_PATH.read_text(encoding="utf-8"))


def default_for(category: str) -> CatalogEntry | None:
    """The list enabled when a parent chooses `category` (None: the catalog has none)."""
    return next((e for e in entries().values() if e.default and e.category == category), None)


def close_matches(wanted: str, limit: int = 3) -> list[str]:
    known = list(entries())
    found = difflib.get_close_matches(wanted.lower(), known, n=limit, cutoff=0.5)
    # "pro" or "nsfw" alone is far from "hagezi-pro" by ratio but obviously meant: add substring hits
    for ident in known:
        if wanted and wanted.lower() in ident and ident not in found and len(found) < limit:
            found.append(ident)
    return found


def lookup(ident: str) -> CatalogEntry:
    """The entry `ident`, or CatalogError with the closest ids."""
    try:
        return entries()[ident]
    except KeyError:
        raise CatalogError(ident, close_matches(ident)) from None

"""Whether the categories a parent chose are backed by a working list ("enforced"), in words
for the profile page, the setup summary and the Dashboard banner; and the config edit that
adds the catalog's list of a chosen category, so that choosing it is enough.

The daemon applies the same rule to what it has loaded (`dnsfilter.config.profiles.unenforced`,
said by `dnsfilter check`); the UI process sees the config and the feed files: a list is in
force when its compiled set is on disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import Markup

from dnsfilter.config import Config, Feed
from dnsfilter.config.feeds import CATEGORIES
from dnsfilter.config.values import N_
from feeds.catalog import CatalogEntry  # a dataclass; the catalog file is read on first use
from webui.configfile import Edit, array_of_tables, new_table
from webui.feedsui import FeedRow, rows

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument


@dataclass(frozen=True, slots=True)
class ListInfo:
    """One list behind a category, as a parent is told about it."""

    feed: str
    title: str  # the catalog's name, or the feed's own
    source: str  # where it comes from: the project's page, or the address's host
    licence: str  # "" for a list added by its address
    entries: int  # names in force, or the catalog's estimate before the first download
    row: FeedRow

    @property
    def in_force(self) -> bool:
        return self.row.in_force


@dataclass(frozen=True, slots=True)
class CategoryState:
    category: str
    lists: tuple[ListInfo, ...]

    @property
    def enforced(self) -> bool:
        return any(x.in_force for x in self.lists)

    @property
    def state(self) -> str:
        """ok | stale (in force, but a list's last download failed) | pending (a list is
        downloading for the first time) | missing (nothing in force, nothing coming)."""
        if self.enforced:
            return "stale" if any(x.row.state == "failed" for x in self.lists) else "ok"
        if any(x.row.state == "never" for x in self.lists):
            return "pending"
        return "missing"

    @property
    def failing(self) -> tuple[ListInfo, ...]:
        return tuple(x for x in self.lists if x.row.state == "failed")


def _info(feed: Feed, row: FeedRow) -> ListInfo:
    from feeds.catalog import entries

    entry = entries().get(feed.catalog or "")
    if entry is not None:
        return ListInfo(feed.name, entry.name, _host(entry.homepage) + urlsplit(entry.homepage).path.rstrip("/"),
                        entry.licence, row.entries or entry.entries, row)
    return ListInfo(feed.name, feed.name, _host(row.url) or row.url, "", row.entries, row)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def category_states(cfg: Config, categories: Iterable[str], builtin_bypass: bool = False) -> list[CategoryState]:
    """The state of each category (CATEGORIES order) from the enabled lists of that category.
    `builtin_bypass`: the profile blocks bypass with the list shipped with dnsfilter."""
    by_feed = {r.name: r for r in rows(cfg)}
    wanted = set(categories)
    out = []
    for c in CATEGORIES:
        if c not in wanted or c in ("custom", "authority"):
            continue
        lists = tuple(_info(f, by_feed[f.name]) for f in cfg.feeds
                      if f.enabled and f.kind == "block" and f.category == c and f.name in by_feed)
        if c == "bypass" and builtin_bypass:
            continue  # the bundled list (feeds/bypass.txt) is always there
        out.append(CategoryState(c, lists))
    return out


def wanted(cfg: Config, profile: str) -> tuple[str, ...]:
    """The categories a profile asks for (a config without profiles: the default set)."""
    p = next((p for p in cfg.profiles if p.name == profile), None)
    if p is None:
        return tuple(cfg.defaults.block_categories)
    return p.wanted_categories(cfg.defaults.block_categories)


def profile_states(cfg: Config, profile: str) -> list[CategoryState]:
    p = next((p for p in cfg.profiles if p.name == profile), None)
    return category_states(cfg, wanted(cfg, profile), builtin_bypass=p is not None and p.block_bypass)


@dataclass(frozen=True, slots=True)
class Problem:
    """A category not kept as promised, for the Dashboard banner."""

    state: CategoryState
    profiles: tuple[str, ...]


def problems(cfg: Config) -> list[Problem]:
    """Every category some profile asks for that is not `ok`, with the profiles asking."""
    names = [p.name for p in cfg.profiles] or [cfg.defaults.profile]
    found: dict[str, tuple[CategoryState, list[str]]] = {}
    for name in names:
        for st in profile_states(cfg, name):
            if st.state != "ok":
                found.setdefault(st.category, (st, []))[1].append(name)
    return [Problem(st, tuple(who)) for c in CATEGORIES if c in found for st, who in [found[c]]]


# ---------------------------------------------------------------- the lists a choice needs


def lists_to_enable(cfg: Config, categories: Iterable[str], builtin_bypass: bool = False) -> list[CatalogEntry]:
    """For each chosen category with no enabled list, the catalog's list for it."""
    from feeds.catalog import default_for

    have = {f.category for f in cfg.feeds if f.enabled and f.kind == "block"}
    if builtin_bypass:
        have.add("bypass")
    out = []
    for c in CATEGORIES:
        if c in set(categories) and c not in have:
            entry = default_for(c)
            if entry is not None:
                out.append(entry)
    return out


def enable_lists(add: Iterable[CatalogEntry]) -> Edit:
    """Add each catalog list as a `[[feeds]]` entry named by its id, or turn it back on when
    the config already has it (turned off)."""
    wanted = list(add)

    def edit(doc: TOMLDocument) -> None:
        feeds: Any = array_of_tables(doc, "feeds") if wanted else doc.get("feeds", [])
        for e in wanted:
            have = next((f for f in feeds if f.get("catalog") == e.id or f.get("name") == e.id), None)
            if have is not None:
                have["enabled"] = True
                continue
            t = new_table()
            t["name"] = e.id
            t["catalog"] = e.id
            feeds.append(t)
    return edit


def chain(*edits: Edit) -> Edit:
    """Several edits in one write: all of them or none."""
    def edit(doc: TOMLDocument) -> None:
        for e in edits:
            e(doc)
    return edit


def ensure_lists(profile: str | None, added: list[CatalogEntry]) -> Edit:
    """After the other edits of the same write: every category `profile` (None: the default
    profile) now asks for gets the catalog's list when it has none; `added` receives them, so
    the page can say which lists and from where."""
    def edit(doc: TOMLDocument) -> None:
        from pathlib import Path

        from webui.configfile import validate

        cfg = validate(doc, Path(""))  # the result so far; a mistake is the caller's ConfigError, items named
        name = profile or cfg.defaults.profile
        p = next((p for p in cfg.profiles if p.name == name), None)
        entries = lists_to_enable(cfg, wanted(cfg, name), builtin_bypass=p is not None and p.block_bypass)
        enable_lists(entries)(doc)
        added.extend(entries)
    return edit


# ---------------------------------------------------------------- in words
# List names, licences and sources are the authors' own words (English): marked so, a screen
# reader says them as English and a browser does not translate them (WCAG 3.1.2).


def _en(text: str) -> Markup:
    return Markup('<span lang="en" translate="no">{}</span>').format(text)


def _say(template: str, **values: object) -> Markup:
    """The translated `template` (marked with N_ for pybabel) with `values` put in, each
    escaped unless it is Markup."""
    from flask_babel import gettext as _

    return Markup.escape(_(template)) % values


def _about(name: str, source: str, licence: str, entries: int) -> Markup:
    from flask_babel import format_decimal

    if licence:
        return _say(N_("%(name)s (from %(source)s, licence: %(licence)s, about %(n)s sites)"), name=_en(name),
                    source=_en(source), licence=_en(licence), n=format_decimal(entries))
    return _say(N_("%(name)s (from %(source)s)"), name=_en(name), source=_en(source))


def describe(x: ListInfo) -> Markup:
    """"HaGeZi NSFW (from github.com/hagezi/dns-blocklists, licence: GPL-3.0, about 111,000 sites)"."""
    return _about(x.title, x.source, x.licence, x.entries)


def catalog_words(e: CatalogEntry) -> Markup:
    """A catalog entry as `describe` says a list (before it is in the config)."""
    return _about(e.name, _host(e.homepage) + urlsplit(e.homepage).path.rstrip("/"), e.licence, e.entries)


def added_words(added: Iterable[CatalogEntry]) -> Markup:
    """The sentence a page adds after saving a choice that turned lists on."""
    return _say(N_("Lists turned on for what you chose, downloading now: %(lists)s."),
                lists=Markup("; ").join(catalog_words(e) for e in added))


def words(st: CategoryState) -> Markup:
    """What a parent is told about one chosen category (after the page's own "Not enforced
    yet." / "Not enforced." for the states that are not, which `prefix` gives)."""
    if st.state == "ok":
        return _say(N_("Blocked with %(lists)s."), lists=Markup("; ").join(describe(x) for x in st.lists if x.in_force))
    if st.state == "stale":
        x = st.failing[0]
        return _say(N_("Still blocked, but the list %(list)s could not be updated. %(status)s"), list=_en(x.title),
                    status=x.row.status)
    if st.state == "pending":
        x = next(x for x in st.lists if x.row.state == "never")
        return _say(N_("The list %(list)s is being downloaded."), list=describe(x))
    if st.failing:
        x = st.failing[0]
        return _say(N_("The list %(list)s could not be downloaded. %(status)s"), list=_en(x.title),
                    status=x.row.status)
    return _say(N_("No list of this category is turned on."))


def prefix(st: CategoryState) -> str:
    """"Not enforced yet" (downloading) or "Not enforced" (nothing in force), else ""."""
    from flask_babel import gettext as _

    return {"pending": _("Not enforced yet"), "missing": _("Not enforced")}.get(st.state, "")

"""The Feeds page's logic: the catalog picker, custom URLs, enable/disable, "sync now" and each
feed's status in plain words. Config changes go through `configfile.apply`; a sync runs the
CLI in a subprocess (bounded by a timeout) so a slow download never holds a UI thread's lock."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _

from dnsfilter.config import Config, ConfigError
from webui import control
from webui.configfile import Edit, array_of_tables, new_table
from webui.errortext import feed_error_text

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

SYNC_TIMEOUT = 120.0  # the CLI's own fetch retries stay under this on a slow line


@dataclass(frozen=True, slots=True)
class FeedRow:
    name: str
    category: str
    url: str
    enabled: bool
    catalog: str | None
    state: str  # ok | failed | never
    status: str  # in plain words
    entries: int
    locked: bool = False  # set by the provider's bundle: shown read-only, never turned off here
    in_force: bool = False  # a compiled set is on disk: the daemon blocks with it

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "category": self.category, "url": self.url, "enabled": self.enabled,
                "catalog": self.catalog, "state": self.state, "status": self.status, "entries": self.entries,
                "locked": self.locked, "in_force": self.in_force}


def _when(ts: float, tz: str) -> str:
    """Local time in [general].timezone (the process's own zone may be anything)."""
    import zoneinfo

    return dt.datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def rows(cfg: Config) -> list[FeedRow]:
    from feeds.files import read_status, set_path

    out = []
    for f in cfg.feeds:
        st = read_status(cfg, f)
        if st.error:
            state = "failed"
            text = _("The last download failed: %(e)s", e=feed_error_text(st.error))
            if st.last_success:
                text += " " + _("The list from %(t)s is still used.", t=_when(st.last_success, cfg.general.timezone))
        elif st.last_success:
            state = "ok"
            text = _("Up to date: %(n)d sites, checked %(t)s.", n=st.entries, t=_when(st.last_success, cfg.general.timezone))
        else:
            state = "never"
            text = _("Not downloaded yet.")
        out.append(FeedRow(f.name, f.category, st.url or f.url, f.enabled, f.catalog, state, text, st.entries,
                           cfg.managed.is_locked(f"feeds.{f.name}"), set_path(cfg, f).exists()))
    return out


def titles(cfg: Config) -> dict[str, str]:
    """Feed name -> the catalog's name of its list (lists added by address keep their own name)."""
    from feeds.catalog import entries

    known = entries()
    return {f.name: known[f.catalog].name for f in cfg.feeds if f.catalog in known}


def catalog_choices(cfg: Config) -> list[Any]:
    """Catalog entries not in the config yet."""
    from feeds.catalog import entries

    used = {f.catalog for f in cfg.feeds} | {f.name for f in cfg.feeds}
    return [e for e in entries().values() if e.id not in used]


def _find(doc: TOMLDocument, name: str) -> Any | None:
    return next((f for f in doc.get("feeds", []) if f.get("name") == name), None)


def add_catalog(ident: str) -> Edit:
    from feeds.catalog import entries

    if ident not in entries():
        raise ConfigError("catalog", _("Choose a list from the catalog."))

    def edit(doc: TOMLDocument) -> None:
        if any(f.get("catalog") == ident or f.get("name") == ident for f in doc.get("feeds", [])):
            raise ConfigError("catalog", _("This list is already added."))
        t = new_table()
        t["name"] = ident
        t["catalog"] = ident
        array_of_tables(doc, "feeds").append(t)
    return edit


def add_custom(name: str, url: str, category: str) -> Edit:
    """A list at an http(s) address; the config checks the name and the category. Local paths
    are not offered here: the UI must not turn any file on the appliance into a list."""
    name, url = name.strip(), url.strip()
    if not url.lower().startswith(("https://", "http://")) or len(url) > 2000 or any(c.isspace() for c in url):
        raise ConfigError("url", _("Give a web address starting with https://"))

    def edit(doc: TOMLDocument) -> None:
        if _find(doc, name) is not None:
            raise ConfigError("name", _("A list with this name already exists."))
        t = new_table()
        t["name"] = name
        t["url"] = url
        t["category"] = category
        array_of_tables(doc, "feeds").append(t)
    return edit


def set_enabled(name: str, enabled: bool, cfg: Config | None = None) -> Edit:
    """Turn a list on or off. A list the provider locks is refused with that reason; one its
    bundle brings unlocked gets a copy in the household's file to carry the switch."""
    from webui.configfile import LOCKED

    if cfg is not None and cfg.managed.is_locked(f"feeds.{name}"):
        raise ConfigError(f"feeds.{name}", LOCKED)

    def edit(doc: TOMLDocument) -> None:
        f = _find(doc, name)
        if f is None:
            f = _bundle_copy(cfg, name)
            if f is None:
                raise ConfigError("feed", _("There is no such list."))
            array_of_tables(doc, "feeds").append(f)
        f["enabled"] = enabled
    return edit


def _bundle_copy(cfg: Config | None, name: str) -> Any | None:
    """The provider bundle's table of list `name`, as a new table of the household's file."""
    if cfg is None or cfg.provider is None or name not in cfg.managed.feeds:
        return None
    from dnsfilter.config.provider import read_bundle

    raw = next((f for f in (read_bundle(cfg.provider_dir()) or {}).get("feeds", []) if f.get("name") == name), None)
    if raw is None:
        return None
    t = new_table()
    for k, v in raw.items():
        t[k] = v
    return t


@dataclass(frozen=True, slots=True)
class SyncResult:
    ok: bool
    output: str
    reloaded: bool


def sync_now(config_path: Path, cfg: Config, name: str, timeout: float = SYNC_TIMEOUT) -> SyncResult:
    """`python -m dnsfilter feeds sync --feed NAME`, then `reload` so the daemon uses the list."""
    if name not in {f.name for f in cfg.feeds}:
        raise ConfigError("feed", _("There is no such list."))
    try:
        done = subprocess.run([sys.executable, "-m", "dnsfilter", "feeds", "sync", "-c", str(config_path),
                               "--feed", name], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return SyncResult(False, _("The download took too long and was stopped."), False)
    output = (done.stdout + done.stderr).strip()[-500:]
    if done.returncode != 0:
        # the CLI's output is English for the operator; the parent reads the status's error in words
        from feeds.files import read_status

        feed = next(f for f in cfg.feeds if f.name == name)
        error = read_status(cfg, feed).error
        # no status error (the CLI stopped before the download): its output, in brackets, in a sentence
        return SyncResult(False, feed_error_text(error or output), False)
    reply = control.send(cfg.data_path() / "control.sock", "reload")
    return SyncResult(True, output, reply.ok)

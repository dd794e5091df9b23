"""Local feeds → compiled sets on disk → a Matcher of mmapped sets.

A feed whose source is a local file (a path, `file://`, or `builtin:NAME` for the lists
shipped with the package) is compiled into `data_dir/feeds/NAME.dset` when its source
changed. A feed that fails to compile or load keeps its last good compiled set, and its
status file says why. Remote (http) feeds are compiled by `dnsfilter feeds sync`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from dnsfilter.config import Config, Feed
from dnsfilter.core.matcher import FeedSet, Matcher, MatcherError
from feeds.compile_rules import compile_feed, load_feed

log = logging.getLogger("dnsfilter.lists")


@dataclass
class FeedStatus:
    name: str
    category: str
    kind: str
    entries: int = 0
    invalid: int = 0
    first_invalid_lines: tuple[int, ...] = ()
    compiled_at: float = 0.0
    source_mtime: float = 0.0
    source_size: int = 0
    format: str = ""
    digest: str = ""
    error: str = ""
    hashed: bool = False

    def public(self) -> dict[str, object]:
        return asdict(self)


def feeds_dir(cfg: Config) -> Path:
    return cfg.data_path() / "feeds"


def set_path(cfg: Config, feed: Feed) -> Path:
    return feeds_dir(cfg) / f"{feed.name}.dset"


def status_path(cfg: Config, feed: Feed) -> Path:
    return feeds_dir(cfg) / f"{feed.name}.status.json"


def source_path(cfg: Config, feed: Feed) -> Path | None:
    if feed.url.startswith("builtin:"):
        return Path(str(resources.files("dnsfilter") / "data" / f"{feed.url[len('builtin:'):]}.txt"))
    return cfg.feed_source(feed)


def read_status(cfg: Config, feed: Feed) -> FeedStatus:
    try:
        data = json.loads(status_path(cfg, feed).read_text())
        data["first_invalid_lines"] = tuple(data.get("first_invalid_lines", ()))
        st = FeedStatus(**data)
    except (OSError, ValueError, TypeError):
        st = FeedStatus(feed.name, feed.category, feed.kind)
    st.category, st.kind = feed.category, feed.kind
    return st


def write_status(cfg: Config, st: FeedStatus) -> None:
    p = feeds_dir(cfg) / f"{st.name}.status.json"
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(st.public(), indent=1))
    os.replace(tmp, p)


def compile_local(cfg: Config, feed: Feed, force: bool = False) -> FeedStatus:
    """Compile a local feed if its source changed. Errors are recorded, never raised: the
    last good compiled set stays in force."""
    st = read_status(cfg, feed)
    src = source_path(cfg, feed)
    if src is None:
        st.error = "remote feed: run `dnsfilter feeds sync` to download it"
        return st
    feeds_dir(cfg).mkdir(parents=True, exist_ok=True)
    try:
        info = src.stat()
    except OSError as e:
        st.error = f"cannot read {src}: {e.strerror}"
        write_status(cfg, st)
        return st
    out = set_path(cfg, feed)
    if (not force and out.exists() and not st.error and st.source_mtime == info.st_mtime
            and st.source_size == info.st_size):
        return st
    fmt = feed.format
    try:
        stats = compile_feed(src, fmt, out, allow=feed.kind == "allow")
    except (OSError, ValueError, MatcherError) as e:
        st.error = f"compile failed, keeping the last good version: {e}"
        write_status(cfg, st)
        return st
    st.entries, st.invalid = stats.entries, stats.invalid
    st.first_invalid_lines = tuple(stats.first_invalid_lines)
    st.compiled_at, st.source_mtime, st.source_size = time.time(), info.st_mtime, info.st_size
    st.format, st.digest, st.error = stats.format, stats.digest, ""
    write_status(cfg, st)
    log.info("feed %s: compiled %d names (%d invalid) in %.2fs", feed.name, stats.entries, stats.invalid,
             stats.seconds)
    return st


def load_matcher(cfg: Config, previous: Matcher | None = None, compile_sources: bool = True) -> Matcher:
    """Map every enabled feed's compiled set; a set that cannot be loaded is left out (or kept
    from `previous`), with the reason logged."""
    sets: dict[str, FeedSet] = {}
    for feed in cfg.feeds:
        if not feed.enabled:
            continue
        if compile_sources:
            st = compile_local(cfg, feed)
            if st.error:
                log.warning("feed %s: %s", feed.name, st.error)
        path = set_path(cfg, feed)
        try:
            sets[feed.name] = load_feed(path)
        except MatcherError as e:
            if previous is not None and feed.name in previous.sets:
                sets[feed.name] = previous.sets[feed.name]
                log.warning("feed %s: %s; keeping the loaded version", feed.name, e)
            elif path.exists():
                log.error("feed %s: %s", feed.name, e)
            else:
                log.warning("feed %s: not compiled yet, not in force", feed.name)
    return Matcher(sets)

"""Compiled feed sets on disk → a Matcher of mmapped sets.

Feeds are fetched and compiled by feeds.sync (`dnsfilter feeds sync`, or the daemon's periodic
sync), never on the query path. At start-up and on reload, feeds whose source is a local file
(a path, `file://`, or `builtin:NAME` for the lists shipped with the package) are recompiled
when that file changed; remote feeds are only mapped from their last good compiled set, so a
slow or dead feed server never delays start-up. Remote feeds without a set yet are synced in the
background by the daemon shortly after start.
"""

from __future__ import annotations

import logging

from dnsfilter.config import Config, Feed
from dnsfilter.core.policy.matcher import FeedSet, Matcher, MatcherError
from feeds.files import FeedStatus, load_feed, read_status, set_path

log = logging.getLogger("dnsfilter.lists")

__all__ = ["compile_local", "load_matcher", "missing_remote", "read_status"]


def compile_local(cfg: Config, feed: Feed, force: bool = False) -> FeedStatus:
    """Bring a local feed's compiled set up to date (a no-op when its file is unchanged).
    Errors are recorded in the feed's status, never raised: the last good set stays."""
    if feed.remote:
        return read_status(cfg, feed)
    from feeds.sync import sync_feed  # the compiler and its parsers: only when a local feed is compiled

    return sync_feed(cfg, feed, force=force)


def missing_remote(cfg: Config) -> list[Feed]:
    """Enabled remote feeds with no compiled set yet: the daemon syncs them after start."""
    return [f for f in cfg.feeds if f.enabled and f.remote and not set_path(cfg, f).exists()]


def load_matcher(cfg: Config, previous: Matcher | None = None, compile_sources: bool = True) -> Matcher:
    """Map every enabled feed's compiled set; a set that cannot be loaded is left out (or kept
    from `previous`), with the reason logged. Never raises for one feed's files: a file the
    daemon may not read or write is that feed failing, not the reload or the start."""
    sets: dict[str, FeedSet] = {}
    for feed in cfg.feeds:
        if not feed.enabled:
            continue
        if compile_sources and not feed.remote:
            compile_local(cfg, feed)  # logs its own line; a failure leaves the last good set on disk
        path = set_path(cfg, feed)
        try:
            sets[feed.name] = load_feed(path)
        except MatcherError as e:
            if previous is not None and feed.name in previous.sets:
                sets[feed.name] = previous.sets[feed.name]
                log.warning("feed %s: %s; keeping the loaded version", feed.name, e)
            elif path.exists():
                log.error("feed %s: %s", feed.name, e)
            elif feed.remote:
                log.info("feed %s: not downloaded yet; it will be synced in the background", feed.name)
            else:
                log.warning("feed %s: not compiled yet, not in force", feed.name)
    return Matcher(sets)

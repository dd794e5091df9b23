"""When each feed is next synced (the daemon asks every round, in its own process), apart
from feeds.sync so the daemon's schedule does not load the fetching and compiling code."""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

from dnsfilter.config import Config, Feed
from dnsfilter.core.policy.matcher import MatcherError
from feeds.files import FeedStatus, load_feed, read_status, set_path

RETRY_AFTER_FAILURE = 900.0  # a failed feed is retried sooner than its interval, but not hammered
FIRST_SYNC_DELAY = 2.0  # never-synced remote feeds: shortly after start, once listeners are up


def _loads(path: Path) -> bool:
    return _digest(path) is not None


def _digest(path: Path) -> str | None:
    """The digest of the compiled set at `path` (hex), or None when it does not load."""
    try:
        return load_feed(path).digest.hex()
    except MatcherError:
        return None


def _loads_unchanged(path: Path) -> bool:
    """`_loads`, checked once per version of the file: the schedule asks every round."""
    try:
        f = path.stat()
    except OSError:
        return False
    return _loads_version(str(path), f.st_mtime_ns, f.st_size, f.st_ino)


@functools.lru_cache(maxsize=64)
def _loads_version(path: str, _mtime_ns: int, _size: int, _ino: int) -> bool:
    return _loads(Path(path))


def jitter(feed: Feed, last_attempt: float) -> float:
    """A factor in [0.9, 1.1], fixed for one (feed, attempt) so every wake-up agrees on when
    the feed is due, yet feeds synced together drift apart (no thundering herd on a server)."""
    seed = zlib.crc32(f"{feed.name}:{last_attempt:.3f}".encode())
    return 0.9 + 0.2 * (seed / 0xFFFFFFFF)


def next_due(cfg: Config, feed: Feed, started: float, st: FeedStatus | None = None) -> float:
    """When `feed` should next be synced (epoch seconds)."""
    st = st or read_status(cfg, feed)
    if not st.last_attempt:
        # never synced: remote feeds shortly after start; local ones were compiled at start-up
        return started + FIRST_SYNC_DELAY if feed.remote else started + feed.interval * jitter(feed, started)
    if feed.remote and st.last_attempt < started and not _loads_unchanged(set_path(cfg, feed)):
        # not tried since start and its set cannot be used (gone, corrupt, or an older format
        # after an upgrade): the feed is not in force, so sync it now rather than at its interval
        return started + FIRST_SYNC_DELAY
    ok = st.result in ("new", "unchanged", "")
    if feed.xfr is not None and st.soa_refresh:
        # the zone's SOA refresh and retry drive a transfer feed (interval is the longest wait)
        wait = min(feed.interval, float(st.soa_refresh if ok or st.result == "rejected" else st.soa_retry))
    else:
        wait = feed.interval if ok else min(feed.interval, RETRY_AFTER_FAILURE)
    return st.last_attempt + wait * jitter(feed, st.last_attempt)


def due_feeds(cfg: Config, now: float, started: float) -> tuple[list[Feed], float]:
    """The enabled feeds due at `now`, and when the next one (of the rest) falls due."""
    due: list[Feed] = []
    wake = now + 3600.0
    for feed in cfg.feeds:
        if not feed.enabled:
            continue
        at = next_due(cfg, feed, started)
        if at <= now:
            due.append(feed)
        else:
            wake = min(wake, at)
    return due, wake

"""A compiled set this dnsfilter cannot load (an older format after an upgrade, or corrupt):
refused with a clear error, recompiled by the next sync even when the source is unchanged,
and a remote feed in that state is synced right after start instead of at its interval."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from dnsfilter.core.policy.feedset import VERSION, FeedSetError
from feeds.compile_rules import compile_feed, load_feed
from feeds.sync import FIRST_SYNC_DELAY, FeedStatus, next_due, set_path, sync_feed
from tests.support.feedserver import (
    FAST,
    FeedServer,
    Route,
    blocks,
    feed_cfg,
    make_cfg,
    names,
    sync,
)


def _as_version(path: Path, version: int) -> None:
    data = bytearray(path.read_bytes())
    data[8:10] = version.to_bytes(2, "little")
    path.write_bytes(bytes(data))


def test_an_older_format_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "l.domains"
    src.write_bytes(names("a", 10))
    out = tmp_path / "l.dset"
    compile_feed(src, "domains", out)
    assert int.from_bytes(out.read_bytes()[8:10], "little") == VERSION == 4
    for old in (1, 3):  # 3: compiled by the parser that left `*$denyallow=…` dead
        _as_version(out, old)
        with pytest.raises(FeedSetError, match=rf"format version {old}, this dnsfilter reads version 4 only: recompile"):
            load_feed(out)


def test_sync_recompiles_a_set_that_no_longer_loads(server: FeedServer, session: requests.Session,
                                                    tmp_path: Path) -> None:
    server.routes["/l"] = Route(names("a", 50), etag='"v1"')
    cfg = feed_cfg(tmp_path, server.url("/l"))
    assert sync(cfg, session).result == "new"
    path = set_path(cfg, cfg.feeds[0])
    _as_version(path, 1)
    st = sync_feed(cfg, cfg.feeds[0], session=session, fetch_options=FAST)
    # The source is unchanged, but a set that cannot load is never trusted: downloaded in full
    # (no If-None-Match, so no 304) and recompiled.
    assert (st.result, st.error, st.entries) == ("new", "", 50)
    assert server.codes("/l") == [200, 200]
    assert load_feed(path).count == 50 and blocks(cfg, "www.a7.example.com")
    # With a set that loads, the next sync is a 304 again.
    assert sync_feed(cfg, cfg.feeds[0], session=session, fetch_options=FAST).result == "unchanged"
    assert server.codes("/l") == [200, 200, 304]


def test_local_feed_with_an_unloadable_set_is_recompiled(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_bytes(names("a", 20))
    cfg = feed_cfg(tmp_path, "list.txt")
    assert sync_feed(cfg, cfg.feeds[0]).result == "new"
    assert sync_feed(cfg, cfg.feeds[0]).result == "unchanged"
    path = set_path(cfg, cfg.feeds[0])
    path.write_bytes(path.read_bytes()[:-8])  # truncated: corrupt
    assert sync_feed(cfg, cfg.feeds[0]).result == "new"
    assert load_feed(path).count == 20


def test_remote_feed_with_an_unusable_set_is_due_right_after_start(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, '[[feeds]]\nname = "r"\nurl = "http://127.0.0.1:9/x"\ninterval = "1h"\n')
    feed = cfg.feeds[0]
    started = 1_000_000.0
    before = FeedStatus("r", result="unchanged", last_attempt=started - 60)
    path = set_path(cfg, feed)
    path.parent.mkdir(parents=True)
    # No set at all, or one in an older format: not in force, so due right after start.
    assert next_due(cfg, feed, started, before) == started + FIRST_SYNC_DELAY
    src = tmp_path / "l.domains"
    src.write_bytes(names("a", 5))
    compile_feed(src, "domains", path)
    assert next_due(cfg, feed, started, before) - before.last_attempt >= 0.9 * 3600  # a good set waits
    _as_version(path, 1)
    assert next_due(cfg, feed, started, before) == started + FIRST_SYNC_DELAY
    # Tried since start (and failed): the usual retry delay, not a loop.
    failed = FeedStatus("r", result="failed", last_attempt=started + 5)
    assert next_due(cfg, feed, started, failed) > started + 5 + 60

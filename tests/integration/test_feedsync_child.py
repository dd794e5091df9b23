"""shell/feedsync.py: a feed's periodic sync in a real child process (`dnsfilter feeds sync
--feed NAME`) against a real local HTTP server: its result read back from the status the child
recorded, a child that never records one recorded as failed, no child left behind when the
daemon stops, and the daemon using it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path

import pytest

from dnsfilter import config
from dnsfilter.shell import feedsync
from feeds.sync import read_status, set_path
from tests.support.daemon import REPO, DaemonProcess
from tests.support.feedserver import FeedServer, Route
from tests.support.scripted import Scripted

pytestmark = pytest.mark.integration


def _config(tmp: Path, srv: FeedServer) -> config.Config:
    p = tmp / "config.toml"
    p.write_text(f'[storage]\ndata_dir = "{tmp / "var"}"\n\n[[feeds]]\nname = "remote"\n'
                 f'url = "{srv.url("/feed")}"\nformat = "domains"\ncategory = "ads"\n')
    return config.load(p)


def _children() -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            kids |= {int(k) for k in (task / "children").read_text().split()}
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile: no children
            continue
    return kids


def test_a_child_syncs_the_feed_and_the_daemon_reads_its_result(server: FeedServer, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # `python -m dnsfilter` from the source tree, as the daemon runs it
    cfg = _config(tmp_path, server)
    server.routes["/feed"] = Route(b"one.feed.test\ntwo.feed.test\n", etag='"1"')
    st = asyncio.run(feedsync.sync_in_child(cfg, cfg.feeds[0]))
    assert (st.result, st.entries, st.error) == ("new", 2, "")
    assert set_path(cfg, cfg.feeds[0]).exists()
    st = asyncio.run(feedsync.sync_in_child(cfg, cfg.feeds[0]))
    assert st.result == "unchanged" and server.codes("/feed") == [200, 304]
    server.routes["/feed"] = Route(b"", status=404)
    st = asyncio.run(feedsync.sync_in_child(cfg, cfg.feeds[0]))
    assert st.result == "failed" and "HTTP 404" in st.error and st.entries == 2  # the last good set stays


def test_a_child_past_its_deadline_is_stopped_and_recorded_as_failed(server: FeedServer, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    cfg = _config(tmp_path, server)
    server.routes["/feed"] = Route(b"one.feed.test\n", etag='"1"')
    assert asyncio.run(feedsync.sync_in_child(cfg, cfg.feeds[0])).result == "new"
    server.routes["/feed"] = Route(b"x" * 100, slow=60.0)  # sends a few bytes, then stalls
    monkeypatch.setattr(feedsync, "DEADLINE", 3.0)
    t0 = time.monotonic()
    st = asyncio.run(feedsync.sync_in_child(cfg, cfg.feeds[0]))
    assert time.monotonic() - t0 < 20
    assert st.result == "failed" and "longer than 3s" in st.error
    saved = read_status(cfg, cfg.feeds[0])  # on disk too: the UI shows it, the back-off applies
    assert (saved.result, saved.error, saved.entries) == ("failed", st.error, 1)
    assert not _children()


def test_a_cancelled_sync_leaves_no_child(server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    cfg = _config(tmp_path, server)
    server.routes["/feed"] = Route(b"x" * 100, slow=60.0)

    async def run() -> None:
        task = asyncio.create_task(feedsync.sync_in_child(cfg, cfg.feeds[0]))
        deadline = time.monotonic() + 20
        while not server.log and time.monotonic() < deadline:  # the child is downloading
            await asyncio.sleep(0.05)
        assert server.log and _children()
        task.cancel()  # as the daemon does when it stops
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert not _children()


def test_the_daemon_syncs_its_feeds_in_a_child(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/feed"] = Route(b"remote.feed.test\n", etag='"1"')
    with Scripted() as up:
        d = DaemonProcess(tmp_path, f'[dns]\nlisten = ["127.0.0.1:{{port}}"]\nupstreams = ["{up.addr}"]\n'
                                    f'[[feeds]]\nname = "remote"\nurl = "{server.url("/feed")}"\n'
                                    'format = "domains"\ncategory = "ads"\n')
        d.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = d.query("remote.feed.test")
                if r.answer and r.answer[0][0].to_text() == "0.0.0.0":
                    break
                time.sleep(0.2)
            else:
                pytest.fail("the remote feed was not synced:\n" + d.log())
            assert d.proc is not None
            m = re.search(r"feed remote: sync in process (\d+)", d.log())
            assert m and int(m.group(1)) != d.proc.pid, d.log()
            assert "feed remote: new" in d.log()
        finally:
            assert d.stop() == 0
    status = json.loads((tmp_path / "var" / "feeds" / "remote.status.json").read_text())
    assert status["result"] == "new" and status["entries"] == 1

"""Feed sync end to end: `dnsfilter feeds sync` killed with SIGKILL at random moments never leaves
a broken set in force, and the real daemon picks up a feed updated on a local HTTP server (after
`dnsfilter ctl reload`, or by its own periodic sync), without blocking start-up on downloads."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dnsfilter import config as config_mod
from feeds.compile_rules import compile_feed, load_feed
from feeds.sync import set_path, status_path
from tests.support.daemon import REPO, DaemonProcess
from tests.support.feedserver import FeedServer, Route, names

pytestmark = pytest.mark.integration


def _env() -> dict[str, str]:
    """The environment without proxies: every request must stay on loopback."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _dnsfilter(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dnsfilter", *args], cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------------------------ kill -9 during a sync


def test_kill_9_during_sync_leaves_the_old_or_the_new_set(server: FeedServer, tmp_path: Path) -> None:
    n = 150_000  # about 3.5 MB: download and compile take long enough to be hit in every phase
    versions = {"a": names("a", n), "b": names("b", n)}
    digests = {}
    for tag, body in versions.items():
        (tmp_path / tag).write_bytes(body)
        digests[compile_feed(tmp_path / tag, "domains", tmp_path / f"{tag}.dset").digest] = tag
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\ndata_dir = "var"\n[[feeds]]\nname = "big"\nurl = "{server.url("/big")}"\n'
                    'format = "domains"\n')
    cfg = config_mod.load(conf)
    dset, status = set_path(cfg, cfg.feeds[0]), status_path(cfg, cfg.feeds[0])
    server.routes["/big"] = Route(versions["a"], etag='"a"')
    t0 = time.monotonic()
    assert _dnsfilter("feeds", "sync", "-c", str(conf)).returncode == 0
    full = time.monotonic() - t0
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    outcomes = []
    for i in range(12):
        tag = "b" if i % 2 == 0 else "a"
        server.routes["/big"] = Route(versions[tag], etag=f'"{tag}"')
        proc = subprocess.Popen([sys.executable, "-m", "dnsfilter", "feeds", "sync", "-c", str(conf)], cwd=REPO,
                                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, full * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        fs = load_feed(dset)  # maps and verifies the checksum: raises on a torn or empty file
        assert fs.digest.hex() in digests, f"seed {seed}, round {i}: a set that is neither version is in force"
        outcomes.append(digests[fs.digest.hex()])
        if status.exists():
            json.loads(status.read_text())  # the status file is replaced atomically too
    # a sync that runs to the end still works after all those kills, and brings the current version
    server.routes["/big"] = Route(versions["b"], etag='"b"')
    done = _dnsfilter("feeds", "sync", "-c", str(conf))
    assert done.returncode == 0, done.stdout + done.stderr
    assert digests[load_feed(dset).digest.hex()] == "b"
    print(f"seed {seed}: full sync {full:.2f}s; set in force after each kill: {''.join(outcomes)}")


# ------------------------------------------------------------------ the daemon


def _blocked(d: DaemonProcess, name: str) -> bool:
    r = d.query(name)
    return [rd.to_text() for rrset in r.answer for rd in rrset] == ["0.0.0.0"]


def _wait_for(pred: Callable[[], bool], timeout: float, what: str, d: DaemonProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout}s; daemon log:\n{d.log()[-3000:]}")


def _remote(server: FeedServer, interval: str) -> str:
    return (f'[[feeds]]\nname = "remote"\nurl = "{server.url("/feed")}"\nformat = "domains"\n'
            f'category = "ads"\ninterval = "{interval}"\n')


def test_daemon_syncs_a_new_remote_feed_after_start_and_takes_updates_on_reload(
        server: FeedServer, upstream, make_daemon) -> None:  # type: ignore[no-untyped-def]
    server.routes["/feed"] = Route(b"old.feed.test\n", etag='"1"')
    d = make_daemon(upstream.addr, rest=_remote(server, "1h"))
    assert server.log == []  # ready before any download: remote feeds sync in the background
    _wait_for(lambda: _blocked(d, "old.feed.test"), 15, "the remote feed was not synced after start", d)
    assert _blocked(d, "ads.example.test")  # the local feed was in force from the start
    server.routes["/feed"] = Route(b"new.feed.test\n", etag='"2"')
    out = _dnsfilter("feeds", "sync", "-c", str(d.config_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert not _blocked(d, "new.feed.test")  # the running daemon swaps sets only on reload
    assert _dnsfilter("ctl", "-c", str(d.config_path), "reload").returncode == 0
    assert _blocked(d, "new.feed.test") and not _blocked(d, "old.feed.test")
    assert server.codes("/feed") == [200, 200]  # one download each; none on the query path


def test_daemon_periodic_sync_picks_up_an_updated_feed(server: FeedServer, upstream, make_daemon) -> None:  # type: ignore[no-untyped-def]
    server.routes["/feed"] = Route(b"old.feed.test\n", etag='"1"')
    d = make_daemon(upstream.addr, rest=_remote(server, "1s"))
    _wait_for(lambda: _blocked(d, "old.feed.test"), 15, "the remote feed was not synced after start", d)
    time.sleep(2.5)
    assert 304 in server.codes("/feed")  # an unchanged feed costs a 304 on each periodic sync
    server.routes["/feed"] = Route(b"new.feed.test\n", etag='"2"')
    _wait_for(lambda: _blocked(d, "new.feed.test"), 15, "the periodic sync did not swap in the new set", d)
    assert not _blocked(d, "old.feed.test")
    # a broken update keeps the last good set in force
    server.routes["/feed"] = Route(b"", status=404)
    status = d.tmp / "var" / "feeds" / "remote.status.json"

    def failed() -> bool:
        try:
            return "HTTP 404" in json.loads(status.read_text())["error"]
        except (OSError, ValueError):
            return False

    _wait_for(failed, 15, "the periodic sync did not record the failure", d)
    assert _blocked(d, "new.feed.test") and json.loads(status.read_text())["entries"] == 1


def test_start_is_not_blocked_by_a_stalled_feed_server(server: FeedServer, upstream, make_daemon) -> None:  # type: ignore[no-untyped-def]
    server.routes["/feed"] = Route(b"x" * 100, slow=60.0)  # sends 10 bytes, then stalls
    d = make_daemon(upstream.addr, rest=_remote(server, "1h"), start=False)
    t0 = time.monotonic()
    d.start(timeout=10)
    assert time.monotonic() - t0 < 5
    assert _blocked(d, "ads.example.test")
    _wait_for(lambda: bool(server.log), 10, "the background sync did not start", d)
    t0 = time.monotonic()
    assert d.stop() == 0  # a download in progress does not hold up the stop
    assert time.monotonic() - t0 < 5


def test_an_upgrade_recompiles_a_set_in_an_older_format(server: FeedServer, upstream, make_daemon) -> None:  # type: ignore[no-untyped-def]
    server.routes["/feed"] = Route(b"old.feed.test\n", etag='"1"')
    d = make_daemon(upstream.addr, rest=_remote(server, "1h"))
    _wait_for(lambda: _blocked(d, "old.feed.test"), 15, "the remote feed was not synced after start", d)
    assert d.stop() == 0
    # What an older dnsfilter leaves behind: a set in a format this one refuses (version 1).
    path = d.tmp / "var" / "feeds" / "remote.dset"
    data = bytearray(path.read_bytes())
    data[8:10] = (1).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    d.start(timeout=10)
    assert "format version 1" in d.log()  # refused, saying why
    # Not in force, so synced right after start (not an hour later), downloaded in full
    # (no conditional request for a set that cannot load) and recompiled.
    _wait_for(lambda: _blocked(d, "old.feed.test"), 15, "the set in the older format was not recompiled", d)
    assert server.codes("/feed") == [200, 200]
    assert load_feed(path).count == 1


def test_a_list_added_by_a_reload_is_synced_at_once(server: FeedServer, upstream, make_daemon) -> None:  # type: ignore[no-untyped-def]
    """The web UI turns a catalog list on when a parent chooses its category, then reloads: the
    first download starts then, not when the sync loop would next have woken (up to a minute)."""
    server.routes["/hagezi-nsfw"] = Route(b"adult.example.test\n")
    d = make_daemon(upstream.addr, rest=f'[catalog]\nmirror = "{server.base}"\n')
    time.sleep(3)  # past the start-up sync: the loop now sleeps until its next due feed (an hour away)
    assert server.log == [] and not _blocked(d, "adult.example.test")
    d.config_path.write_text(d.config_path.read_text() + '\n[[feeds]]\nname = "nsfw"\ncatalog = "hagezi-nsfw"\n')
    assert _dnsfilter("ctl", "-c", str(d.config_path), "reload").returncode == 0
    reloaded = time.monotonic()
    _wait_for(lambda: _blocked(d, "adult.example.test"), 10, "the new list was not synced after the reload", d)
    assert time.monotonic() - reloaded < 10 and server.codes("/hagezi-nsfw") == [200]

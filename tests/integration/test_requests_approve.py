"""Ask → the parent answers → the resolver follows, against the real daemon: an approved site
resolves for that device only within a second, survives a restart, and is blocked again the
moment the approval ends (nothing left in the cache or the fast path); a denial changes nothing;
more time on a spent budget opens it again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dnsfilter import approvals
from dnsfilter import config as config_mod
from tests.support.daemon import addrs, cli
from tests.support.portal import KID, KID2, TEEN, ZONE, Household, household, running_household, wait_for
from tests.support.scripted import Scripted

pytestmark = pytest.mark.integration
PORTAL = ["127.0.0.1"]


@pytest.fixture
def upstream() -> Iterator[Scripted]:
    with Scripted(zone=dict(ZONE)) as up:
        yield up


@pytest.fixture
def home(tmp_path: Path, upstream: Scripted) -> Iterator[Household]:
    with running_household(tmp_path, upstream.port) as h:
        yield h


def resolves_within(h: Household, name: str, source: str, want: list[str], seconds: float) -> float:
    """Seconds until `name` answers `want` for `source` (fails past `seconds`)."""
    t0 = time.monotonic()
    while True:
        got = addrs(h.ask_dns(name, source))
        if got == want:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < seconds, f"{name} for {source}: {got}, not {want} after {seconds}s"
        time.sleep(0.02)


def test_approve_opens_the_site_for_that_device_only_within_a_second(home: Household) -> None:
    for src in (KID, KID2):  # both Kids devices have the block in their fast path
        for _ in range(3):
            assert addrs(home.ask_dns("game.example.test", src)) == PORTAL
    assert home.ask("game.example.test", KID, duration="1h")[1].endswith("sent=1")
    out = cli("requests", "approve", "-c", str(home.daemon.config_path), "1", "--for", "1h")
    assert out.returncode == 0, out.stderr
    assert "request 1 approved for 1h: game.example.test for Aru's tablet" in out.stdout
    took = resolves_within(home, "game.example.test", KID, ["192.0.2.20"], 1.0)
    assert addrs(home.ask_dns("game.example.test", KID2)) == PORTAL  # the other Kids device: still closed
    assert addrs(home.ask_dns("www.game.example.test", KID)) != PORTAL  # the allow covers subdomains, as the deny
    [r] = home.requests()
    assert (r["state"], r["duration"], r["scope"], r["answered_by"]) == ("approved", "1h", "device", "cli:root")
    assert r["active"] and 3500 < r["until"] - time.time() <= 3600
    _s, _h, page = home.get(source=KID)
    assert "Opened for you" in page and "game.example.test" in page and "yes · 1 hour" in page
    assert "Opened for you" not in home.get(source=KID2)[2]
    # answered once: a second answer is refused with who gave the first
    again = cli("requests", "deny", "-c", str(home.daemon.config_path), "1")
    assert again.returncode == 2 and "was approved already (by cli:root)" in again.stderr
    # it survives a restart
    home.daemon.stop()
    home.daemon.start()
    assert addrs(home.ask_dns("game.example.test", KID)) == ["192.0.2.20"]
    assert addrs(home.ask_dns("game.example.test", KID2)) == PORTAL
    assert took < 1.0


def test_an_approval_ends_on_time_and_the_site_is_closed_again(home: Household) -> None:
    assert home.ask("video.example.test", KID, duration="15m")[1].endswith("sent=1")
    cfg = config_mod.load(home.daemon.config_path)
    # approved 15 minutes ago less 3 seconds: it ends 3 s from now (the real mechanism, its clock shifted)
    r, _msg = approvals.approve(cfg, 1, "15m", by="test", now=time.time() - 15 * 60 + 3)
    assert r.until is not None and 0 < r.until - time.time() <= 3
    resolves_within(home, "video.example.test", KID, ["192.0.2.40"], 1.0)
    while time.time() < r.until - 0.3:  # asked again and again: the answer is cached and prebuilt
        assert addrs(home.ask_dns("video.example.test", KID)) == ["192.0.2.40"]
        time.sleep(0.05)
    wait_for("the end of the approval", lambda: time.time() >= r.until)
    assert addrs(home.ask_dns("video.example.test", KID)) == PORTAL  # at once: not even until the next tick
    assert "Opened for you" not in home.get(source=KID)[2]
    [row] = home.requests()
    assert row["state"] == "approved" and not row["active"]


def test_deny_changes_nothing_but_the_answer(home: Household) -> None:
    assert home.ask("game.example.test", KID)[1].endswith("sent=1")
    out = cli("requests", "deny", "-c", str(home.daemon.config_path), "1")
    assert out.returncode == 0 and "request 1 denied" in out.stdout
    time.sleep(1.2)  # more than a tick
    assert addrs(home.ask_dns("game.example.test", KID)) == PORTAL
    [r] = home.requests()
    assert (r["state"], r["answered_by"], r["duration"], r["until"]) == ("denied", "cli:root", None, None)
    _s, _h, page = home.get(source=KID)
    assert "game.example.test · no" in page.replace("</span>", "").replace('<strong>', "").replace('</strong>', "")
    # the Teens device cannot answer, see or be affected by it
    assert "game.example.test" not in home.get(source=TEEN)[2]


def test_more_time_on_a_spent_budget(tmp_path: Path, upstream: Scripted) -> None:
    h = household(tmp_path, upstream.port, youtube="0m")  # no YouTube today: the budget is spent
    h.daemon.start()
    try:
        assert addrs(h.ask_dns("www.youtube.com", KID)) == PORTAL
        status, _hd, page = h.get("/", source=KID, host="www.youtube.com")
        assert status == 403 and "Today&#x27;s time for this is used up." in page and "Ask for more time" in page
        status, where = h.ask("youtube", KID, kind="time")
        assert where.endswith("sent=1")
        never = cli("requests", "approve", "-c", str(h.daemon.config_path), "1", "--for", "always")
        assert never.returncode == 2 and "more time is given for 15m, 1h or today" in never.stderr
        out = cli("requests", "approve", "-c", str(h.daemon.config_path), "1", "--for", "15m")
        assert out.returncode == 0, out.stderr
        resolves_within(h, "www.youtube.com", KID, ["192.0.2.50"], 1.0)
        assert addrs(h.ask_dns("www.youtube.com", KID2)) == PORTAL  # the other device's budget is its own
        _s, _h, page = h.get(source=KID)
        assert "of 15 minutes used" in page
        [r] = h.requests()
        assert (r["kind"], r["state"], r["duration"]) == ("time", "approved", "15m")
    finally:
        h.daemon.stop()

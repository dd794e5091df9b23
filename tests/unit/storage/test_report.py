"""The weekly report from a real query log (written by the writer's own `batch`), requests and
budget days: per profile and device, and never a site's name for counts/anonymous profiles."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

from dnsfilter.core.logbatch import batch
from dnsfilter.core.querylog import log_info
from dnsfilter.storage.child_requests import RequestStore
from dnsfilter.storage.logstore import LogStore
from dnsfilter.storage.report import week_start, weekly

TZ = "Asia/Almaty"
NOW = dt.datetime(2026, 12, 6, 18, 0, tzinfo=zoneinfo.ZoneInfo(TZ)).timestamp()  # a Sunday
KID, TEEN, GUEST = "02:00:5e:10:00:01", "02:00:5e:10:00:02", "192.168.1.77"
PRIVACY = {"Kids": "full", "Teens": "counts", "Guests": "anonymous", "Quiet": "off"}


def fill(tmp: Path) -> tuple[LogStore, RequestStore]:
    log = LogStore(tmp / "querylog.db")
    recs = []
    at = NOW - 2 * 86400  # two days ago

    def add(n: int, device: str, profile: str, name: str, outcome: str, category: str = "") -> None:
        info = log_info(profile, name, 1, outcome, "category" if category else "", category, category, "")
        recs.extend((at + i, "192.168.1.5", device, info) for i in range(n))

    add(5, KID, "Kids", "casino.example", "blocked", "gambling")
    add(3, KID, "Kids", "adult.example", "blocked", "adult")
    add(20, KID, "Kids", "school.example", "resolved")
    add(4, TEEN, "Teens", "secret-game.example", "blocked", "games")
    add(10, TEEN, "Teens", "news.example", "cached")
    add(6, GUEST, "Guests", "private-thing.example", "blocked", "adult")
    add(9, "quiet-dev", "Quiet", "hidden.example", "blocked", "adult")
    old = log_info("Kids", "lastmonth.example", 1, "blocked", "category", "adult", "adult", "")
    recs.append((NOW - 30 * 86400, "192.168.1.5", KID, old))  # outside the week
    log.write(batch(recs, 0.0, PRIVACY))
    req = RequestStore(tmp / "dnsfilter.db")
    r, _ = req.create(device=KID, label="Aru's tablet", profile="Kids", kind="site", name="casino.example",
                      now=NOW - 3600)
    req.answer(r.id, "denied", by="admin", now=NOW - 3000)
    req.create(device=KID, label="Aru's tablet", profile="Kids", kind="time", name="youtube", now=NOW - 100)
    req.create(device=TEEN, label="Teen phone", profile="Teens", kind="site", name="secret-game.example",
               now=NOW - 100)
    req.record_budget_days([("2026-12-05", KID, "Kids", "youtube", 60, 60), ("2026-12-06", KID, "Kids", "youtube", 20, 90),
                            ("2026-11-20", KID, "Kids", "youtube", 60, 60)])
    return log, req


def test_a_week_per_profile_and_device(tmp_path: Path) -> None:
    log, req = fill(tmp_path)
    devices = [{"id": KID, "hostname": "arus-ipad", "first_seen": NOW - 86400, "profile": "Kids"},
               {"id": TEEN, "hostname": None, "first_seen": NOW - 60 * 86400, "profile": "Teens"}]
    rep = weekly(log=log, requests=req, devices=devices, privacy=PRIVACY, labels={KID: "Aru's tablet"}, now=NOW,
                 tz=TZ)
    by = {p.name: p for p in rep.profiles}
    kids = by["Kids"]
    assert (kids.lookups, kids.blocked) == (28, 8)
    assert kids.by_category == {"gambling": 5, "adult": 3}
    assert kids.top_blocked == [("casino.example", 5), ("adult.example", 3)]
    [kid] = kids.devices
    assert (kid.label, kid.lookups, kid.blocked) == ("Aru's tablet", 28, 8)
    assert [(b.item, b.used, b.limit, b.days) for b in kid.budgets] == [("youtube", 80, 150, 2)]
    assert kid.requests == {"denied": 1, "open": 1} and kid.asked == ["casino.example"]
    teens = by["Teens"]
    assert (teens.lookups, teens.blocked, teens.by_category) == (14, 4, {"games": 4})
    assert teens.top_blocked == [] and teens.devices[0].asked == []  # counts: never a name
    assert teens.devices[0].requests == {"open": 1}
    guests = by["Guests"]
    assert guests.blocked == 6 and guests.top_blocked == [] and guests.devices == []  # anonymous: no device
    assert "Quiet" not in by  # off: nothing recorded, nothing shown
    assert [d["label"] for d in rep.new_devices] == ["Aru's tablet"]
    text = repr(rep.as_dict())
    for secret in ("secret-game", "private-thing", "hidden.example", "lastmonth"):
        assert secret not in text


def test_the_week_is_seven_local_days_today_included() -> None:
    start = week_start(NOW, TZ)
    assert dt.datetime.fromtimestamp(start, zoneinfo.ZoneInfo(TZ)).isoformat() == "2026-11-30T00:00:00+05:00"

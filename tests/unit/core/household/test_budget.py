"""dnsfilter.core.household.budget on a fake clock: minute slots, local midnight (also on 23- and
25-hour days), the device cap, and persistence (roundtrip and garbage)."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core.household.budget import Budgets, parse_duration

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
ALMATY = zoneinfo.ZoneInfo("Asia/Almaty")
UTC = dt.UTC
TAB = "device:aa:bb:cc:dd:ee:ff"


def at(tz: zoneinfo.ZoneInfo | dt.timezone, *args: int, fold: int = 0) -> float:
    return dt.datetime(*args, tzinfo=tz, fold=fold).timestamp()


@pytest.mark.parametrize("text,minutes", [
    ("60m", 60), ("2h", 120), ("1h30m", 90), ("90", 90), (" 1H 5M ", 65), ("0", 0), ("0m", 0), ("24h", 1440),
    (45, 45),
])
def test_parse_duration(text, minutes):
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "h", "m", "abc", "1d", "-5", "1.5h", "25h", "1441", "60s", "2h-1m", True, None,
                                  "٦٠"])
def test_parse_duration_errors(text):
    with pytest.raises(ValueError, match="duration|between 0 and 1440"):
        parse_duration(text)


def test_parse_duration_maximum_is_a_parameter():
    assert parse_duration("48h", maximum=7 * 1440) == 2880


def test_sixty_distinct_minutes_spend_a_60_minute_budget():
    b = Budgets({"youtube": 60, "games": 120}, "Europe/Berlin")
    t0 = at(BERLIN, 2026, 6, 1, 15, 0)
    for i in range(60):
        assert b.exhausted(TAB, t0 + i * 60) == frozenset()
        assert b.record(TAB, "youtube", t0 + i * 60 + 5)
    assert b.used(TAB, "youtube", t0 + 3600) == 60
    assert b.spent(TAB, "youtube", t0 + 3600) and not b.spent(TAB, "games", t0 + 3600)
    assert b.exhausted(TAB, t0 + 3600) == frozenset({"youtube"})
    assert b.exhausted("device:other", t0 + 3600) == frozenset()  # per device


def test_minutes_need_not_be_consecutive_and_repeats_do_not_count():
    b = Budgets({"youtube": 3}, "UTC")
    t = at(UTC, 2026, 6, 1, 10, 0)
    assert b.record(TAB, "youtube", t)
    assert not b.record(TAB, "youtube", t + 10)
    assert not b.record(TAB, "youtube", t + 59.999)
    assert b.used(TAB, "youtube", t + 30) == 1
    assert b.record(TAB, "youtube", t + 60)  # the next minute
    assert b.record(TAB, "youtube", t + 7200)  # two hours later
    assert not b.record(TAB, "youtube", t + 30)  # an old minute, already counted
    assert b.used(TAB, "youtube", t + 7200) == 3 and b.spent(TAB, "youtube", t + 7200)


def test_items_without_a_budget_are_not_counted_and_zero_is_always_spent():
    b = Budgets({"tiktok": 0}, "UTC")
    assert not b.record(TAB, "youtube", 1_800_000_000)
    assert b.used(TAB, "youtube", 1_800_000_000) == 0 and b.tracked == 0
    assert b and not Budgets({}, "UTC")  # truthy when it has budgets, counted or not
    assert b.spent("anyone", "tiktok", 1_800_000_000) and not b.spent("anyone", "youtube", 1_800_000_000)
    assert b.exhausted("anyone", 1_800_000_000) == frozenset({"tiktok"})


@pytest.mark.parametrize("limits,tz", [({"": 5}, "UTC"), ({"x": -1}, "UTC"), ({"x": "60m"}, "UTC"),
                                       ({"x": True}, "UTC"), ({"x": 5}, "Nowhere/City")])
def test_bad_limits_or_zone(limits, tz):
    with pytest.raises(ValueError):
        Budgets(limits, tz)


def test_midnight_resets_in_the_local_zone():
    # Almaty is UTC+5 in the installed tzdata (2025b); at UTC+6 (older tzdata) local
    # midnight would be 18:00 UTC instead of 19:00 UTC and so would the reset
    b = Budgets({"youtube": 60}, "Asia/Almaty")
    late = at(ALMATY, 2026, 6, 1, 23, 59)
    midnight = at(ALMATY, 2026, 6, 2, 0, 0)
    assert b.reset_at(late) == midnight
    b.record(TAB, "youtube", late)
    assert b.used(TAB, "youtube", late) == 1
    assert b.used(TAB, "youtube", midnight) == 0
    # UTC midnight is 05:00 local: not a new day
    b.record(TAB, "youtube", at(UTC, 2026, 6, 2, 23, 59))  # 04:59 local on 06-03
    assert b.used(TAB, "youtube", at(UTC, 2026, 6, 3, 0, 1)) == 1
    assert b.reset_at(at(UTC, 2026, 6, 3, 0, 1)) == at(ALMATY, 2026, 6, 4, 0, 0)


def test_reset_at_on_days_of_23_and_25_hours():
    b = Budgets({"youtube": 60}, "Europe/Berlin")
    spring = at(BERLIN, 2026, 3, 29, 0, 0)
    assert b.reset_at(spring) - spring == 23 * 3600
    assert b.reset_at(at(BERLIN, 2026, 3, 29, 12, 0)) == at(BERLIN, 2026, 3, 30, 0, 0)
    autumn = at(BERLIN, 2026, 10, 25, 0, 0)
    assert b.reset_at(autumn) - autumn == 25 * 3600
    assert b.reset_at(at(BERLIN, 2026, 10, 25, 2, 30, fold=1)) == at(BERLIN, 2026, 10, 26, 0, 0)
    assert b.reset_at(at(BERLIN, 2026, 10, 25, 23, 59, 59)) == at(BERLIN, 2026, 10, 26, 0, 0)
    # a 25-hour day has 1500 minutes to count: the last one is still today
    b.record(TAB, "youtube", autumn)
    b.record(TAB, "youtube", autumn + 25 * 3600 - 1)
    assert b.used(TAB, "youtube", autumn + 3600) == 2


def test_almaty_2024_move_made_a_25_hour_day():
    if dt.datetime(2025, 6, 1, tzinfo=ALMATY).utcoffset() != dt.timedelta(hours=5):
        pytest.skip("installed tzdata predates 2024a: Asia/Almaty is still UTC+6 there")
    b = Budgets({"youtube": 60}, "Asia/Almaty")
    start = at(ALMATY, 2024, 2, 29, 0, 0)  # +06: 2024-02-28 18:00 UTC
    assert start == at(UTC, 2024, 2, 28, 18, 0)
    assert b.reset_at(start) == at(UTC, 2024, 2, 29, 19, 0)  # 2024-03-01 00:00 at +05
    repeated = at(UTC, 2024, 2, 29, 18, 30)  # the second 23:30 on 02-29
    b.record(TAB, "youtube", at(UTC, 2024, 2, 29, 17, 30))  # the first 23:30
    b.record(TAB, "youtube", repeated)
    assert b.used(TAB, "youtube", repeated) == 2  # both in the same local day
    assert b.used(TAB, "youtube", at(UTC, 2024, 2, 29, 19, 0)) == 0


def test_a_clock_jumping_back_a_day_starts_that_day_afresh():
    b = Budgets({"youtube": 60}, "UTC")
    b.record(TAB, "youtube", at(UTC, 2030, 1, 1, 12))  # a router booting with a wrong clock
    assert b.record(TAB, "youtube", at(UTC, 2026, 6, 1, 12))
    assert b.used(TAB, "youtube", at(UTC, 2026, 6, 1, 13)) == 1
    assert b.used(TAB, "youtube", at(UTC, 2030, 1, 1, 13)) == 0


def test_device_cap_drops_the_least_recently_seen():
    b = Budgets({"youtube": 60}, "UTC", max_devices=3)
    t = at(UTC, 2026, 6, 1, 12)
    for i, dev in enumerate(["a", "b", "c"]):
        b.record(dev, "youtube", t + i)
    b.record("a", "youtube", t + 60)  # a is seen again: b is now the oldest
    b.record("d", "youtube", t + 120)
    assert b.tracked == 3
    assert b.used("b", "youtube", t + 180) == 0
    assert [b.used(d, "youtube", t + 180) for d in "acd"] == [2, 1, 1]

    assert b.devices() == [d["device"] for d in b.to_dict()["devices"]] == ["c", "a", "d"]


def test_ended_days_are_dropped():
    b = Budgets({"youtube": 60}, "UTC")
    day1, day2 = at(UTC, 2026, 6, 1, 12), at(UTC, 2026, 6, 2, 12)
    b.record("old", "youtube", day1)
    b.record("new", "youtube", day2)  # a new device on a new day drops the ended ones first
    assert b.tracked == 1
    b.record("x", "youtube", day2)
    b.prune(at(UTC, 2026, 6, 3, 0))
    assert b.tracked == 0


def test_to_dict_from_dict_roundtrip():
    b = Budgets({"youtube": 60, "games": 120}, "Europe/Berlin")
    t = at(BERLIN, 2026, 10, 25, 1, 0)
    for i in range(0, 200, 3):  # across the repeated hour
        b.record(TAB, "youtube", t + i * 60)
    b.record("device:11:22:33:44:55:66", "games", t)
    data = json.loads(json.dumps(b.to_dict()))
    assert data["version"] == 1 and data["tz"] == "Europe/Berlin" and data["devices"][0]["day"] == "2026-10-25"
    c = Budgets.from_dict(data)
    assert c.limits == b.limits and c.to_dict() == data
    now = t + 200 * 60
    assert c.used(TAB, "youtube", now) == b.used(TAB, "youtube", now) == 67
    assert c.used("device:11:22:33:44:55:66", "games", now) == 1
    assert not c.record(TAB, "youtube", t)  # restored minutes are not counted twice
    # with `now`, days other than today's are left behind
    assert Budgets.from_dict(data, now=at(BERLIN, 2026, 10, 26, 9, 0)).tracked == 0
    assert Budgets.from_dict(data, now=now).tracked == 2


def test_load_usage_keeps_own_limits_and_survives_a_zone_change():
    old = Budgets({"youtube": 60, "games": 120}, "Europe/Berlin")
    t = at(UTC, 2026, 6, 1, 10, 0)
    for i in range(5):
        old.record(TAB, "youtube", t + i * 60)
    old.record(TAB, "games", t)
    new = Budgets({"youtube": 5}, "UTC")  # a reload: other limits, another zone
    new.load_usage(old.to_dict())
    assert new.used(TAB, "youtube", t + 600) == 5 and new.spent(TAB, "youtube", t + 600)
    assert new.used(TAB, "games", t) == 0 and new.to_dict()["limits"] == {"youtube": 5}


def _valid() -> dict:
    b = Budgets({"youtube": 60}, "UTC")
    b.record(TAB, "youtube", at(UTC, 2026, 6, 1, 10))
    return b.to_dict()


def _with(**changes: object) -> dict:
    d = _valid()
    d["devices"][0].update(changes)
    return d


# rejected by load_usage (and so by from_dict)
BAD_USAGE = [None, [], "x", {}, {"version": 2, "tz": "UTC", "limits": {}, "devices": []},
             {**_valid(), "devices": {}}, {**_valid(), "devices": [7]},
             _with(device=""), _with(device=None), _with(day="yesterday"), _with(day="0001-01-01"),
             _with(start="0"), _with(start=True), _with(used=[]), _with(used={"youtube": "zz"}),
             _with(used={"youtube": ""}), _with(used={"youtube": "f" * 5000}), _with(used={"youtube": 15}),
             _with(used={"youtube": "-f"})]
# rejected by from_dict only: load_usage keeps the receiver's zone and limits
BAD_HEADER = [{**_valid(), "tz": 5}, {**_valid(), "tz": "No/Where"}, {**_valid(), "limits": {"youtube": "60m"}},
              {**_valid(), "limits": []}]


@pytest.mark.parametrize("data", BAD_USAGE + BAD_HEADER)
def test_from_dict_of_garbage_raises_value_error(data):
    with pytest.raises(ValueError):
        Budgets.from_dict(data)


@pytest.mark.parametrize("data", BAD_USAGE)
def test_load_usage_of_garbage_leaves_the_state_alone(data):
    b = Budgets({"youtube": 60}, "UTC")
    t = at(UTC, 2026, 6, 1, 10)
    b.record(TAB, "youtube", t)
    with pytest.raises(ValueError):
        b.load_usage(data)
    assert b.used(TAB, "youtube", t) == 1


def test_huge_start_shift_is_ignored_not_allocated():
    d = _with(start=10**15)
    b = Budgets.from_dict(d)  # well-formed, but every minute is outside the day
    assert b.tracked == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 86399.999), min_size=1, max_size=200))
def test_used_counts_distinct_minutes_of_the_day(offsets):
    b = Budgets({"youtube": 1440}, "Asia/Almaty")
    day = at(ALMATY, 2026, 6, 1, 0, 0)
    new = sum(b.record(TAB, "youtube", day + o) for o in offsets)
    distinct = len({int(o // 60) for o in offsets})
    assert new == distinct == b.used(TAB, "youtube", day + 86399)
    assert b.spent(TAB, "youtube", day) == (distinct >= 1440)


def test_thirty_more_minutes_today_and_reset_today() -> None:
    import datetime as _dt
    import zoneinfo as _zi

    tz = _zi.ZoneInfo("Asia/Almaty")
    t0 = _dt.datetime(2026, 5, 4, 10, 0, tzinfo=tz).timestamp()
    b = Budgets({"youtube": 2}, "Asia/Almaty")
    b.record("tab", "youtube", t0)
    b.record("tab", "youtube", t0 + 60)
    assert b.spent("tab", "youtube", t0 + 120) and b.exhausted("tab", t0 + 120) == {"youtube"}
    b.extend("tab", "youtube", 30, t0 + 120)
    assert not b.spent("tab", "youtube", t0 + 120) and b.limit_today("tab", "youtube", t0 + 120) == 32
    assert b.limit_today("other", "youtube", t0) == 2  # per device
    restored = Budgets.from_dict(b.to_dict(), now=t0 + 180)
    assert restored.extra("tab", "youtube", t0 + 180) == 30  # kept across a restart
    tomorrow = _dt.datetime(2026, 5, 5, 10, 0, tzinfo=tz).timestamp()
    assert b.limit_today("tab", "youtube", tomorrow) == 2  # today only
    b.reset("tab", "youtube", t0 + 200)
    assert b.used("tab", "youtube", t0 + 200) == 0 and b.extra("tab", "youtube", t0 + 200) == 0
    with pytest.raises(ValueError):
        b.extend("tab", "games", 30, t0)
    with pytest.raises(ValueError):
        b.extend("tab", "youtube", 0, t0)

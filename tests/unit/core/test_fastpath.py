"""The fast path's tables: one bound for all of them together (a router's memory budget), and
an admission that lets a scan of names asked once pass without pushing out the names asked
again and again."""

from __future__ import annotations

import random

from dnsfilter.core.fastpath import FastPath


def _reply(k: int) -> bytes:
    return b"\x00\x00" + k.to_bytes(4, "big") * 8


def _total(fp: FastPath) -> int:
    return sum(len(t) for t in fp.tables.values())


def test_bound_holds_across_profiles_and_time_states() -> None:
    fp = FastPath(max_entries=100)
    for k in range(1000):  # four profiles and two paused devices, each asking new names twice
        for _ in range(2):
            fp.install(["Kids", "Teens", "Adults", "Guests", "Kids@pause:tab", "Teens@budget:pc"][k % 6],
                       k.to_bytes(4, "big"), _reply(k), 0.0, None)
            assert _total(fp) == fp.entries <= 100
    assert fp.entries == 100 and fp.installed >= 1000  # every name got in at its second sight


def test_replacing_an_entry_takes_no_room() -> None:
    fp = FastPath(max_entries=3)
    for k in range(3):
        fp.install("Kids", bytes([k]), _reply(k), 0.0, None)
    for _ in range(5):
        fp.install("Kids", b"\x01", _reply(9), 1.0, None)  # re-installed (e.g. after expiry)
    assert fp.entries == 3 and set(fp.tables["Kids"]) == {b"\x00", b"\x01", b"\x02"}
    assert fp.tables["Kids"][b"\x01"][0] == _reply(9)[2:]


def test_a_busy_profile_gives_way_to_a_quiet_one() -> None:
    fp = FastPath(max_entries=10)
    for k in range(10):
        fp.install("Adults", k.to_bytes(2, "big"), _reply(k), 0.0, None)
    # the Kids' table is empty: its first entries (at their second sight: the tables are full)
    # come out of the full Adults table
    for k in range(4):
        for _ in range(2):
            fp.install("Kids", k.to_bytes(2, "big"), _reply(k), 0.0, None)
    assert len(fp.tables["Kids"]) == 4 and len(fp.tables["Adults"]) == 6
    # Adults asking on recycles its own oldest while it holds more than its share
    for _ in range(2):
        fp.install("Adults", b"\xff\xff", _reply(99), 0.0, None)
    assert len(fp.tables["Kids"]) == 4 and len(fp.tables["Adults"]) == 6
    assert b"\x00\x00" not in fp.tables["Adults"]  # the oldest went first


def test_random_churn_keeps_the_count_exact() -> None:
    rng = random.Random(7)
    fp = FastPath(max_entries=50)
    profiles = [f"p{i}" for i in range(8)]
    for k in range(5000):
        fp.install(rng.choice(profiles), rng.randrange(300).to_bytes(2, "big"), _reply(k), 0.0, None)
        if k % 997 == 0:  # a new client's slot beyond the table limit clears everything
            fp.add_client(f"10.0.0.{k % 250}", rng.choice(profiles), None)
        assert fp.entries == _total(fp) <= 50


def test_tables_cleared_at_their_limit_reset_the_count() -> None:
    fp = FastPath(max_entries=10_000)
    for k in range(1024):
        fp.add_client(f"10.0.{k // 250}.{k % 250}", f"Kids@pause:{k}", None)
        fp.install(f"Kids@pause:{k}", b"q", _reply(k), 0.0, None)
    assert fp.entries == _total(fp) == 1024
    fp.add_client("10.9.9.9", "Kids@pause:new", None)  # the 1025th table: all are dropped
    assert fp.entries == _total(fp) == 0 and list(fp.tables) == ["Kids@pause:new"]


def test_zero_disables_the_fast_path() -> None:
    fp = FastPath(max_entries=0)
    fp.install("Kids", b"q", _reply(1), 0.0, None)
    assert fp.entries == 0 and _total(fp) == 0


def _hot_and_scan(fp: FastPath, hot: list[bytes], scan: int) -> None:
    for k in hot:
        fp.install("Kids", k, _reply(1), 0.0, None)
    for k in range(scan):  # names asked once each, ten times as many as the table holds
        fp.install("Kids", b"scan" + k.to_bytes(4, "big"), _reply(k), 0.0, None)


def test_a_scan_of_names_asked_once_leaves_the_hot_names_in_place() -> None:
    fp = FastPath(max_entries=1000)
    hot = [b"hot" + k.to_bytes(2, "big") for k in range(1000)]
    _hot_and_scan(fp, hot, 10_000)
    kept = sum(k in fp.tables["Kids"] for k in hot)
    assert kept >= 950, kept  # the doorkeeper's rare false "seen" may let a few in
    assert fp.declined >= 9_500 and fp.entries == 1000


def test_a_name_asked_again_during_a_scan_gets_in() -> None:
    fp = FastPath(max_entries=100)
    for k in range(100):
        fp.install("Kids", b"old" + bytes([k]), _reply(k), 0.0, None)
    fp.install("Kids", b"again", _reply(1), 0.0, None)
    assert b"again" not in fp.tables["Kids"]  # first sight: declined
    for k in range(50):
        fp.install("Kids", b"scan" + bytes([k]), _reply(k), 0.0, None)
    fp.install("Kids", b"again", _reply(1), 0.0, None)
    assert b"again" in fp.tables["Kids"] and fp.entries == 100
    assert b"old\x00" not in fp.tables["Kids"]  # it took the oldest entry's place

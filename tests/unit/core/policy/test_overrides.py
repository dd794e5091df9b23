"""Expiring allows and blocks in the engine, on a fake clock: a device's or a profile's override
takes effect at once (prebuilt answers included), beats quiet hours and the profile's own rules
but not an authority list, and is gone the moment it ends: nothing built under it is served
after, from the fast path or the cache."""

from __future__ import annotations

from dnsfilter.core.engine import Engine
from dnsfilter.core.policy.overrides import Override, Overrides
from tests.support.engine import CLIENT, ede, q, reply_of
from tests.support.engine import make as make_plain
from tests.unit.core.test_engine_profiles import KID, KID2, answer, at, fast_answer, make

TIKTOK = "www.tiktok.com. 300 A 192.0.2.66"


def _set(eng: Engine, *items: Override) -> None:
    """What the shell does when the store's overrides change (`ctl overrides`)."""
    assert eng.time is not None
    eng.time.overrides = Overrides(items)
    eng.overrides_changed()


def _ip(eng: Engine, name: str, ip: str, now: float, *zone: str) -> str:
    r = answer(eng, name, ip, now, "A", *zone)
    return str(r.rr[0].rdata) if r.rr else ""


def test_allow_for_a_device_until_a_moment_then_gone_from_the_fast_path() -> None:
    eng = make()
    now = at(12)
    assert _ip(eng, "www.tiktok.com", KID, now) == "0.0.0.0"  # the Kids profile blocks TikTok
    assert fast_answer(eng, "www.tiktok.com", KID, now) is not None  # ... prebuilt
    _set(eng, Override(1, f"device:{KID}", "tiktok.com", "allow", now + 3600))
    assert fast_answer(eng, "www.tiktok.com", KID, now + 0.1) is None  # the blocked answer is not replayed
    assert _ip(eng, "www.tiktok.com", KID, now + 0.1, TIKTOK) == "192.0.2.66"
    replay = fast_answer(eng, "www.tiktok.com", KID, now + 0.2)
    assert replay is not None and str(replay.rr[0].rdata) == "192.0.2.66"  # its own table
    assert _ip(eng, "www.tiktok.com", KID2, now + 0.2) == "0.0.0.0"  # only that device
    # no prebuilt answer of that table is replayed past the end, even before the next tick:
    # the UDP loop hands an entry whose time is up back to the engine
    built = [e for name, table in eng.fast.tables.items() if "|o:" in name for e in table.values()]
    assert built and all(e[1] <= now + 3600 and (e[2] is None or e[2][3] <= now + 3600) for e in built)
    # the end: the tick drops the slot and the table built under the override
    tables = set(eng.fast.tables)
    eng.tick(now + 3600)
    assert fast_answer(eng, "www.tiktok.com", KID, now + 3600) is None
    assert not [t for t in eng.fast.tables if "|o:" in t] and [t for t in tables if "|o:" in t]
    r = reply_of(eng.on_query(q("www.tiktok.com"), KID, "c", now + 3600))
    assert str(r.rr[0].rdata) == "0.0.0.0" and ede(r)[0] == 17  # from the cache? never: blocked again
    assert len(eng.time.overrides) == 0  # type: ignore[union-attr]


def test_allow_beats_bedtime_and_block_beats_the_profiles_allow() -> None:
    eng = make(allow=["kids.example"])
    night = at(22)
    assert _ip(eng, "www.example.com", KID, night) == "0.0.0.0"  # bedtime
    _set(eng, Override(1, "profile:Kids", "example.com", "allow", night + 1800),
         Override(2, f"device:{KID}", "kids.example", "block", None))
    r = answer(eng, "www.example.com", KID2, night, "A", "www.example.com. 300 A 192.0.2.1")
    assert str(r.rr[0].rdata) == "192.0.2.1"  # the whole profile, at bedtime too
    r = reply_of(eng.on_query(q("kids.example"), KID, "c", night))
    assert str(r.rr[0].rdata) == "0.0.0.0" and "blocked until removed for this device" in ede(r)[1]
    # the other Kids device: the profile's own allow rule (which beats bedtime anyway)
    assert _ip(eng, "kids.example", KID2, night + 1, "kids.example. 300 A 192.0.2.2") == "192.0.2.2"
    eng.tick(night + 1800)  # the half hour is over: bedtime again for the profile's devices
    assert _ip(eng, "www.example.com", KID2, night + 1800) == "0.0.0.0"
    eng.tick(at(12, day=11))
    assert _ip(eng, "kids.example", KID, at(12, day=11)) == "0.0.0.0"  # "until removed" outlives the night


def test_device_beats_profile_most_specific_wins_authority_stays() -> None:
    eng = make()
    now = at(12)
    _set(eng, Override(1, "profile:Kids", "tiktok.com", "block", now + 60),
         Override(2, f"device:{KID}", "tiktok.com", "allow", now + 60),
         Override(3, f"device:{KID}", "live.tiktok.com", "block", now + 60),
         Override(4, "profile:Kids", "banned.test", "allow", now + 60))
    assert _ip(eng, "www.tiktok.com", KID, now, TIKTOK) == "192.0.2.66"
    assert _ip(eng, "live.tiktok.com", KID, now) == "0.0.0.0"
    assert _ip(eng, "www.tiktok.com", KID2, now) == "0.0.0.0"
    # an authority list is above every override
    gov = make_plain()
    _set(gov, Override(1, "profile:Default", "banned.test", "allow", None))
    r = reply_of(gov.on_query(q("banned.test"), CLIENT, "c", now))
    assert str(r.rr[0].rdata) == "0.0.0.0" and ede(r)[0] == 16


def test_the_same_name_twice_the_newer_counts_and_ended_ones_never_apply() -> None:
    eng = make()
    now = at(12)
    _set(eng, Override(1, f"device:{KID}", "tiktok.com", "allow", now + 60),
         Override(2, f"device:{KID}", "tiktok.com", "block", now + 60),
         Override(3, f"device:{KID2}", "tiktok.com", "allow", now - 1))  # ended before it was loaded
    assert _ip(eng, "www.tiktok.com", KID, now) == "0.0.0.0"
    assert _ip(eng, "www.tiktok.com", KID2, now) == "0.0.0.0"


def test_a_new_set_drops_the_answers_built_under_the_old_one() -> None:
    eng = make()
    now = at(12)
    _set(eng, Override(1, f"device:{KID}", "tiktok.com", "allow", None))
    assert _ip(eng, "www.tiktok.com", KID, now, TIKTOK) == "192.0.2.66"
    assert fast_answer(eng, "www.tiktok.com", KID, now) is not None
    _set(eng)  # the parent removed it: within the control command, before the next query
    assert fast_answer(eng, "www.tiktok.com", KID, now) is None and not [t for t in eng.fast.tables if "|o:" in t]
    assert _ip(eng, "www.tiktok.com", KID, now + 1) == "0.0.0.0"

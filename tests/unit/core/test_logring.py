"""The query log's slow ring (core/logring.py): slow-path answers are stored in place in
preallocated lists, bounded, and a burst bigger than the ring is reported and estimated, never
lost silently; the privacy modes still apply to what it held."""

from __future__ import annotations

from dnsfilter.core.logbatch import batch
from dnsfilter.core.logring import Ring, Whos
from dnsfilter.core.model import Reason
from dnsfilter.core.querylog import SHAPES, QueryLog, log_info


def _slow_burst(ql: QueryLog, n: int, profile: str = "Kids", ip: str = "10.0.0.9", device: str = "tablet") -> None:
    for k in range(n):  # first sights resolved upstream: what Engine._rec records
        ql.record(7200.0 + k / 1e4, ip, device, log_info(profile, f"n{k}.burst.test", 1, "forwarded"))


def test_slow_answers_are_stored_in_the_rings_own_lists_and_one_who_per_client():
    ql = QueryLog(size=64, small=8)
    lists = (ql.slow.times, ql.slow.slots, ql.slow.infos)
    _slow_burst(ql, 3)
    assert all(len(x) == 8 for x in lists) and (ql.slow.times, ql.slow.slots, ql.slow.infos) == lists  # in place
    assert ql.slow.slots[0] is ql.slow.slots[1] is ql.slow.slots[2]  # no per-answer object for who asked
    ql.record(7300.0, "10.0.0.9", "phone", log_info("Kids", "x.test", 1, "forwarded"))  # a new device on that address
    assert ql.slow.slots[3].device == "phone" and ql.slow.slots[2].device == "tablet"
    records, full = ql.drain()
    assert [r[1:3] for r in records] == [("10.0.0.9", "tablet")] * 3 + [("10.0.0.9", "phone")] and not full


def test_the_slow_ring_never_holds_more_than_its_size_and_an_overflow_is_reported_and_estimated():
    ql = QueryLog(size=64, small=8)
    _slow_burst(ql, 5)  # more than half the small ring: the next take gives it the full size
    d = ql.take()
    assert len(d) == 5 and not d.full and ql.slow.mask + 1 == 64
    d.release()
    n = 1000  # a burst far over what the ring holds between two drains
    _slow_burst(ql, n)
    assert len(ql.slow.infos) == 64  # the bound: never more records than the ring's size
    d = ql.take()
    assert d.full and len(d.slow) == 64 and d.slow.replayed == n
    b = batch(d, 0.0, {"Kids": "full"}, max_rows=10)
    assert len(b.rows) == 10 and b.shed == 54  # rows from what the ring kept: its newest records
    assert [r[4] for r in b.rows] == [f"n{k}.burst.test" for k in range(n - 64, n - 54)]
    # every answer of the burst is in the rollups (estimated from the kept ones), not 64
    assert abs(sum(b.rollup.values()) - n) <= 2


def test_privacy_applies_to_what_the_slow_ring_held_after_an_overflow():
    ql = QueryLog(size=16)
    ql.off = frozenset({"Private"})
    for _k in range(40):  # three profiles take turns; the ring holds 16 records
        for profile in ("Anon", "Counts", "Private"):
            ql.record(7200.0, "10.0.0.9", "tablet", ql.info(profile, b"\x02ad\x04test\x00", 1, "blocked", None))
    d = ql.take()
    assert d.full and d.slow.replayed == 80  # privacy "off": nothing recorded, not even a place in the ring
    b = batch(d, 0.0, {"Anon": "anonymous", "Counts": "counts", "Private": "off"}, max_rows=4)
    assert [r[3] for r in b.rows] == ["Anon", "Anon"] and all(r[1:3] == ("", "") for r in b.rows)
    assert {k[2] for k in b.rollup} == {"Anon", "Counts"} and sum(b.rollup.values()) == 80
    assert {k[1] for k in b.rollup if k[2] == "Anon"} == {""}  # anonymous: no device, estimated or not
    assert {k[2] for k in b.names} == {"ad.test"} and {k[1] for k in b.names} == {"Anon"}  # counts: no names


def test_whos_are_bounded():
    whos = Whos(limit=4)
    first = whos("10.0.0.1", "a")
    for k in range(2, 9):
        whos(f"10.0.0.{k}", "b")
    assert len(whos.by_ip) <= 4 and whos("10.0.0.1", "a") is not first  # started afresh, same answer
    assert Ring(8).put(1.0, first, None) is None


def test_records_read_out_are_not_kept_alive_by_the_rings_lists():
    """A record left in place would keep its LogInfo and name alive until overwritten: after a
    burst, megabytes of answers already written."""
    ql = QueryLog(size=64, small=16)
    _slow_burst(ql, 3)  # a home's pace: the span is copied out on the loop
    d = ql.take()
    assert len(d.records()) == 3 and all(i is None for i in ql.slow.infos)
    _slow_burst(ql, 15)  # a burst: the lists are handed over whole, read in place by the writer
    d = ql.take()
    lists = d.slow.infos
    assert d.slow.whole is not None and sum(i is not None for i in lists) == 15
    batch(d, 0.0, {})
    d.release()
    assert ql.slow.spare == [] or all(i is None for i in ql.slow.spare[0][0][2] + (ql.slow.spare[0][1] or []))
    assert all(i is None for i in lists)  # cleared in the writer's thread before they go back


def test_slow_answers_share_one_description_and_keep_only_their_name():
    """Engine._rec's path: a burst of new names leaves no LogInfo tuple per answer in the ring
    (a shared description per profile, type, outcome and reason, and the name), and what the
    writer reads back is each answer's own description with its name."""
    ql = QueryLog(size=64, small=8)
    ql.hashed_feeds = frozenset({"secret"})
    ads = Reason("listed", category="ads", feed="ads", kind="category")
    hashed = Reason("listed", category="ads", feed="secret", kind="category")
    names = [b"\x02n" + str(k).encode() + b"\x04test\x00" for k in range(3)]
    got = [ql.answer(7200.0, "10.0.0.9", "tablet", "Kids", n, 1, "blocked", ads) for n in names]
    assert got[0] == ("Kids", names[0], 1, "blocked", "category", "ads", "ads", "")  # for a fast-path entry
    assert ql.slow.infos[0] is ql.slow.infos[1] is ql.slow.infos[2]  # one shared description
    assert ql.slow.names[:3] == names
    ql.answer(7200.0, "10.0.0.9", "tablet", "Kids", b"\x01x\x04test\x00", 1, "blocked", hashed)
    ql.answer(7200.0, "10.0.0.9", "tablet", "Kids", b"\x01y\x04test\x00", 1, "forwarded", None)
    assert ql.answer(7200.0, "10.0.0.9", "tablet", "Off", b"\x01z\x04test\x00", 1, "forwarded", None) is not None
    ql.off = frozenset({"Off"})
    assert ql.answer(7200.0, "10.0.0.9", "tablet", "Off", b"\x01z\x04test\x00", 1, "forwarded", None) is None
    d = ql.take()
    held = d.slow.names  # a burst's span: the ring's own lists, handed over whole
    assert d.slow.whole is not None and held is not None and sum(n is not None for n in held) == 6
    b = batch(d, 0.0, {"Kids": "full", "Off": "full"})
    assert [r[4] for r in b.rows] == ["n0.test", "n1.test", "n2.test", "", "y.test", "z.test"]  # a hashed feed's name: never
    assert [r[6] for r in b.rows] == ["blocked"] * 4 + ["forwarded"] * 2
    d.release()
    assert all(n is None for n in held)  # written: the names are not kept alive by the lists


def test_the_shared_descriptions_are_bounded_and_follow_each_reason():
    ql = QueryLog(size=64, small=8)
    for k in range(SHAPES + 10):  # a reason made per answer (a CNAME's block) each time
        info = ql.answer(7200.0, "10.0.0.9", "tablet", "Kids", b"\x01x\x00", 1, "blocked",
                         Reason("cname", category=f"c{k}"))
        assert info is not None and info[5] == f"c{k}"  # never another reason's description
        ql.take().release()
    assert len(ql.shapes) <= SHAPES


def test_the_configured_ring_bound_holds_through_a_burst_and_a_reload():
    """`[storage] log_ring` (the OpenWrt package: 4096): a burst never grows a ring beyond it,
    and a reload that lowers it takes effect at the next take."""
    from dnsfilter.assemble import build_engine, reconfigure
    from dnsfilter.config import from_dict
    from dnsfilter.core.policy.matcher import Matcher

    eng = build_engine(from_dict({"storage": {"log_ring": 2048}}), Matcher({}))
    ql = eng.qlog
    assert (ql.size, ql.slow.size, ql.mask + 1, ql.slow.mask + 1) == (2048, 2048, 2048, 2048)
    for _ in range(3):  # bursts far over the bound between two takes
        _slow_burst(ql, 5000)
        d = ql.take()
        assert d.full and len(d.slow) == 2048 and d.slow.replayed == 5000
        d.release()
        assert len(ql.slow.infos) <= 2048 and len(ql.slow.names or []) <= 2048
    reconfigure(eng, from_dict({}), Matcher({}))  # the default again: a burst may take 16,384
    _slow_burst(ql, 1500)
    ql.take().release()
    assert ql.slow.mask + 1 == 16384
    reconfigure(eng, from_dict({"storage": {"log_ring": 1024}}), Matcher({}))
    _slow_burst(ql, 5000)
    d = ql.take()  # read from the lists it had; the ring's next lists follow the new bound
    assert ql.slow.mask + 1 == 1024 and len(ql.slow.infos) == 1024
    d.release()

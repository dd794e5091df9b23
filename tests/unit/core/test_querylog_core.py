"""The query log's core: the ring, what the engine records (slow path and fast-path entries),
hashed-feed redaction, and the privacy modes applied when rows and rollups are built."""

from __future__ import annotations

from dnsfilter.core.logbatch import batch
from dnsfilter.core.model import Reason
from dnsfilter.core.querylog import (
    CATEGORY,
    FEED,
    KIND,
    NAME,
    OUTCOME,
    PRIVACY_MODES,
    LogInfo,
    QueryLog,
    log_info,
)
from tests.support.engine import CLIENT, ask, make, q, upstream


def info(profile: str = "Kids", name: str = "ads.test", outcome: str = "blocked", feed: str = "ads",
         category: str = "ads") -> LogInfo:
    return log_info(profile, name, 1, outcome, "category" if outcome == "blocked" else "", category, feed, "")


def test_ring_is_bounded_and_drain_reports_overflow():
    ql = QueryLog(size=4)
    i = info()
    for n in range(6):
        ql.record(float(n), "10.0.0.1", "d", i)
    records, full = ql.drain()
    assert [r[0] for r in records] == [2.0, 3.0, 4.0, 5.0] and full
    assert ql.drain() == ([], False)


def test_info_blanks_names_of_hashed_feeds_and_skips_profiles_that_log_nothing():
    ql = QueryLog()
    ql.hashed_feeds = frozenset({"secret"})
    ql.off = frozenset({"Private"})
    wire_name = b"\x03bad\x04test\x00"
    hashed = ql.info("Kids", wire_name, 1, "blocked", Reason("listed", "adult", "secret", kind="category"))
    assert hashed is not None and hashed[NAME] == "" and hashed[FEED] == "secret" and hashed[CATEGORY] == "adult"
    plain = ql.info("Kids", wire_name, 1, "blocked", Reason("listed", "ads", "ads", kind="category"))
    # the name stays in wire form on the event loop; the writer's batch turns it into text
    assert plain is not None and plain[NAME] == wire_name
    assert batch([(0.0, "10.0.0.1", "d", plain)], 0.0, {}).rows[0][4] == "bad.test"
    assert ql.info("Private", wire_name, 1, "resolved", None) is None
    ql.record(1.0, "10.0.0.1", "d", None)
    assert ql.drain() == ([], False)


def test_privacy_modes_shape_rows_and_rollups():
    recs = [(10.0, "10.0.0.1", "aa:bb", info(p)) for p in ("Full", "Anon", "Counts", "Off")]
    recs.append((11.0, "10.0.0.2", "cc:dd", info("Unlisted", outcome="resolved", feed="", category="")))
    privacy = {"Full": "full", "Anon": "anonymous", "Counts": "counts", "Off": "off"}
    b = batch(recs, 3600.0 * 100, privacy)
    rows = {r[3]: r for r in b.rows}
    assert set(rows) == {"Full", "Anon", "Unlisted"}  # counts and off write no rows
    assert rows["Full"][1:3] == ("aa:bb", "10.0.0.1") and rows["Full"][4] == "ads.test"
    assert rows["Anon"][1:3] == ("", "") and rows["Anon"][4] == "ads.test"
    assert rows["Full"][0] == 3600.0 * 100 + 10.0  # monotonic time + wall offset
    hour = 100
    assert b.rollup[(hour, "aa:bb", "Full", "ads", "blocked")] == 1
    assert b.rollup[(hour, "", "Anon", "ads", "blocked")] == 1
    assert b.rollup[(hour, "aa:bb", "Counts", "ads", "blocked")] == 1  # counts: per device, no names
    assert not any(k[2] == "Off" for k in b.rollup)
    assert {k[1] for k in b.rollup if k[1] == "Unlisted"} == set()
    assert dict(b.names) == {(hour, "Full", "ads.test"): 1, (hour, "Anon", "ads.test"): 1}


def test_batch_redacts_hashed_feeds_it_learns_of_late():
    b = batch([(0.0, "10.0.0.1", "d", info(feed="secret"))], 0.0, {}, frozenset({"secret"}))
    assert b.rows[0][4] == "" and b.rows[0][9] == "secret" and not b.names


def test_every_mode_has_a_plain_sentence():
    assert set(PRIVACY_MODES) == {"full", "anonymous", "counts", "off"}
    assert all(s.endswith(".") and len(s) < 140 for s in PRIVACY_MODES.values())


def test_engine_records_slow_path_answers_and_describes_fast_entries():
    eng = make()
    blocked = q("tracker.test", qid=1)
    ask(eng, blocked, 5.0)
    [rec] = eng.qlog.drain()[0]
    t, ip, _dev, i = rec
    assert (t, i[OUTCOME], i[NAME], i[KIND], i[CATEGORY]) == (5.0, "blocked", b"\x07tracker\x04test\x00", "category", "ads")
    assert batch([rec], 0.0, {}).rows[0][4] == "tracker.test"
    assert ip == CLIENT and i[FEED]
    # the prebuilt entry carries the same description, so replays can be logged without a lookup
    # (its own tuple: the slow ring keeps a shared description and the name)
    entry = next(iter(eng.fast.tables.values()))[blocked[2:]]
    assert entry[3] == i

    data = q("www.example.com", qid=2)
    [fwd] = ask(eng, data, 6.0)
    assert eng.qlog.drain()[0] == []  # nothing answered yet
    eng.on_upstream(fwd, upstream(fwd, "www.example.com. 300 A 192.0.2.1"), 6.5)
    [rec] = eng.qlog.drain()[0]
    assert (rec[3][OUTCOME], batch([rec], 0.0, {}).rows[0][4]) == ("resolved", "www.example.com")
    cached = [t for t in eng.fast.tables.values() if data[2:] in t][0][data[2:]]
    assert cached[3] is not None and cached[3][OUTCOME] == "cached"  # replays are cache hits
    ask(eng, q("www.example.com", qid=3), 7.0)  # the slow path answers it from the cache too
    assert [r[3][OUTCOME] for r in eng.qlog.drain()[0]] == ["cached"]


def test_engine_does_not_record_profiles_with_privacy_off():
    eng = make()
    eng.qlog.off = frozenset(eng.fast.tables) | {"Default"}
    blocked = q("tracker.test", qid=1)
    ask(eng, blocked, 5.0)
    assert eng.qlog.drain()[0] == []
    entry = next(iter(eng.fast.tables.values()))[blocked[2:]]
    assert entry[3] is None


def test_a_flood_beyond_max_rows_is_counted_exactly_but_not_written_as_rows():
    hot, other = info(), info(name="other.test")
    recs = [(3600.0 + n, "10.0.0.1", "d1", hot if n % 2 else other) for n in range(100)]
    b = batch(recs, 0.0, {}, max_rows=10)
    assert len(b.rows) == 10 and b.shed == 90
    assert sum(b.rollup.values()) == 100 and b.rollup[(1, "d1", "Kids", "ads", "blocked")] == 100
    assert b.names[(1, "Kids", "ads.test")] == 50 and b.names[(1, "Kids", "other.test")] == 50
    anon = batch(recs, 0.0, {"Kids": "anonymous"}, max_rows=10)
    assert set(k[1] for k in anon.rollup) == {""}
    assert not batch(recs, 0.0, {"Kids": "off"}, max_rows=10).rollup


def test_a_flood_of_distinct_names_counts_only_the_most_frequent_but_every_answer():
    hot = info(name="hot.test")
    recs = [(3600.0, "10.0.0.1", "d1", info(name=f"n{n}.test")) for n in range(500)]
    recs += [(3600.0, "10.0.0.1", "d1", hot)] * 50
    b = batch(recs, 0.0, {}, max_rows=0, max_names=3)
    assert sum(b.rollup.values()) == 550  # the rollups stay exact
    assert len(b.names) == 3 and b.names[(1, "Kids", "hot.test")] == 50
    assert len(batch(recs, 0.0, {}, max_rows=0, max_names=1000).names) == 501


def test_wire_names_become_text_in_rows_and_in_a_floods_sampled_names():
    """The resolver records names in wire form (no text on the event loop): rows and the
    flood's name counts hold text, and a name met in both forms is one name."""
    wire_ads = b"\x03ads\x04test\x00"
    as_wire = log_info("Kids", wire_ads, 1, "blocked", "category", "ads", "ads", "")
    odd = log_info("Kids", b"\x03a.b\x04test\x00", 1, "blocked", "category", "ads", "ads", "")
    recs = [(3600.0, "10.0.0.1", "d1", as_wire if n % 2 else info()) for n in range(40)]
    recs.append((3600.0, "10.0.0.1", "d1", odd))
    b = batch(recs, 0.0, {}, max_rows=5)
    assert {r[4] for r in b.rows} == {"ads.test"}
    assert b.names == {(1, "Kids", "ads.test"): 40, (1, "Kids", "a\\046b.test"): 1}
    assert all(isinstance(k[2], str) for k in b.names)


def test_infos_and_records_hold_nothing_the_collector_must_keep_tracking():
    import gc

    eng = make()
    ask(eng, q("tracker.test", qid=1), 5.0)
    [rec] = eng.qlog.drain()[0]
    entry = next(iter(eng.fast.tables.values()))[q("tracker.test", qid=1)[2:]]
    gc.collect()
    gc.collect()  # the info tuple is untracked in the first pass, the tuples holding it in the next
    assert not gc.is_tracked(rec) and not gc.is_tracked(entry)  # so fast entries never slow collections


def test_fast_ring_drains_in_order_across_the_wrap_and_reports_overflow():
    from dnsfilter.core.fastpath import Slot

    ql = QueryLog(size=8)
    slot = Slot({}, None, "dev", "10.0.0.9")

    def replay(n: int) -> None:  # what the UDP loop does for each fast-path answer
        for _ in range(n):
            j = ql.pos & ql.mask
            ql.times[j], ql.slots[j], ql.infos[j] = float(ql.pos), slot, info()
            ql.pos += 1

    replay(5)
    ql.record(100.0, "10.0.0.1", "slow", info())
    records, full = ql.drain()
    assert [r[0] for r in records] == [100.0, 0.0, 1.0, 2.0, 3.0, 4.0] and not full
    assert records[1][1:3] == ("10.0.0.9", "dev")
    replay(6)  # wraps around the end of the lists
    assert [r[0] for r in ql.drain()[0]] == [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    replay(8)  # exactly one turn
    assert [r[0] for r in ql.drain()[0]] == [float(n) for n in range(11, 19)]
    replay(11)  # more than the ring holds: the oldest 3 are lost, and that is reported
    records, full = ql.drain()
    assert [r[0] for r in records] == [float(n) for n in range(22, 30)] and full
    assert ql.drain() == ([], False)


def _replays(ql: QueryLog, n: int, slots: list, name_of) -> None:
    for k in range(n):  # what the UDP loop stores per replay
        j = ql.pos & ql.mask
        ql.times[j], ql.slots[j], ql.infos[j] = 7200.0 + k / 1e4, slots[k % len(slots)], name_of(k)
        ql.pos += 1


def test_a_flood_is_counted_exactly_in_chunks_from_both_rings_with_pauses_and_sampled_names():
    from dnsfilter.core.fastpath import Slot
    from dnsfilter.core.querylog import COUNT_CHUNK, EXACT_COUNT, NAME_SAMPLE

    ql = QueryLog(size=1 << 16)
    tablet = Slot({}, None, "tablet", "10.0.0.9")
    hot = info(name="hot.test")
    n_fast = 12_000  # every 4th replay is hot.test
    _replays(ql, n_fast, [tablet], lambda k: hot if k % 4 == 0 else info(name=f"n{k}.t"))
    for k in range(5_000):  # first sights on the slow path, from another device
        ql.record(7200.0, "10.0.0.2", "laptop", info(name=f"s{k}.t", outcome="resolved", feed="", category=""))
    d = ql.take()
    assert len(d) == n_fast + 5_000 and not d.full and ql.slow.drained == ql.slow.pos
    pauses = []
    b = batch(d, 0.0, {}, max_rows=1000, max_names=50, pause=lambda: pauses.append(1))
    assert len(b.rows) == 1000 and b.shed == n_fast + 4_000
    assert n_fast < EXACT_COUNT and len(pauses) >= (n_fast + 4_000) // COUNT_CHUNK  # the lock offered back
    assert b.rollup[(2, "laptop", "Kids", "", "resolved")] == 5_000  # rollups exact across both rings
    assert b.rollup[(2, "tablet", "Kids", "ads", "blocked")] == n_fast
    assert len(b.names) == 50
    true_hot = n_fast // 4
    assert n_fast + 4_000 > NAME_SAMPLE and abs(b.names[(2, "Kids", "hot.test")] - true_hot) < true_hot * 0.1


def test_an_overflowing_flood_is_estimated_from_a_sample_for_every_answer_it_stood_for():
    from dnsfilter.core.fastpath import Slot

    ql = QueryLog(size=1 << 15)
    a, b_ = Slot({}, None, "a", "10.0.0.1"), Slot({}, None, "b", "10.0.0.2")
    n = 100_000  # three times what the ring holds: the oldest two thirds are overwritten
    _replays(ql, n, [a, a, a, b_], lambda k: info(name=f"n{k % 5000}.t"))
    d = ql.take()
    assert d.full and d.replayed == n and len(d.infos) == 1 << 15
    b = batch(d, 0.0, {}, max_rows=1000)
    est_a, est_b = b.rollup[(2, "a", "Kids", "ads", "blocked")], b.rollup[(2, "b", "Kids", "ads", "blocked")]
    assert abs(est_a - 0.75 * n) < 0.05 * n and abs(est_b - 0.25 * n) < 0.05 * n  # not 32k: what was answered
    assert abs(sum(b.rollup.values()) - n) < 10


def test_a_floods_lists_are_read_in_place_across_the_wrap_and_given_back_to_the_ring():
    """A flood's take hands the ring's own lists over (nothing copied on the loop); the writer
    reads its span in place, wrap included, and `release` gives the lists back, so the next
    flood reuses them instead of new (young) 65k-entry lists that collections would walk."""
    from dnsfilter.core.fastpath import Slot

    ql = QueryLog(size=16)
    slot = Slot({}, None, "dev", "10.0.0.9")
    _replays(ql, 10, [slot], lambda k: info(name=f"a{k}.t"))
    ql.drain()  # positions 0..9 taken (handed over too): the next span starts at 10 and wraps
    own = (ql.times, ql.slots, ql.infos)
    _replays(ql, 12, [slot], lambda k: info(name=f"b{k}.t"))
    d = ql.take()
    assert d.whole == (10, 12) and all(a is b for a, b in zip((d.times, d.slots, d.infos), own, strict=True))
    assert ql.times is not own[0]
    assert d.fast_len() == 12 == len(d)
    t, sl, inf = d.fast_span(4, 9)  # positions 14..18 of the ring: across its end
    assert [i[1] for i in inf] == [f"b{k}.t" for k in range(4, 9)] and sl == [slot] * 5 and len(t) == 5
    assert [i[1] for i in d.fast_pick([0, 11, 5])[1]] == ["b0.t", "b11.t", "b5.t"]
    assert d.last_time() == 7200.0 + 11 / 1e4
    assert [r[3][1] for r in d.records()] == [f"b{k}.t" for k in range(12)]
    b = batch(d, 0.0, {}, max_rows=3)
    assert b.shed == 9 and sum(b.rollup.values()) == 12 and len(b.names) == 12
    d.release()
    assert len(d) == 0 and len(ql.spare) == 1 and all(a is b for a, b in zip(ql.spare[0][0], own, strict=True))
    _replays(ql, 12, [slot], lambda k: info(name=f"c{k}.t"))
    ql.take()
    assert ql.times is own[0] and not ql.spare  # the next flood's take puts them back in the ring


def test_spare_ring_lists_are_freed_after_a_calm_minute():
    from dnsfilter.core.querylog import CALM_TAKES

    ql = QueryLog(size=16)
    _replays(ql, 12, [None], lambda k: info())
    d = ql.take()
    d.release()
    d2 = ql.take()  # nothing new: a calm take
    d2.release()  # (a take without a flood gives nothing back)
    assert len(ql.spare) == 1
    for _ in range(CALM_TAKES - 2):
        ql.take()
    assert len(ql.spare) == 1  # a burst a minute apart still finds them
    ql.take()
    assert not ql.spare  # freed: the memory is the router's again


def test_the_fast_ring_starts_small_grows_at_a_burst_and_shrinks_after_a_calm_minute():
    from dnsfilter.core.fastpath import Slot
    from dnsfilter.core.querylog import CALM_TAKES

    ql = QueryLog(size=64, small=8)
    slot = Slot({}, None, "dev", "10.0.0.9")
    assert ql.mask + 1 == 8 and len(ql.times) == len(ql.slots) == len(ql.infos) == 8
    _replays(ql, 3, [slot], lambda k: info(name=f"a{k}.t"))
    assert [r[3][1] for r in ql.take().records()] == ["a0.t", "a1.t", "a2.t"] and ql.mask + 1 == 8  # a home's pace
    _replays(ql, 5, [slot], lambda k: info(name=f"b{k}.t"))  # more than half the small ring: a burst
    d = ql.take()
    assert ql.mask + 1 == 64 and len(ql.infos) == 64  # the full ring from the next replay on
    assert [r[3][1] for r in d.records()] == [f"b{k}.t" for k in range(5)]  # the small lists, read in place
    d.release()
    assert not ql.spare  # lists of the old size are of no use to the ring
    _replays(ql, 40, [slot], lambda k: info(name=f"c{k}.t"))  # across the new lists' positions
    d = ql.take()
    assert not d.full and [r[3][1] for r in d.records()] == [f"c{k}.t" for k in range(40)]
    d.release()
    assert len(ql.spare) == 1 and len(ql.spare[0][0][0]) == 64  # a set of the ring's size comes back
    for _ in range(CALM_TAKES - 1):
        assert ql.take().fast_len() == 0
    assert ql.mask + 1 == 64
    _replays(ql, 2, [slot], lambda k: info(name=f"d{k}.t"))
    d = ql.take()  # the calm minute is over: what was written is read out, then the ring shrinks
    assert [r[3][1] for r in d.records()] == ["d0.t", "d1.t"] and ql.mask + 1 == 8 and not ql.spare
    _replays(ql, 3, [slot], lambda k: info(name=f"e{k}.t"))
    assert [r[3][1] for r in ql.take().records()] == ["e0.t", "e1.t", "e2.t"]


def test_a_fixed_ring_never_changes_size():
    ql = QueryLog(size=16)
    _replays(ql, 16, [None], lambda k: info())
    ql.take().release()
    assert ql.mask + 1 == 16 and len(ql.spare) == 1

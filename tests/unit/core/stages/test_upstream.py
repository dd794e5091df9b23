"""The upstream stage's books: merging identical questions, the two bounds, prefetches."""

from __future__ import annotations

from dnsfilter.core.dns.wire import parse_query
from dnsfilter.core.stages.upstream import BUSY, FIRST, MERGED, InFlight, Waiter
from tests.support.engine import q


def waiter(to: str) -> Waiter:
    return Waiter(parse_query(q("www.example.com")), to, "Adults", "192.168.1.2", 1232, None)


def test_the_first_asker_forwards_the_rest_wait_on_it() -> None:
    f = InFlight()
    assert f.join(b"k", waiter("a")) == FIRST
    assert f.join(b"k", waiter("b")) == MERGED
    assert f.join(b"other", waiter("c")) == FIRST
    assert (len(f), f.waiting) == (2, 3)
    assert [w.to for w in f.finish(b"k")] == ["a", "b"]
    assert (len(f), f.waiting) == (1, 1)
    assert f.finish(b"k") == []  # a late or duplicate answer finds nobody


def test_busy_over_either_bound_and_the_waiter_is_not_taken() -> None:
    f = InFlight(max_inflight=3, max_waiters=2)
    assert [f.join(b"k", waiter(str(i))) for i in range(3)] == [FIRST, MERGED, BUSY]  # two on one question
    assert f.join(b"k2", waiter("x")) == FIRST
    assert f.join(b"k3", waiter("y")) == BUSY  # three waiting in all
    assert f.waiting == 3 and [w.to for w in f.finish(b"k")] == ["0", "1"]
    assert f.join(b"k3", waiter("y")) == FIRST


def test_a_prefetch_is_one_forward_that_clients_can_join() -> None:
    f = InFlight()
    assert f.prefetch(b"k") is True and f.prefetch(b"k") is False
    assert f.join(b"k", waiter("a")) == MERGED  # the refresh already asks: no second forward
    assert f.waiting == 1 and [w.to for w in f.finish(b"k")] == ["a"] and f.waiting == 0
    assert f.join(b"q", waiter("b")) == FIRST and f.prefetch(b"q") is False

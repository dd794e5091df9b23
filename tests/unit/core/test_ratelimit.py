"""dnsfilter.core.ratelimit.TokenBucket on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core.ratelimit import TokenBucket


def test_burst_then_refused():
    b = TokenBucket(rate=5.0, burst=10.0, now=100.0)
    assert [b.take(100.0) for _ in range(12)] == [True] * 10 + [False] * 2


def test_refill_at_rate():
    b = TokenBucket(rate=5.0, burst=10.0, now=0.0)
    for _ in range(10):
        assert b.take(0.0)
    assert not b.take(0.0)
    assert not b.take(0.1)  # 0.5 token
    assert b.take(0.2)  # 1.0 token at 0.2 s
    assert not b.take(0.2)
    # One second later: 5 tokens.
    assert [b.take(1.2) for _ in range(6)] == [True] * 5 + [False]


def test_refill_is_capped_at_burst():
    b = TokenBucket(rate=100.0, burst=3.0, now=0.0)
    for _ in range(3):
        b.take(0.0)
    assert [b.take(3600.0) for _ in range(4)] == [True, True, True, False]


def test_refused_queries_do_not_cost_tokens():
    b = TokenBucket(rate=1.0, burst=1.0, now=0.0)
    assert b.take(0.0)
    for i in range(1, 10):
        assert not b.take(i / 10)  # 0.1 .. 0.9 s: still below one token
    assert b.take(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(1.0, 2.0), (0.5, 2.0), (1000.0, 2000.0), (3.0, 4.0)])
def test_long_run_rate_matches(rate, burst):
    b = TokenBucket(rate, burst, 0.0)
    granted = 0
    t = 0.0
    step = 1.0 / (rate * 10)  # ask ten times faster than the rate
    while t < 100.0:
        granted += b.take(t)
        t += step
    assert abs(granted - (burst + rate * 100.0)) <= max(2.0, rate * 0.02 * 100)


@given(st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=1, max_size=200),
       st.floats(0.1, 100.0), st.floats(1.0, 50.0))
@settings(max_examples=300, deadline=None)
def test_never_more_than_burst_plus_refill(gaps, rate, burst):
    b = TokenBucket(rate, burst, 0.0)
    t = 0.0
    granted = 0
    for g in gaps:
        t += g
        granted += b.take(t)
        assert granted <= burst + rate * t + 1e-6
        assert 0.0 <= b.tokens <= burst

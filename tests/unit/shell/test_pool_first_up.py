"""The lane's first choice (UpstreamPool.first_up) is the pool's (`order(now)[0]`) whatever
the upstreams' health, exploration included, draw for draw; and none while one is down. No
packet is sent: the choice is made from the health records alone."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from dnsfilter.core.dns.upstream_spec import parse_upstream
from dnsfilter.shell.upstream.health import Health
from dnsfilter.shell.upstream.pool import UpstreamPool

SPECS = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
EWMAS = [None, 0.010, 0.020, 0.010]  # unmeasured, and ties broken by config order
OVERDUE = [0, 1]


def pool(n: int, explore: float) -> UpstreamPool:
    return UpstreamPool([parse_upstream(s) for s in SPECS[:n]], explore=explore, batch_io=False)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_first_up_is_orders_first_draw_for_draw(n: int) -> None:
    p = pool(n, explore=0.3)
    try:
        cases = 0
        for ewmas in itertools.product(EWMAS, repeat=n):
            for overdue in itertools.product(OVERDUE, repeat=n):
                for u, e, o in zip(p.upstreams, ewmas, overdue, strict=True):
                    u.health = Health(ewma=e, overdue=o)
                for seed in range(20):  # some explore (3 in 10), most do not
                    p.rng.seed(seed)
                    mine = p.first_up()
                    p.rng.seed(seed)
                    assert mine is p.order(0.0)[0], (ewmas, overdue, seed)
                    cases += 1
        assert cases == 20 * (len(EWMAS) * len(OVERDUE)) ** n
    finally:
        asyncio.run(p.close())


def test_none_while_an_upstream_is_down() -> None:
    p = pool(3, explore=0.0)
    try:
        assert p.first_up() is p.upstreams[0]
        p.upstreams[2].health.streak = 1  # down: its probe and back-off are the pool's
        assert p.first_up() is None
        p.upstreams[2].health.streak = 0
        p.upstreams[0].health.overdue = 1  # slow for the moment: the next one
        assert p.first_up() is p.upstreams[1]
    finally:
        asyncio.run(p.close())

"""The collector's schedule: full passes only at quiet moments (or when long overdue), and a
settle step that frees what a reload dropped even though start-up had frozen it."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from dnsfilter.shell import pauses
from dnsfilter.shell.pauses import CHECK, EVERY, LATEST, QUIET, Schedule


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


def test_a_full_pass_waits_for_a_quiet_check_once_due():
    s = Schedule(last_full=0.0, last_check=0.0)
    busy = int(QUIET * EVERY * 10)
    assert not s.due(CHECK, 0)  # quiet but not due yet
    assert not s.due(EVERY + CHECK, busy)  # due, but busy since the last check
    assert s.due(EVERY + 2 * CHECK, busy + 10)  # due and quiet
    assert not s.due(EVERY + 3 * CHECK, busy + 10)  # just ran


def test_a_busy_daemon_still_gets_a_full_pass_when_long_overdue():
    s = Schedule(last_full=0.0, last_check=0.0)
    count = 0
    ran = []
    for k in range(1, int(2 * LATEST / CHECK) + 1):
        count += int(QUIET * CHECK * 100)
        if s.due(k * CHECK, count):
            ran.append(k * CHECK)
    assert ran == [LATEST, 2 * LATEST]


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_settle_frees_a_cycle_that_start_up_froze_and_a_reload_dropped(restore_gc: None):
    policy = Node()
    gone = weakref.ref(policy)
    pauses.settle()  # start-up: `policy` is now in the frozen generation
    del policy  # a reload replaces it
    gc.collect()
    assert gone() is not None  # a plain collection never looks at frozen objects
    pauses.settle()
    assert gone() is None
    assert gc.get_threshold() == (pauses.YOUNG, pauses.MIDDLE, pauses.NEVER)
    assert sys.getswitchinterval() == pytest.approx(pauses.SWITCH_INTERVAL)


def test_full_collections_runs_a_full_pass_when_due(restore_gc: None):
    gc.set_threshold(pauses.YOUNG, pauses.MIDDLE, pauses.NEVER)
    passes: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            passes.append(info["generation"])

    ticks = iter(range(0, 10 * int(EVERY), int(EVERY)))  # each look at the clock: EVERY s later

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(
            pauses.full_collections(lambda: 0, clock=lambda: float(next(ticks)), check=0.01))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if 2 in passes:
                break
        task.cancel()

    gc.callbacks.append(seen)
    try:
        asyncio.run(main())
    finally:
        gc.callbacks.remove(seen)
    assert 2 in passes

"""NeighbourTable's bookkeeping without netlink (the kernel side is in
tests/integration/test_neighbours.py): which entries count, retention, miss rate limit."""

from __future__ import annotations

import pytest

from dnsfilter.shell.lan.neighbours import (
    AF_INET,
    AF_INET6,
    NUD_FAILED,
    NUD_INCOMPLETE,
    NUD_NOARP,
    NUD_PERMANENT,
    NUD_REACHABLE,
    NUD_STALE,
    NeighbourTable,
    usable_entry,
)

MAC = "02:00:5e:10:00:01"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingTable(NeighbourTable):
    """Counts refresh requests instead of waking a netlink thread that is not running."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.requests = 0

    def request_refresh(self) -> None:
        self.requests += 1


@pytest.mark.parametrize("state", [NUD_REACHABLE, NUD_STALE, NUD_PERMANENT])
def test_usable_states(state: int) -> None:
    assert usable_entry("RTM_NEWNEIGH", AF_INET, state, "10.0.0.2", MAC.upper()) == ("10.0.0.2", MAC)
    assert usable_entry("RTM_NEWNEIGH", AF_INET6, state, "fd00::2", MAC) == ("fd00::2", MAC)


@pytest.mark.parametrize("event, state, ip, mac", [
    ("RTM_NEWNEIGH", NUD_INCOMPLETE, "10.0.0.2", None),
    ("RTM_NEWNEIGH", NUD_FAILED, "10.0.0.2", MAC),
    ("RTM_NEWNEIGH", NUD_NOARP, "10.0.0.2", MAC),
    ("RTM_NEWNEIGH", NUD_REACHABLE, "10.0.0.2", "00:00:00:00:00:00"),
    ("RTM_NEWNEIGH", NUD_NOARP, "ff02::1", "33:33:00:00:00:01"),
    ("RTM_NEWNEIGH", NUD_REACHABLE, "224.0.0.1", "01:00:5e:00:00:01"),
    ("RTM_DELNEIGH", NUD_REACHABLE, "10.0.0.2", MAC),
])
def test_unusable_entries(event: str, state: int, ip: str, mac: str | None) -> None:
    assert usable_entry(event, AF_INET, state, ip, mac) is None


def test_dumps_keep_forgotten_entries_for_the_retention_time() -> None:
    clock = Clock()
    t = NeighbourTable(retention=600.0, clock=clock)
    t._replace({"10.0.0.2": MAC, "fd00::2": MAC})
    v = t.version
    assert t.mac_of("10.0.0.2") == MAC and v == 1
    t._replace({"10.0.0.2": MAC})  # same data: no new version
    assert t.version == v
    clock.now += 300
    t._replace({"10.0.0.2": MAC})  # fd00::2 gone from the kernel, but recently
    assert t.mac_of("fd00::2") == MAC and t.version == v
    clock.now += 301
    t._replace({"10.0.0.2": MAC})
    assert t.snapshot() == {"10.0.0.2": MAC} and t.version == v + 1


def test_events_change_the_version_only_on_change() -> None:
    t = NeighbourTable()
    t._set("10.0.0.2", MAC)
    t._set("10.0.0.2", MAC)
    assert t.version == 1
    t._set("10.0.0.2", "02:00:5e:10:00:02")  # the address moved to another device
    assert t.version == 2 and t.mac_of("10.0.0.2") == "02:00:5e:10:00:02"


def test_lookup_spellings() -> None:
    t = NeighbourTable()
    t._set("fe80::1", MAC)
    t._set("10.0.0.2", MAC)
    assert t.mac_of("fe80::1%eth0") == MAC  # scoped link-local, as recvfrom reports it
    assert t.mac_of("::ffff:10.0.0.2") == MAC  # IPv4 on a dual-stack socket


def test_misses_ask_for_a_dump_at_most_once_per_interval() -> None:
    clock = Clock()
    t = CountingTable(min_dump_interval=1.0, clock=clock)
    for _ in range(100):
        assert t.mac_of("10.0.0.9") is None
    assert t.requests == 1
    clock.now += 1.0
    t.mac_of("10.0.0.10")
    assert t.requests == 2
    clock.now += 5
    t.mac_of("127.0.0.1")
    t.mac_of("::1")
    assert t.requests == 2  # loopback never has a neighbour entry

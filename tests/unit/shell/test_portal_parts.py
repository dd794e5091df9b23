"""The portal's pure parts in the shell: the block page's addresses per interface, the weekly
schedule, what counts as the appliance's own host, and what a child typed into the ask form."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from dnsfilter.config import from_dict
from dnsfilter.config.portal import WeeklyTime
from dnsfilter.portal.view import is_own_host
from dnsfilter.shell.blockpage_addrs import plan
from dnsfilter.shell.lan.interfaces import IfAddr
from dnsfilter.shell.portal_views import host_of
from dnsfilter.shell.weekly import next_time

ADDRS = [IfAddr("lo", "127.0.0.1", True, 0, 8), IfAddr("br-lan", "192.168.1.1", False, 0, 24),
         IfAddr("br-lan", "fd00:1::1", False, 0, 64), IfAddr("br-lan", "fe80::1", False, 0, 64),
         IfAddr("guest", "192.168.2.1", False, 0, 24), IfAddr("wan", "203.0.113.7", False, 0, 24)]


def cfg(portal: list[str], block_page: bool = True):
    return from_dict({"portal": {"listen": portal}, "profiles": [{"name": "Kids", "block_page": block_page}]})


def test_lan_portal_pairs_with_the_dns_listeners_by_interface() -> None:
    bp = plan(cfg(["lan:80"]), ["192.168.1.1", "192.168.2.1", "127.0.0.1"], ADDRS)
    assert bp is not None and bp.profiles == {"Kids"} and not bp.fixed
    a1, aaaa1 = bp.records("192.168.1.1", "192.168.1.50")
    assert a1 is not None and a1.endswith(bytes([192, 168, 1, 1])) and aaaa1 is not None  # ULA, never fe80
    a2, aaaa2 = bp.records("192.168.2.1", "192.168.2.9")
    assert a2 is not None and a2.endswith(bytes([192, 168, 2, 1])) and aaaa2 is None
    # dnsmasq forwarding from 127.0.0.1: by the device's network
    assert bp.records("127.0.0.1", "192.168.2.9")[0].endswith(bytes([192, 168, 2, 1]))
    assert bp.records("127.0.0.1", None) is None  # two LANs and no clue: the usual block


def test_one_lan_is_one_fixed_answer() -> None:
    bp = plan(cfg(["lan:80"]), ["0.0.0.0"], [a for a in ADDRS if a.ifname != "guest"])
    assert bp is not None and bp.fixed
    assert bp.records("0.0.0.0", "10.0.0.1")[0].endswith(bytes([192, 168, 1, 1]))


def test_a_static_portal_address_without_netlink() -> None:
    bp = plan(cfg(["127.0.0.1:8081"]), ["127.0.0.1"], [])
    assert bp is not None and bp.records("127.0.0.1", "127.0.0.2")[0].endswith(bytes([127, 0, 0, 1]))


def test_no_block_page_profile_no_plan() -> None:
    assert plan(cfg(["lan:80"], block_page=False), ["192.168.1.1"], ADDRS) is None


def test_next_weekly_time() -> None:
    tz = "Asia/Almaty"
    z = zoneinfo.ZoneInfo(tz)
    sat = dt.datetime(2026, 12, 5, 12, 0, tzinfo=z).timestamp()
    at = next_time(WeeklyTime(6, 18, 0), sat, tz)
    assert dt.datetime.fromtimestamp(at, z).isoformat() == "2026-12-06T18:00:00+05:00"
    same = dt.datetime(2026, 12, 6, 18, 0, tzinfo=z).timestamp()
    assert next_time(WeeklyTime(6, 18, 0), same, tz) == same + 7 * 86400  # just sent: next week


def test_own_hosts() -> None:
    c = from_dict({"general": {"hostname": "filter.home"}})
    for h in ("filter.home", "192.168.1.1", "fd00::1", "openwrt.lan", "router", "x.home.arpa", "", "localhost"):
        assert is_own_host(h, c), h
    for h in ("casino.example", "www.youtube.com", "lan.example.com"):
        assert not is_own_host(h, c), h


def test_what_a_child_typed() -> None:
    assert host_of("https://www.Example.org/path?q=1") == "www.example.org"
    assert host_of("  tiktok.com ") == "tiktok.com"
    assert host_of("пример.рф") == "xn--e1afmkfd.xn--p1ai"
    for bad in ("", "hello", "http://", "a b.com", "javascript:alert(1)", "x" * 3000):
        assert host_of(bad) is None, bad

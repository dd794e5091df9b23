"""dnsfilter.core.stages.identify: access control, device → profile, rate-limit buckets."""

from __future__ import annotations

import ipaddress

import pytest

from dnsfilter.core.stages.identify import DeviceRule, Identify

ALLOWED = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "192.168.0.0/16", "fc00::/7", "fe80::/10"]


def rule(net: str, profile: str) -> DeviceRule:
    return DeviceRule(ipaddress.ip_network(net, strict=False), profile)


def make(devices=(), exempt=("127.0.0.0/8", "::1/128"), rate=10.0, burst=20.0, allowed=ALLOWED, **kw) -> Identify:
    return Identify(allowed, exempt, list(devices), "Adults", rate, burst, **kw)


@pytest.mark.parametrize(("ip", "allowed"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.1.20", True), ("::1", True), ("fd12:3456::1", True),
    ("fe80::1", True), ("fe80::1%eth0", True), ("fe80::1%3", True),
    ("::ffff:192.168.1.20", True), ("::ffff:10.0.0.1", True), ("::ffff:8.8.8.8", False),
    ("8.8.8.8", False), ("172.16.0.1", False), ("2001:db8::1", False), ("11.0.0.1", False),
    ("not an ip", False), ("", False), ("192.168.1.300", False), ("%eth0", False),
])
def test_allowed_clients(ip, allowed):
    ident = make()
    state = ident.client(ip, 0.0)
    assert (state is not None) == allowed
    if state is not None:
        assert state.ip == ip and state.profile == "Adults"
    assert (ident.client(ip, 1.0) is not None) == allowed  # remembered the same way


def test_most_specific_device_rule_wins_whatever_the_order():
    rules = [rule("192.168.1.0/24", "Family"), rule("192.168.1.23/32", "Kids"), rule("192.168.0.0/16", "Guests"),
             rule("fd00::/8", "V6"), rule("fd00::23/128", "Kids6")]
    for order in (rules, rules[::-1], rules[2:] + rules[:2]):
        ident = make(order)
        assert ident.client("192.168.1.23", 0).profile == "Kids"
        assert ident.client("192.168.1.24", 0).profile == "Family"
        assert ident.client("192.168.7.1", 0).profile == "Guests"
        assert ident.client("10.0.0.1", 0).profile == "Adults"  # the default profile
        assert ident.client("fd00::23", 0).profile == "Kids6"
        assert ident.client("fd00::24", 0).profile == "V6"
        assert ident.client("::ffff:192.168.1.23", 0).profile == "Kids"  # IPv4-mapped
        assert ident.client("fe80::1%wlan0", 0).profile == "Adults"


def test_zone_id_does_not_stop_a_device_rule():
    ident = make([rule("fe80::1234/128", "Kids")])
    assert ident.client("fe80::1234%br-lan", 0).profile == "Kids"


def test_refused_client_gets_none_and_stays_refused():
    ident = make(allowed=["192.168.0.0/16"])
    assert ident.client("10.0.0.1", 0) is None
    assert ident.client("10.0.0.1", 5) is None
    assert ident.client("192.168.9.9", 5) is not None


def test_rate_limit_exempt_networks_have_no_bucket():
    ident = make(exempt=["127.0.0.0/8", "::1/128", "192.168.1.1/32"])
    assert ident.client("127.0.0.1", 0).bucket is None
    assert ident.client("::1", 0).bucket is None
    assert ident.client("::ffff:127.0.0.1", 0).bucket is None
    assert ident.client("192.168.1.1", 0).bucket is None
    assert ident.client("192.168.1.2", 0).bucket is not None


def test_rate_zero_turns_limiting_off():
    assert make(rate=0).client("192.168.1.2", 0).bucket is None


def test_bucket_is_per_client_and_kept():
    ident = make(rate=1.0, burst=3.0)
    a = ident.client("192.168.1.2", 0.0)
    b = ident.client("192.168.1.3", 0.0)
    assert a.bucket is not b.bucket
    assert [a.bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert ident.client("192.168.1.2", 0.0).bucket is a.bucket  # not reset by asking again
    assert not ident.client("192.168.1.2", 0.0).bucket.take(0.0)
    assert b.bucket.take(0.0)


def test_known_clients_are_bounded():
    ident = make(max_clients=50)
    for i in range(500):
        ident.client(f"10.0.{i // 256}.{i % 256}", 0.0)
        assert len(ident._known) <= 50


def test_ipv4_mapped_networks_in_the_config_match():
    ident = Identify(["::ffff:192.168.1.0/120"], [], [rule("::ffff:192.168.1.23/128", "Kids")], "Adults", 0, 1)
    state = ident.client("192.168.1.23", 0.0)
    assert state is not None and state.profile == "Kids"

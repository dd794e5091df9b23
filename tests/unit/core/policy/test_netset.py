"""Response-IP networks (core/policy/netset.py): lookups agree with the ipaddress module on
random networks and addresses, merged ranges keep their meaning, and the section survives the
compiled-file round trip (feedset.py, flag F_NETS) with its digest checked."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core.policy.feedset import B_SUB, FeedSet, FeedSetError, build, text_key
from dnsfilter.core.policy.netset import NetSet, image, merge, network_range


def netset(*nets: str) -> NetSet:
    v4, v6 = [], []
    for n in nets:
        version, r = network_range(n)
        (v4 if version == 4 else v6).append(r)
    ns, _size = NetSet.from_view(memoryview(image(v4, v6)))
    return ns


def packed(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


def test_addresses_in_and_next_to_listed_networks() -> None:
    ns = netset("203.0.113.7", "198.18.0.0/24", "2001:db8:bad::7", "2001:db8:dead::/48", "10.0.0.5/8")
    inside = ["203.0.113.7", "198.18.0.0", "198.18.0.255", "2001:db8:bad::7", "2001:db8:dead::",
              "2001:db8:dead:ffff:ffff:ffff:ffff:ffff", "10.255.255.255", "10.0.0.0"]
    outside = ["203.0.113.6", "203.0.113.8", "198.17.255.255", "198.18.1.0", "2001:db8:bad::6", "2001:db8:bad::8",
               "2001:db8:deac:ffff::1", "2001:db8:deae::", "11.0.0.0", "9.255.255.255", "0.0.0.0", "::"]
    assert all(ns.has(packed(a)) for a in inside)
    assert not any(ns.has(packed(a)) for a in outside)
    assert not ns.has(b"\x01\x02\x03")  # neither an A nor an AAAA record's data


def test_overlapping_and_adjacent_networks_are_merged() -> None:
    assert merge([(10, 20), (15, 30), (31, 40), (50, 60), (1, 2)]) == [(1, 2), (10, 40), (50, 60)]
    assert len(netset("192.0.2.0/25", "192.0.2.128/25", "192.0.2.7")) == 1


def test_an_empty_section_matches_nothing() -> None:
    ns = netset()
    assert len(ns) == 0 and not ns.has(packed("192.0.2.1")) and not ns.has(packed("2001:db8::1"))


v4net = st.builds(lambda a, p: f"{ipaddress.IPv4Address(a)}/{p}", st.integers(0, 2**32 - 1), st.integers(8, 32))
# IPv6 networks clustered in a few /64s, so that several ranges share a high half (the second bisect)
v6net = st.builds(lambda hi, lo, p: f"{ipaddress.IPv6Address(hi << 64 | lo)}/{p}",
                  st.sampled_from([0x20010DB8_00000000, 0x20010DB8_00000001, 0x20010DB8_FFFF0000]),
                  st.integers(0, 2**64 - 1), st.integers(40, 128))


@settings(max_examples=200, deadline=None)
@given(nets=st.lists(st.one_of(v4net, v6net), max_size=30),
       probes=st.lists(st.one_of(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
                                 st.builds(lambda hi, lo: ipaddress.IPv6Address(hi << 64 | lo),
                                           st.sampled_from([0x20010DB8_00000000, 0x20010DB8_00000001,
                                                            0x20010DB8_FFFF0000, 0x20010DB8_00000002]),
                                           st.integers(0, 2**64 - 1))), max_size=40))
def test_lookups_agree_with_ipaddress(nets: list[str], probes: list[ipaddress._BaseAddress]) -> None:
    ns = netset(*nets)
    oracle = [ipaddress.ip_network(n, strict=False) for n in nets]
    # also probe the edges of every listed network
    edges = [a for n in oracle for a in (n.network_address, n.broadcast_address)]
    for a in [*probes, *edges]:
        want = any(a.version == n.version and a in n for n in oracle)
        assert ns.has(a.packed) == want, (str(a), nets)


def test_the_section_round_trips_through_a_compiled_feed_and_is_covered_by_its_digest() -> None:
    v4 = [network_range("203.0.113.0/24")[1]]
    v6 = [network_range("2001:db8::/32")[1]]
    img = b"".join(build([(text_key(b"listed.test"), B_SUB)], nets=image(v4, v6)))
    fs = FeedSet.from_buffer(img)
    assert fs.nets is not None and fs.nets.has(packed("203.0.113.9")) and fs.nets.has(packed("2001:db8::1"))
    assert len(fs) == 1 and fs.plain  # the names are looked up as before
    tampered = bytearray(img)
    tampered[-1] ^= 1  # the last byte of the networks section
    with pytest.raises(FeedSetError, match="checksum"):
        FeedSet.from_buffer(bytes(tampered))
    with pytest.raises(FeedSetError):
        FeedSet.from_buffer(img[:-8])  # truncated
    plain = FeedSet.from_buffer(b"".join(build([(text_key(b"listed.test"), B_SUB)])))
    assert plain.nets is None

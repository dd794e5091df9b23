from __future__ import annotations

import dataclasses

import pytest

from dnsfilter.core.dns.upstream_spec import UpstreamSpec, parse_upstream


@pytest.mark.parametrize(("text", "kind", "host", "port", "tls_name", "path"), [
    ("9.9.9.9", "dns", "9.9.9.9", 53, None, ""),
    ("9.9.9.9:53", "dns", "9.9.9.9", 53, None, ""),
    ("127.0.0.1:5300", "dns", "127.0.0.1", 5300, None, ""),
    ("[2620:fe::fe]:53", "dns", "2620:fe::fe", 53, None, ""),
    ("[2620:fe::fe]:5353", "dns", "2620:fe::fe", 5353, None, ""),
    ("[2620:fe::fe]", "dns", "2620:fe::fe", 53, None, ""),
    ("2620:fe::fe", "dns", "2620:fe::fe", 53, None, ""),
    ("2620:00fe:0000::00fe", "dns", "2620:fe::fe", 53, None, ""),  # normalised
    ("::1", "dns", "::1", 53, None, ""),
    (" 1.1.1.1 ", "dns", "1.1.1.1", 53, None, ""),
    ("udp://8.8.8.8:5353", "dns", "8.8.8.8", 5353, None, ""),
    ("tls://1.1.1.1", "tls", "1.1.1.1", 853, None, ""),
    ("tls://1.1.1.1:853", "tls", "1.1.1.1", 853, None, ""),
    ("tls://1.1.1.1#cloudflare-dns.com", "tls", "1.1.1.1", 853, "cloudflare-dns.com", ""),
    ("tls://1.1.1.1:8853#Cloudflare-DNS.com.", "tls", "1.1.1.1", 8853, "cloudflare-dns.com", ""),
    ("TLS://[2606:4700::1111]:853#one.one.one.one", "tls", "2606:4700::1111", 853, "one.one.one.one", ""),
    ("tls://dns.quad9.net", "tls", "dns.quad9.net", 853, "dns.quad9.net", ""),
    ("https://dns.quad9.net/dns-query", "https", "dns.quad9.net", 443, "dns.quad9.net", "/dns-query"),
    ("https://1.1.1.1:8443/dns-query", "https", "1.1.1.1", 8443, None, "/dns-query"),
    ("https://dns.google", "https", "dns.google", 443, "dns.google", "/dns-query"),
    ("https://dns.google/", "https", "dns.google", 443, "dns.google", "/dns-query"),
    ("https://doh.example/custom/path", "https", "doh.example", 443, "doh.example", "/custom/path"),
    ("https://doh.example/dns-query{?dns}", "https", "doh.example", 443, "doh.example", "/dns-query"),
    ("https://9.9.9.9/dns-query#dns.quad9.net", "https", "9.9.9.9", 443, "dns.quad9.net", "/dns-query"),
    ("https://[2620:fe::fe]/dns-query", "https", "2620:fe::fe", 443, None, "/dns-query"),
])
def test_good_forms(text: str, kind: str, host: str, port: int, tls_name: str | None, path: str) -> None:
    s = parse_upstream(text)
    assert (s.kind, s.host, s.port, s.tls_name, s.path) == (kind, host, port, tls_name, path)
    assert s.text == text


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"),
    ("   ", "empty"),
    ("dns.google", "IP address"),
    ("dns.google:53", "IP address"),
    ("udp://dns.google", "IP address"),
    ("9.9.9.9:0", "port"),
    ("9.9.9.9:65536", "port"),
    ("9.9.9.9:dns", "port"),
    ("9.9.9.9:", "port"),
    ("[2620:fe::fe]53", "after ']'"),
    ("[2620:fe::fe", "missing ']'"),
    ("[9.9.9.9]:53", "IPv6"),
    ("2620:fe::fe:53x", "brackets"),
    ("1.2.3", "neither"),
    ("999.1.1.1", "neither"),
    ("9.9.9.9/dns-query", "IP[:PORT] only"),
    ("quic://dns.adguard.com", "unsupported scheme"),
    ("http://dns.google/dns-query", "unsupported scheme"),
    ("tls://", "missing host"),
    ("tls://1.1.1.1/dns-query", "no path"),
    ("tls://1.1.1.1#", "TLS host name"),
    ("tls://1.1.1.1#bad name", "whitespace"),
    ("tls://1.1.1.1#-bad-.example", "TLS host name"),
    ("tls://exa mple.com", "whitespace"),
    ("tls://under_score!.example", "neither"),
    ("https://:443/dns-query", "missing host"),
    ("https://user@dns.google/dns-query", "user names"),
    ("https://dns.google:99999/dns-query", "port"),
])
def test_bad_forms_say_why(text: str, says: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_upstream(text)
    msg = str(e.value)
    assert says in msg
    assert "\n" not in msg


def test_bare_ipv6_is_an_address_not_a_port() -> None:
    # '2620:fe::fe:53' is a valid IPv6 address: a port needs brackets.
    s = parse_upstream("2620:fe::fe:53")
    assert (s.host, s.port) == ("2620:fe::fe:53", 53)


def test_not_a_string() -> None:
    with pytest.raises(ValueError, match="string"):
        parse_upstream(53)  # type: ignore[arg-type]


def test_spec_is_frozen_hashable_and_compares_by_value() -> None:
    a, b = parse_upstream("tls://1.1.1.1#one.one.one.one"), parse_upstream("tls://1.1.1.1#one.one.one.one")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.port = 1  # type: ignore[misc]
    assert isinstance(a, UpstreamSpec)


def test_server_name_is_what_tls_verifies() -> None:
    assert parse_upstream("tls://1.1.1.1").server_name == "1.1.1.1"
    assert parse_upstream("tls://1.1.1.1#cloudflare-dns.com").server_name == "cloudflare-dns.com"
    assert parse_upstream("https://dns.quad9.net/dns-query").server_name == "dns.quad9.net"
    assert parse_upstream("9.9.9.9").is_ip
    assert not parse_upstream("tls://dns.quad9.net").is_ip

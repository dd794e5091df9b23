"""hosts and domains parsers: normalisation, validation, counting, detection."""

from __future__ import annotations

import pytest

from feeds.parsers import PARSERS, ParseResult, detect_format, normalise_name, parse_lines, stream_names

HOSTS = """\
# Title: test hosts
127.0.0.1 localhost
127.0.0.1 localhost.localdomain
127.0.0.1 local
255.255.255.255 broadcasthost
::1 localhost ip6-localhost ip6-loopback
fe80::1%lo0 localhost
ff02::2 ip6-allrouters
0.0.0.0 0.0.0.0

0.0.0.0 ads.example.com # inline comment
0.0.0.0 Tracker.Example.NET.   #[WebBug]
127.0.0.1\tone.test two.test\tthree.test
:: six.example.org
::1 v6.example.org
192.0.2.1 redirect.example
0.0.0.0 bad!char.example.com good.example.com
#0.0.0.0 commented.example.com
   # indented comment
"""


def test_hosts_format() -> None:
    r = parse_lines(HOSTS.splitlines(), "hosts")
    assert r.names == [
        "ads.example.com", "tracker.example.net", "one.test", "two.test", "three.test",
        "six.example.org", "v6.example.org", "redirect.example", "good.example.com",
    ]
    assert r.invalid == 1 and r.first_invalid_lines == [17]
    # 4 comment/blank lines + 10 preamble entries (localhost* ×4, local, broadcasthost, ip6-* ×3, 0.0.0.0)
    assert r.skipped == 4 + 10 and r.lines == 19


def test_hosts_lines_without_an_ip_or_a_name_are_invalid() -> None:
    r = parse_lines(["example.com", "0.0.0.0", "notanip example.com", "0.0.0.0 ok.example"], "hosts")
    assert r.names == ["ok.example"]
    assert (r.invalid, r.first_invalid_lines) == (3, [1, 2, 3])


def test_domains_format() -> None:
    lines = [
        "# comment", "! adblock-style comment", "", "   ",
        "Example.COM", "*.wild.example.org", ".dot.example.net", "trailing.example.",
        "www.example.com  # inline", "under_score.example", "xn--e1afmkfd.xn--p1ai",
        "two words.example", "*.", "-",
    ]
    r = parse_lines(lines, "domains")
    assert r.names == ["example.com", "wild.example.org", "dot.example.net", "trailing.example",
                       "www.example.com", "under_score.example", "xn--e1afmkfd.xn--p1ai"]
    assert r.skipped == 4
    assert r.invalid == 3 and r.first_invalid_lines == [12, 13, 14]


def test_idn_to_punycode() -> None:
    assert normalise_name("пример.рф") == "xn--e1afmkfd.xn--p1ai"
    assert normalise_name("ПРИМЕР.РФ.") == "xn--e1afmkfd.xn--p1ai"
    assert normalise_name("_dmarc.bücher.de") == "_dmarc.xn--bcher-kva.de"
    assert parse_lines(["0.0.0.0 пример.рф"], "hosts").names == ["xn--e1afmkfd.xn--p1ai"]
    assert parse_lines(["*.пример.рф"], "domains").names == ["xn--e1afmkfd.xn--p1ai"]


@pytest.mark.parametrize(
    "bad",
    [
        "a" * 64 + ".com",  # label > 63
        ".".join(["a" * 63] * 4) + ".com",  # name > 253
        "a..b.com",  # empty label
        "bad!char.com",
        "sp ace.com",
        "com",  # single label
        "localhost",
        "192.168.1.1",  # bare IPv4
        "10.1",
        "2001:db8::1",  # bare IPv6
        "::1",
        "",
        "例え.テスト\u200d",  # ZWJ: not allowed by IDNA
        "a.b.c.12345",  # no TLD is all digits
    ],
)
def test_invalid_names(bad: str) -> None:
    assert normalise_name(bad) is None


def test_valid_edge_names() -> None:
    assert normalise_name("a" * 63 + ".com") == "a" * 63 + ".com"
    longest = ".".join(["a" * 63] * 3 + ["a" * 61])  # 253 octets
    assert len(longest) == 253 and normalise_name(longest) == longest
    assert normalise_name("1.2.3.example") == "1.2.3.example"
    assert normalise_name("123.com") == "123.com"
    assert normalise_name("x-y.example") == "x-y.example"


def test_invalid_lines_counted_with_first_ten_line_numbers() -> None:
    lines = ["ok.example"] + ["1.2.3.4"] * 12 + ["a" * 64 + ".com", "a..b", "bad!char.com"]
    r = parse_lines(lines, "domains")
    assert r.names == ["ok.example"]
    assert r.invalid == 15
    assert r.first_invalid_lines == list(range(2, 12))


def test_hosts_line_numbers_not_repeated_for_several_bad_names() -> None:
    r = parse_lines(["0.0.0.0 a..b c..d", "0.0.0.0 e..f"], "hosts")
    assert r.invalid == 3 and r.first_invalid_lines == [1, 2]


def test_streaming_reads_lazily() -> None:
    consumed: list[int] = []

    def lines():
        for i in range(1, 1_000_000):
            consumed.append(i)
            yield f"n{i}.example"

    result = ParseResult()
    it = stream_names(lines(), "domains", result)
    assert [next(it) for _ in range(3)] == ["n1.example", "n2.example", "n3.example"]
    assert len(consumed) == 3 and result.names == [] and result.lines == 3


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown list format 'nope'"):
        parse_lines([], "nope")
    assert {"hosts", "domains"} <= set(PARSERS)


def test_detect_format() -> None:
    assert detect_format(HOSTS.splitlines()) == "hosts"
    assert detect_format(["# x", "! y", "a.example", "*.b.example", "1.2.3.4", "c.example"]) == "domains"
    with pytest.raises(ValueError, match="cannot detect"):
        detect_format(["||ads.example^", "||b.example^", "c.example"])
    with pytest.raises(ValueError, match="cannot detect"):
        detect_format(["# only comments", ""])


def test_domains_lines_with_a_last_label_over_63_octets_are_invalid() -> None:
    """The fuzzer's find (tests/fuzz/regressions/hosts/last-label-of-64-octets): the fast path of
    the domains parser let a 64-octet last label through, a name no DNS message can carry."""
    result = ParseResult()
    names = list(stream_names(["4.0.0." + "s" * 63 + "t\n", "ok." + "s" * 63 + "\n"], "domains", result))
    assert names == ["ok." + "s" * 63] and result.invalid == 1

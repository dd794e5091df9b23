"""Rules that hold no name of their own or depend on the query alone: accept-all patterns
(`*$denyallow=…`, `*$client=…`, `$dnstype=AAAA`), feeds made only of conditional rules, and
answers that depend on the client's address (never shared by a whole profile)."""

from __future__ import annotations

from pathlib import Path

from dnsfilter.core.dns.wire import text_to_wire
from dnsfilter.core.policy.decide import FeedInfo, Policy, ProfileRules, RuleSet
from dnsfilter.core.policy.feedset import EVERY, FeedSet
from dnsfilter.core.policy.matcher import ClientKeys, Keys, Matcher
from feeds.compile_rules import compile_feed, load_feed

AAAA, A, TXT = 28, 1, 16


def compiled(tmp_path: Path, text: str, name: str = "f") -> FeedSet:
    src = tmp_path / f"{name}.txt"
    src.write_text("[Adblock Plus 2.0]\n" + text + "\n")
    compile_feed(src, "adblock", tmp_path / f"{name}.dset")
    return load_feed(tmp_path / f"{name}.dset")


def hit(m: Matcher, name: str, qtype: int = A, client: str | None = "127.0.0.1"):
    h = m.block(Keys(text_to_wire(name)), None, qtype, client)
    return None if h is None else (h[0], h[1].depth)


def test_feeds_of_conditional_rules_only_are_consulted(tmp_path: Path) -> None:
    # Each compiles to no key at all: the matcher used to leave such a feed out (Matcher._pick).
    for text, qtype, client in [("||example.org^$client=127.0.0.1", A, "127.0.0.1"),
                                ("||example.org^$client=127.0.0.0/8", A, "127.9.9.9"),
                                ("||example.org^$client=::1", A, "::1"),
                                ("||example.org^$client=2001:db8::/120", A, "2001:db8::7"),
                                ("||example.org^$dnstype=TXT|AAAA", TXT, None),
                                ("$dnstype=AAAA", AAAA, None)]:
        fs = compiled(tmp_path, text)
        assert len(fs) == 0 and not fs.empty, text
        m = Matcher({"f": fs})
        assert hit(m, "www.example.org", qtype, client) is not None, text
        assert hit(m, "www.example.org", A if qtype != A else TXT, "10.1.1.1") is None, text


def test_accept_all_rules_are_the_least_specific(tmp_path: Path) -> None:
    m = Matcher({"all": compiled(tmp_path, "*$denyallow=example.org|com", "all"),
                 "ads": compiled(tmp_path, "||ads.example.net^", "ads")})
    assert hit(m, "x.ads.example.net") == ("ads", 1)  # a listed parent is more specific than `*`
    assert hit(m, "example.net") == ("all", EVERY)
    assert hit(m, "www.example.org") is None and hit(m, "shop.com") is None
    keys = Keys(text_to_wire("example.net"))
    assert keys.suffix(EVERY) == "*"  # what `check` names as the rule


def test_denyallow_never_splits_a_label_at_an_escaped_dot(tmp_path: Path) -> None:
    # Alone (matched on the wire form) and next to a listed name (matched on the escaped text).
    for text in ("*$denyallow=example.org", "*$denyallow=example.org\n||listed.test^"):
        m = Matcher({"f": compiled(tmp_path, text)})
        assert m.sets["f"].only_any == ("listed" not in text)
        odd = b"\x08ads.evil\x07example\x03org\x00"  # one label "ads.evil", then example.org
        assert m.block(Keys(odd), None, A, "127.0.0.1") is None, text  # below example.org: left alone
        odd = b"\x0bads.example\x03org\x00"  # one label "ads.example" under org: not below example.org
        assert m.block(Keys(odd), None, A, "127.0.0.1") is not None, text


def test_a_feed_with_no_key_hashes_no_suffix(tmp_path: Path) -> None:
    fs = compiled(tmp_path, "*$denyallow=example.org")
    assert Keys(text_to_wire("a.b.c.example.net")).for_set(fs) == []
    fs = compiled(tmp_path, "||example.org^$client=127.0.0.1")
    assert len(Keys(text_to_wire("a.b.c.example.net")).for_set(fs)) > 0  # its rule sits on a key


def test_a_client_rule_consulted_marks_the_answer_per_client_even_when_it_allows(tmp_path: Path) -> None:
    m = Matcher({"f": compiled(tmp_path, "*$client=127.0.0.3\n||plain.test^", "f")})
    assert m.client_rules
    keys = ClientKeys(text_to_wire("example.org"))
    assert m.block(keys, None, A, "127.0.0.1") is None and keys.per_client
    policy = Policy(m, [FeedInfo("f", "ads")], [ProfileRules("P", ("f",), RuleSet(), RuleSet())])
    allowed = policy.decide("P", text_to_wire("example.org"), client="127.0.0.1")
    blocked = policy.decide("P", text_to_wire("example.org"), client="127.0.0.3")
    assert not allowed.blocked and allowed.per_client  # else the fast path would hand it to 127.0.0.3
    assert blocked.blocked and blocked.per_client
    # Without any $client rule nothing is per client, and the keys stay unmarked.
    plain = Matcher({"g": compiled(tmp_path, "*$denyallow=com\n$dnstype=AAAA", "g")})
    assert not plain.client_rules
    keys = ClientKeys(text_to_wire("example.org"))
    assert plain.block(keys, None, AAAA, "127.0.0.1") is not None and not keys.per_client
    policy = Policy(plain, [FeedInfo("g", "ads")], [ProfileRules("P", ("g",), RuleSet(), RuleSet())])
    assert not policy.decide("P", text_to_wire("shop.com"), client="127.0.0.1").per_client


def test_a_regex_client_rule_that_does_not_apply_still_marks_per_client(tmp_path: Path) -> None:
    m = Matcher({"f": compiled(tmp_path, "/^ads[0-9]\\./$client=127.0.0.3")})
    keys = ClientKeys(text_to_wire("ads1.example.org"))
    assert m.block(keys, None, A, "127.0.0.1") is None and keys.per_client
    keys = ClientKeys(text_to_wire("www.example.org"))  # the regex does not match: nothing was asked
    assert m.block(keys, None, A, "127.0.0.1") is None and not keys.per_client


def test_allowlist_feeds_ignore_an_undecided_client_rule(tmp_path: Path) -> None:
    ok = compiled(tmp_path, "||example.org^$client=127.0.0.3", "ok")
    m = Matcher({"ok": ok})
    keys = ClientKeys(text_to_wire("example.org"))
    assert m.allows(keys, ("ok",), A, "127.0.0.1") is None and keys.per_client
    v = m.allows(Keys(text_to_wire("example.org")), ("ok",), A, "127.0.0.3")
    assert v is None  # an adblock feed's rule here blocks; allowlist feeds compile with allow=True
    src = tmp_path / "allow.txt"
    src.write_text("||example.org^$client=127.0.0.3\n")
    compile_feed(src, "adblock", tmp_path / "allow.dset", allow=True)
    m = Matcher({"ok": load_feed(tmp_path / "allow.dset")})
    v = m.allows(Keys(text_to_wire("example.org")), ("ok",), A, "127.0.0.3")
    assert v is not None and not v.blocked and v.per_client

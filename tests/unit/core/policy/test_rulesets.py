"""The small rule sets' wire-form shortcuts: a wildcard rule's literal suffix or run, and
AnyRule (one walk for every set a profile consults), never turn away a name a rule covers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core.dns.wire import text_to_wire
from dnsfilter.core.policy.matcher import Keys
from dnsfilter.core.policy.rulesets import AnyRule, RuleSet, _pattern

LABELS = ["a", "ab", "cdn", "cdn-1", "x-cdn", "akamaized", "net", "com", "kz", "example", "tiktok-eu"]
label = st.sampled_from(LABELS)
wild_label = st.sampled_from(["*", "cdn*", "*-cdn", "tiktok-*", "a*b"])
rule = st.lists(st.one_of(label, wild_label), min_size=1, max_size=6).map(".".join)
name = st.lists(label, min_size=1, max_size=5).map(".".join)


@settings(max_examples=500, deadline=None)
@given(rules=st.lists(rule, min_size=1, max_size=6), others=st.lists(rule, max_size=3), names=st.lists(name, max_size=20))
def test_no_name_a_rule_covers_is_turned_away(rules: list[str], others: list[str], names: list[str]) -> None:
    sets = [RuleSet(rules), RuleSet(others)]
    anyrule = AnyRule(sets)
    for n in names + [r.replace("*", "zz") for r in rules]:
        wire = text_to_wire(n)
        covered = [r for r in rules + others if covers(r, n)]
        assert (sets[0].match(wire) is not None or sets[1].match(wire) is not None) == bool(covered), (n, covered)
        if covered:
            assert anyrule(wire), (n, covered)
        # with the label offsets a caller walked already (Keys.starts): the same answer
        assert anyrule(wire, Keys(wire).starts) == anyrule(wire), n


def covers(rule: str, name: str) -> bool:
    """The reference: a rule covers a name and every name below it; `*` as in _pattern."""
    if rule.startswith("*.") and "*" not in rule[2:]:
        rule = rule[2:]
    if "*" not in rule:
        return name == rule or name.endswith("." + rule)
    return _pattern(rule).search(name) is not None


def test_wildcards_still_match_through_their_shortcuts() -> None:
    s = RuleSet({"tiktokcdn-*.com": "tiktok", "tiktok-*.akamaized.net": "tiktok", "cdn*-epic-*.file.q.com": "epic",
                 "dualstack.apiproxy-*.*.amazonaws.com": "netflix"})
    for n, want in (("tiktokcdn-eu.com", "tiktok"), ("x.tiktok-1.akamaized.net", "tiktok"),
                    ("cdn7-epic-eu.file.q.com", "epic"), ("dualstack.apiproxy-a.b.amazonaws.com", "netflix"),
                    ("tiktokcdn.com", None), ("tiktok-1.akamaized.org", None), ("www.example.com", None)):
        hit = s.match(text_to_wire(n))
        assert (hit[1] if hit else None) == want, n
    anyrule = AnyRule([s])
    assert not anyrule(text_to_wire("www.example.com")) and not anyrule(text_to_wire("cdn.example.kz"))
    assert anyrule(text_to_wire("tiktokcdn-eu.com"))


def test_any_rule_checks_every_depth_behind_its_two_label_lookup() -> None:
    # A one-label rule (a TLD), a two-label one, a deep one: each covers its subtree, and a
    # name sharing only the last two labels of the deep rule is turned away.
    anyrule = AnyRule([RuleSet(["onion", "tiktok.com"]), RuleSet(["a.b.c.example.kz"])])
    for n, want in (("onion", True), ("x.y.onion", True), ("tiktok.com", True), ("v.tiktok.com", True),
                    ("a.b.c.example.kz", True), ("z.a.b.c.example.kz", True), ("b.c.example.kz", False),
                    ("example.kz", False), ("kz", False), ("com", False), ("nottiktok.com", False),
                    ("tiktok.com.kz", False)):
        w = text_to_wire(n)
        assert anyrule(w) is want and anyrule(w, Keys(w).starts) is want, n
    assert not anyrule(b"\x00") and not AnyRule([])(text_to_wire("tiktok.com"))

"""dnsfilter.core.policy.decide: the precedence table, on real compiled feed sets.

Precedence, highest first: authority lists; the profile's allow/deny (most specific wins, allow
on a tie); [protection].always_allow; blocked categories (un-blocked by allowlist feeds)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dnsfilter.assemble import build_policy
from dnsfilter.config import from_dict
from dnsfilter.core.dns import wire
from dnsfilter.core.model import Ede
from dnsfilter.core.policy.decide import FeedInfo, Policy, ProfileRules, RuleSet
from dnsfilter.core.policy.feedset import A_SUB, B_SUB, FeedSet, build, sha_hash, text_key
from dnsfilter.core.policy.matcher import Matcher
from feeds.compile_rules import compile_feed, load_feed


def compiled(*names: str, allow: bool = False) -> FeedSet:
    bits = A_SUB if allow else B_SUB
    return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), bits) for n in names)))


def compiled_sha(*names: str) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build(((sha_hash(n.encode()), B_SUB) for n in names), hashed=True)))


MATCHER = Matcher({
    "gov": compiled("banned.test", "allowed-but-censored.test", "censored-helpline.test", "listed-everywhere.test"),
    "ads": compiled("ads.test", "tracker.test", "helpline.test", "allowed.test", "denied-helpline.test",
                    "listed-everywhere.test", "x.deep.test"),
    "adult": compiled("adult.test", "khan.adult.test", "deep.test"),
    "secret": compiled_sha("secret.test"),
    "okfeed": compiled("good.ads.test", "banned.test", "own-deny.test", allow=True),
})
FEEDS = [FeedInfo("gov", "authority"), FeedInfo("ads", "ads"), FeedInfo("adult", "adult"),
         FeedInfo("secret", "malware", hashed=True), FeedInfo("okfeed", "ads", kind="allow")]
KIDS = ProfileRules("Kids", ("ads", "adult", "secret"),
                    RuleSet(["allowed-but-censored.test", "allowed.test", "ok.deny.test", "tie.test",
                             "khan.adult.test"]),
                    RuleSet(["deny.test", "bad.allowed.test", "tie.test", "denied-helpline.test", "own-deny.test",
                             "plain-deny.test"]))
ADULTS = ProfileRules("Adults", ("ads", "secret"), RuleSet(), RuleSet())
POLICY = Policy(MATCHER, FEEDS, [KIDS, ADULTS],
                always_allow=["helpline.test", "denied-helpline.test", "censored-helpline.test", "adult.test.helpline"])


def decide(name: str, profile: str = "Kids", explain: bool = False):
    return POLICY.decide(profile, wire.text_to_wire(name), explain=explain)


# (name, blocked, ede, category or None, why)
TABLE = [
    # 1. authority beats everything
    ("banned.test", True, Ede.CENSORED, "authority", "authority list"),
    ("www.banned.test", True, Ede.CENSORED, "authority", "authority covers subdomains"),
    ("allowed-but-censored.test", True, Ede.CENSORED, "authority", "authority beats the profile's allow"),
    ("censored-helpline.test", True, Ede.CENSORED, "authority", "authority beats always_allow"),
    ("listed-everywhere.test", True, Ede.CENSORED, "authority", "authority reported over a category feed"),
    # 2. allow/deny: most specific wins
    ("deny.test", True, Ede.BLOCKED, "custom", "deny rule"),
    ("a.b.deny.test", True, Ede.BLOCKED, "custom", "deny covers subdomains"),
    ("ok.deny.test", False, None, None, "a more specific allow beats deny"),
    ("x.ok.deny.test", False, None, None, "the allow's subtree"),
    ("allowed.test", False, None, None, "allow beats a category feed"),
    ("bad.allowed.test", True, Ede.BLOCKED, "custom", "a more specific deny beats allow"),
    ("x.bad.allowed.test", True, Ede.BLOCKED, "custom", "the deny's subtree"),
    ("tie.test", False, None, None, "allow wins a tie"),
    ("sub.tie.test", False, None, None, "allow wins a tie below it too"),
    ("khan.adult.test", False, None, None, "profile allow beats the category feed"),
    ("plain-deny.test", True, Ede.BLOCKED, "custom", "deny blocks names on no list"),
    # 3. always_allow beats feeds, not deny
    ("helpline.test", False, None, None, "always_allow beats a category feed"),
    ("www.helpline.test", False, None, None, "always_allow covers subdomains"),
    ("denied-helpline.test", True, Ede.BLOCKED, "custom", "deny beats always_allow"),
    # 4. category feeds and allowlist feeds
    ("ads.test", True, Ede.BLOCKED, "ads", "security feed"),
    ("x.y.tracker.test", True, Ede.BLOCKED, "ads", "feed covers subdomains"),
    ("adult.test", True, Ede.FILTERED, "adult", "parental category"),
    ("good.ads.test", False, None, None, "an allowlist feed un-blocks"),
    ("x.good.ads.test", False, None, None, "allowlist feed subtree"),
    ("own-deny.test", True, Ede.BLOCKED, "custom", "an allowlist feed does not beat deny"),
    ("secret.test", True, Ede.BLOCKED, "malware", "hashed feed"),
    ("www.secret.test", True, Ede.BLOCKED, "malware", "hashed feed subtree"),
    ("x.deep.test", True, Ede.BLOCKED, "ads", "the most specific feed entry decides the feed"),
    ("y.deep.test", True, Ede.FILTERED, "adult", ""),
    # label boundaries
    ("notads.test", False, None, None, "suffix inside a label"),
    ("ads.test.example", False, None, None, "listed name as a prefix"),
    ("xdeny.test", False, None, None, "deny on label boundaries"),
    ("nothelpline.test", False, None, None, ""),
    ("notbanned.test", False, None, None, "authority on label boundaries"),
    ("test", False, None, None, "a parent of listed names"),
    ("example.org", False, None, None, "unlisted"),
]


@pytest.mark.parametrize(("name", "blocked", "ede", "category", "why"), TABLE, ids=[f"{t[0]}" for t in TABLE])
def test_precedence_table(name, blocked, ede, category, why):
    d = decide(name)
    assert d.blocked == blocked, why
    assert d.ede == ede
    assert d.reason.category == category
    assert d.verdict == ("block" if blocked else "allow")


@pytest.mark.parametrize(("name", "blocked"), [
    ("adult.test", False),  # not one of this profile's categories
    ("ads.test", True), ("banned.test", True), ("secret.test", True),
    ("deny.test", False), ("allowed.test", True),  # Kids' own rules do not apply
    ("helpline.test", False),
])
def test_rules_are_per_profile(name, blocked):
    assert decide(name, "Adults").blocked == blocked


def test_reasons_name_the_feed_and_rule():
    d = decide("a.b.deny.test")
    assert d.reason.rule == "deny.test" and d.reason.feed is None and "deny.test" in d.reason.text
    d = decide("ok.deny.test")
    assert d.reason.rule == "ok.deny.test"
    d = decide("x.y.tracker.test")
    assert d.reason.feed == "ads" and d.reason.rule is None and d.reason.text == "ads: on the list ads"
    d = decide("x.y.tracker.test", explain=True)
    assert d.reason.feed == "ads" and d.reason.rule == "tracker.test"
    d = decide("www.banned.test", explain=True)
    assert d.reason.feed == "gov" and d.reason.rule == "banned.test"
    assert d.reason.text == "blocked by the authority list gov"
    d = decide("helpline.test")
    assert d.reason.rule == "helpline.test" and "always allowed" in d.reason.text


@pytest.mark.parametrize("explain", [False, True])
@pytest.mark.parametrize("name", ["secret.test", "deep.www.secret.test"])
def test_hashed_feeds_never_expose_the_name(name, explain):
    d = decide(name, explain=explain)
    assert d.blocked and d.reason.feed == "secret"
    assert d.reason.rule is None
    for text in (d.reason.text, d.reason.category or "", d.reason.feed or ""):
        assert "secret.test" not in text


def test_hashed_authority_feed_never_exposes_the_name():
    m = Matcher({"gov": compiled_sha("hidden.test")})
    p = Policy(m, [FeedInfo("gov", "authority", hashed=True)], [ProfileRules("P", (), RuleSet(), RuleSet())])
    d = p.decide("P", wire.text_to_wire("a.hidden.test"), explain=True)
    assert d.blocked and d.ede == Ede.CENSORED and d.reason.rule is None and "hidden" not in d.reason.text


def test_feed_ede_override():
    m = Matcher({"x": compiled("x.test")})
    p = Policy(m, [FeedInfo("x", "adult", ede=Ede.BLOCKED)], [ProfileRules("P", ("x",), RuleSet(), RuleSet())])
    assert p.decide("P", wire.text_to_wire("x.test")).ede == Ede.BLOCKED


def test_allowlist_feed_does_not_lift_authority_in_any_profile():
    for profile in ("Kids", "Adults"):
        assert decide("banned.test", profile).ede == Ede.CENSORED


# ---------------------------------------------------------------- with the real feed compiler


def test_policy_on_feeds_compiled_from_files(tmp_path: Path):
    (tmp_path / "ads.txt").write_text("# ads\nads.test\nx.ads.test\n0.0.0.0 ignored-hosts-format.test\ntracker.test\n")
    (tmp_path / "allow.txt").write_text("ok.ads.test\n")
    (tmp_path / "hidden.txt").write_text(hashlib.sha256(b"hidden.test").hexdigest() + "\n")
    compile_feed(tmp_path / "ads.txt", "domains", tmp_path / "ads.bin")
    compile_feed(tmp_path / "allow.txt", "domains", tmp_path / "allow.bin", allow=True)
    compile_feed(tmp_path / "hidden.txt", "sha256", tmp_path / "hidden.bin")
    m = Matcher({"ads": load_feed(tmp_path / "ads.bin"), "allow": load_feed(tmp_path / "allow.bin"),
                 "hidden": load_feed(tmp_path / "hidden.bin")})
    assert m.sets["hidden"].hashed and not (tmp_path / "hidden.bin").read_bytes().count(b"hidden.test")
    p = Policy(m, [FeedInfo("ads", "ads"), FeedInfo("allow", "ads", kind="allow"),
                   FeedInfo("hidden", "phishing", hashed=True)],
               [ProfileRules("P", ("ads", "hidden"), RuleSet(), RuleSet())])

    def blocked(n: str) -> bool:
        return p.decide("P", wire.text_to_wire(n)).blocked

    assert blocked("ads.test") and blocked("deep.x.ads.test") and blocked("tracker.test")
    assert not blocked("ok.ads.test") and not blocked("a.ok.ads.test")
    assert not blocked("notads.test") and not blocked("example.com")
    assert blocked("hidden.test") and blocked("www.hidden.test") and not blocked("nothidden.test")
    d = p.decide("P", wire.text_to_wire("www.hidden.test"), explain=True)
    assert d.reason.feed == "hidden" and d.reason.rule is None and "hidden.test" not in d.reason.text


# ---------------------------------------------------------------- from a config


def test_build_policy_from_config():
    cfg = from_dict({
        "feeds": [{"name": "ads", "url": "/a", "category": "ads"}, {"name": "adult", "url": "/b", "category": "adult"},
                  {"name": "gov", "url": "/c", "category": "authority"},
                  {"name": "off", "url": "/d", "category": "ads", "enabled": False}],
        "filter": {"allow": ["ok.ads.test"], "deny": ["house.test"]},
        "protection": {"always_allow": ["helpline.test"]},
        "defaults": {"profile": "Adults"},
        "profiles": [{"name": "Kids", "block_categories": ["ads", "adult"], "deny": ["kid-deny.test"]},
                     {"name": "Adults"}],
    })
    m = Matcher({"ads": compiled("ads.test", "helpline.test"), "adult": compiled("adult.test"),
                 "gov": compiled("banned.test", "ok.ads.test"), "off": compiled("off.test")})
    p = build_policy(cfg, m)

    def blocked(profile: str, n: str) -> bool:
        return p.decide(profile, wire.text_to_wire(n)).blocked

    assert blocked("Kids", "adult.test") and not blocked("Adults", "adult.test")  # defaults: security set
    assert blocked("Kids", "ads.test") and blocked("Adults", "ads.test")
    assert blocked("Kids", "house.test") and blocked("Adults", "house.test")  # household deny
    assert blocked("Kids", "kid-deny.test") and not blocked("Adults", "kid-deny.test")
    assert blocked("Adults", "ok.ads.test")  # household allow never lifts an authority list
    assert not blocked("Kids", "helpline.test")
    assert not blocked("Kids", "off.test")  # disabled feed


def test_no_profiles_applies_every_feed_to_everyone():
    cfg = from_dict({"feeds": [{"name": "adult", "url": "/b", "category": "adult"},
                               {"name": "games", "url": "/g", "category": "games"}]})
    p = build_policy(cfg, Matcher({"adult": compiled("adult.test"), "games": compiled("games.test")}))
    assert p.decide(cfg.defaults.profile, wire.text_to_wire("adult.test")).blocked
    assert p.decide(cfg.defaults.profile, wire.text_to_wire("games.test")).blocked

"""dnsfilter.core.policy.decide with profiles: services, bypass, allow_only, safe search, budgets
counting, and the time-dependent state (pause, schedules, spent budgets), as one precedence
table: authority > allow/deny > always_allow > pause/schedule/budget > services/categories."""

from __future__ import annotations

import pytest

from dnsfilter.core.dns import wire
from dnsfilter.core.model import Ede, Reason
from dnsfilter.core.policy.decide import FeedInfo, Policy, ProfileRules, TimeState
from dnsfilter.core.policy.feedset import B_SUB, FeedSet, build, text_key
from dnsfilter.core.policy.matcher import Matcher
from dnsfilter.core.policy.rulesets import RuleSet, ServiceIndex


def compiled(*names: str) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), B_SUB) for n in names)))


W = wire.text_to_wire
MATCHER = Matcher({
    "gov": compiled("banned.test", "youtube.com.banned.test"),
    "adultfeed": compiled("adult.test", "helpline-on-adult.test"),
    "gamesfeed": compiled("somegame.test"),
    "doh": compiled("doh-on-feed.test"),
})
FEEDS = [FeedInfo("gov", "authority"), FeedInfo("adultfeed", "adult"), FeedInfo("gamesfeed", "games"),
         FeedInfo("doh", "bypass")]
SERVICES = ServiceIndex({
    "youtube": ("video", ["youtube.com", "ytimg.com", "googlevideo.com"]),
    "tiktok": ("social", ["tiktok.com", "tiktokcdn-*.com"]),
    "roblox": ("games", ["roblox.com"]),
})
SAFE = {W("www.google.kz"): W("forcesafesearch.google.com"), W("www.youtube.com"): W("restrict.youtube.com")}
KIDS = ProfileRules("Kids", ("adultfeed", "doh"), RuleSet(["khanacademy.org", "kids.youtube.com"]),
                    RuleSet(["denied.test", "www.google.kz.denied"]), services=frozenset({"tiktok"}), bypass=True,
                    safe_search=SAFE, budget_items=("youtube", "games"))
SMALL = ProfileRules("Small", (), RuleSet(["khanacademy.org"]), RuleSet(), allow_only=True)
ADULTS = ProfileRules("Adults", (), RuleSet(), RuleSet())
POLICY = Policy(MATCHER, FEEDS, [KIDS, SMALL, ADULTS], always_allow=["helpline.test", "helpline-on-adult.test"],
                services=SERVICES, bypass=["dns.google", "mask.icloud.com"])

PAUSED = TimeState("Kids|paused", paused=Reason("paused", kind="pause"))
BEDTIME = TimeState("Kids|s:bedtime", block_all=Reason("schedule bedtime", kind="schedule"))
HOMEWORK = TimeState("Kids|s:homework", items=(("games", Reason("schedule homework: games", kind="schedule")),
                                                ("youtube", Reason("schedule homework: youtube", kind="schedule"))))
SPENT = TimeState("Kids|b:youtube", items=(("youtube", Reason("daily limit reached for youtube", kind="budget")),))
FREE = TimeState("Kids")

# (name, state, verdict, kind of the reason, why)
TABLE = [
    ("banned.test", PAUSED, "block", "authority", "authority beats everything, pause included"),
    ("denied.test", FREE, "block", "deny", "the profile's deny"),
    ("khanacademy.org", BEDTIME, "allow", "allow", "the profile's allow beats a schedule"),
    ("khanacademy.org", PAUSED, "allow", "allow", "the profile's allow beats a pause"),
    ("kids.youtube.com", SPENT, "allow", "allow", "a more specific allow beats a spent budget"),
    ("helpline.test", PAUSED, "allow", "always_allow", "always_allow beats a pause"),
    ("helpline.test", BEDTIME, "allow", "always_allow", "always_allow beats a schedule"),
    ("helpline-on-adult.test", FREE, "allow", "always_allow", "always_allow beats a category"),
    ("example.org", PAUSED, "block", "pause", "pause blocks everything else"),
    ("example.org", BEDTIME, "block", "schedule", "schedule 'all'"),
    ("www.youtube.com", HOMEWORK, "block", "schedule", "a schedule listing a service"),
    ("somegame.test", HOMEWORK, "block", "schedule", "a schedule listing a category (feed)"),
    ("www.roblox.com", HOMEWORK, "block", "schedule", "a category also covers services of that group"),
    ("example.org", HOMEWORK, "allow", None, "a listed schedule leaves the rest alone"),
    ("i.ytimg.com", SPENT, "block", "budget", "a spent budget blocks the whole service"),
    ("www.tiktok.com", FREE, "block", "service", "a blocked service"),
    ("v16.tiktokcdn-us.com", FREE, "block", "service", "a service's wildcard domain"),
    ("dns.google", FREE, "block", "bypass", "the bypass list"),
    ("doh-on-feed.test", FREE, "block", "category", "bypass-category feeds"),
    ("adult.test", FREE, "block", "category", "a category feed"),
    ("www.google.kz", FREE, "rewrite", "safe_search", "safe search"),
    ("www.youtube.com", FREE, "rewrite", "safe_search", "YouTube restricted"),
    ("www.google.kz.denied", FREE, "block", "deny", "a denied name is not rewritten"),
    ("i.ytimg.com", FREE, "allow", "budget", "use of a budgeted service is counted"),
    ("www.roblox.com", FREE, "allow", "budget", "use of a budgeted category is counted (service group)"),
    ("example.org", FREE, "allow", None, "nothing applies"),
]


@pytest.mark.parametrize(("name", "state", "verdict", "kind", "why"), TABLE,
                         ids=[f"{t[0]}-{t[1].key}" for t in TABLE])
def test_profile_precedence_table(name: str, state: TimeState, verdict: str, kind: str | None, why: str) -> None:
    d = POLICY.decide("Kids", W(name), state=state)
    assert d.verdict == verdict, why
    assert d.reason.kind == kind, why
    if d.blocked and kind in ("pause", "schedule", "budget", "service", "bypass"):
        assert d.ede == Ede.FILTERED


def test_counted_names_say_what_they_count() -> None:
    assert POLICY.decide("Kids", W("rr1.googlevideo.com")).count == ("youtube",)
    assert POLICY.decide("Kids", W("somegame.test")).count == ("games",)
    assert POLICY.decide("Kids", W("example.org")).count == ()
    assert POLICY.decide("Adults", W("rr1.googlevideo.com")).count == ()
    yt = POLICY.decide("Kids", W("www.youtube.com"))
    assert yt.rewrite is not None and yt.count == ("youtube",)  # restricted YouTube still counts


def test_safe_search_target_and_rewrite_only_for_the_exact_names() -> None:
    d = POLICY.decide("Kids", W("www.google.kz"))
    assert d.rewrite == W("forcesafesearch.google.com") and not d.blocked
    assert POLICY.decide("Kids", W("maps.www.google.kz")).rewrite is None
    assert POLICY.decide("Adults", W("www.google.kz")).rewrite is None


def test_allow_only() -> None:
    assert POLICY.decide("Small", W("khanacademy.org")).verdict == "allow"
    assert POLICY.decide("Small", W("www.khanacademy.org")).verdict == "allow"
    d = POLICY.decide("Small", W("example.org"))
    assert d.blocked and d.reason.kind == "allow_only" and d.ede == Ede.FILTERED
    assert POLICY.decide("Small", W("helpline.test")).verdict == "allow"  # always_allow still works
    assert POLICY.decide("Small", W("banned.test")).reason.kind == "authority"


def test_services_name_the_service() -> None:
    d = POLICY.decide("Kids", W("www.tiktok.com"))
    assert d.reason.service == "tiktok" and d.reason.category == "social"
    d = POLICY.decide("Kids", W("i.ytimg.com"), state=SPENT)
    assert "daily limit reached" in d.reason.text


def test_rule_sets_with_wildcards() -> None:
    rs = RuleSet(["ads*.example.com", "*.cdn-*.net", "plain.test", "*.star.test"])
    assert rs.match(W("ads1.example.com")) is not None
    assert rs.match(W("x.ads.example.com")) is not None
    assert rs.match(W("bads.example.com")) is None
    assert rs.match(W("a.cdn-eu.net")) is not None
    assert rs.match(W("cdn-eu.net")) is None
    assert rs.match(W("www.star.test")) is not None and rs.match(W("star.test")) is not None
    assert rs.match(W("plain.test.evil")) is None
    hit = rs.match(W("a.b.plain.test"))
    assert hit is not None and hit[1] == "plain.test" and hit[0] == 4


def test_safe_search_table_youtube_modes() -> None:
    from dnsfilter.assemble import safe_search_table

    strict, moderate, off = (safe_search_table(m) for m in ("strict", "moderate", "off"))
    assert strict[W("www.youtube.com")] == W("restrict.youtube.com")
    assert moderate[W("www.youtube.com")] == W("restrictmoderate.youtube.com")
    assert W("www.youtube.com") not in off
    for table in (strict, moderate, off):  # the other engines do not depend on the YouTube mode
        assert table[W("www.google.kz")] == W("forcesafesearch.google.com")
        assert table[W("www.bing.com")] == W("strict.bing.com")

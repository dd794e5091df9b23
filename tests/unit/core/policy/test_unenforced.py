"""A chosen category without a list in force is "not enforced": the policy's verdict for a
name nothing matched says so (what `dnsfilter check` prints), and `assemble` finds those
categories from the config and the lists actually loaded."""

from __future__ import annotations

from pathlib import Path

from dnsfilter import config as config_mod
from dnsfilter.assemble import build_policy
from dnsfilter.config.profiles import unenforced
from dnsfilter.core.dns import wire
from dnsfilter.core.model import ALLOW_DEFAULT
from dnsfilter.core.policy.decide import FeedInfo, Policy, ProfileRules
from dnsfilter.core.policy.feedset import B_SUB, FeedSet, build, text_key
from dnsfilter.core.policy.matcher import Matcher
from dnsfilter.core.policy.rulesets import RuleSet
from feeds.compile_rules import compile_feed
from feeds.sync import set_path

W = wire.text_to_wire


def compiled(*names: str) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), B_SUB) for n in names)))


def test_the_default_verdict_names_the_categories_without_a_list() -> None:
    kids = ProfileRules("Kids", ("ads",), RuleSet(), RuleSet(), unenforced=("adult", "gambling"))
    adults = ProfileRules("Adults", ("ads",), RuleSet(), RuleSet())
    p = Policy(Matcher({"ads": compiled("ads.test")}), [FeedInfo("ads", "ads")], [kids, adults])
    d = p.decide("Kids", W("pornhub.example"))
    assert not d.blocked
    assert d.reason.text == "not on any list; not enforced: no list of categories adult, gambling is active"
    assert p.decide("Kids", W("other.example")) is d  # built once per profile, not per query
    assert p.decide("Adults", W("pornhub.example")) is ALLOW_DEFAULT
    assert p.decide("Kids", W("ads.test")).blocked  # what is listed is still blocked
    one = Policy(Matcher({}), [], [ProfileRules("K", (), RuleSet(), RuleSet(), unenforced=("adult",))])
    assert one.decide("K", W("x.example")).reason.text.endswith("no list of category adult is active")


def test_unenforced_ignores_custom_and_authority() -> None:
    assert unenforced(("ads", "adult", "custom", "authority"), {"ads"}) == ("adult",)


def _config(tmp_path: Path, text: str) -> config_mod.Config:
    p = tmp_path / "config.toml"
    p.write_text('[storage]\ndata_dir = "var"\n' + text)
    return config_mod.load(p)


def test_assemble_finds_them_from_the_lists_in_force(tmp_path: Path) -> None:
    src = tmp_path / "adult.txt"
    src.write_text("adult.example\n")
    cfg = _config(tmp_path, f'''
[[feeds]]
name = "adultlist"
url = "{src}"
category = "adult"
[[feeds]]
name = "never-downloaded"
url = "https://lists.example/gambling.txt"
category = "gambling"
[defaults]
profile = "Adults"
[[profiles]]
name = "Adults"
block_categories = []
[[profiles]]
name = "Kids"
block_categories = ["adult", "gambling", "bypass"]
budgets = {{ games = "1h" }}
[[profiles]]
name = "Teens"
block_categories = ["bypass"]
block_bypass = true
[[profiles]]
name = "Small"
block_categories = ["adult", "drugs"]
allow_only = true
''')
    from dnsfilter.shell.lists import load_matcher

    policy = build_policy(cfg, load_matcher(cfg))
    # the remote gambling list was never downloaded: no set, not in force
    assert policy.profiles["Kids"].unenforced == ("gambling", "games", "bypass")
    assert policy.profiles["Teens"].unenforced == ()  # block_bypass: the list shipped with dnsfilter
    assert policy.profiles["Small"].unenforced == ()  # allow_only needs no list
    assert policy.profiles["Adults"].unenforced == ()
    # once the gambling list is compiled it is in force, and no longer named
    gambling = next(f for f in cfg.feeds if f.name == "never-downloaded")
    src.with_name("g.txt").write_text("casino.example\n")
    compile_feed(src.with_name("g.txt"), "domains", set_path(cfg, gambling))
    assert build_policy(cfg, load_matcher(cfg)).profiles["Kids"].unenforced == ("games", "bypass")


def test_without_profiles_the_default_categories_count(tmp_path: Path) -> None:
    from dnsfilter.shell.lists import load_matcher

    cfg = _config(tmp_path, '[defaults]\nblock_categories = ["ads", "adult"]\n')
    policy = build_policy(cfg, load_matcher(cfg))
    assert policy.profiles["Default"].unenforced == ("ads", "adult")

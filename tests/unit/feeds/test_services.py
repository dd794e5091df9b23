"""feeds/services.toml and feeds/services.py: the blocked-services catalog."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import pytest

from feeds.services import (
    GROUPS,
    CatalogError,
    Service,
    UnknownServiceError,
    covers,
    domain_problem,
    expand,
    load_services,
    service_names,
)
from tests.support.paths import SHARED_DATA

SHARED = SHARED_DATA
ADGUARD = SHARED / "adguard" / "services.json"

# The services the brief and families ask for by name: they must stay in the catalog.
REQUIRED = {
    "youtube", "tiktok", "instagram", "facebook", "snapchat", "roblox", "epic_games", "minecraft", "discord",
    "twitch", "steam", "netflix", "whatsapp", "telegram", "twitter", "reddit", "pinterest", "vk", "ok", "spotify",
    "prime_video", "disney_plus", "playstation", "xbox_live", "nintendo", "pubg", "likee", "kick", "signal",
    "viber", "wechat", "chatgpt", "character_ai", "tinder", "onlyfans", "fourchan", "my_mail_ru", "vk_play",
    "yandex_games", "kinopoisk", "ivi",
}

# AdGuard service id -> our ids that together stand for it.
SHARED_IDS: dict[str, tuple[str, ...]] = {
    "4chan": ("fourchan",), "amazon_streaming": ("prime_video", "amazon_music"), "disneyplus": ("disney_plus",),
    "xboxlive": ("xbox_live",), "mail_ru": ("my_mail_ru", "vk_play", "ok"),
    **{i: (i,) for i in (
        "youtube", "tiktok", "instagram", "facebook", "snapchat", "roblox", "epic_games", "minecraft", "discord",
        "twitch", "steam", "netflix", "whatsapp", "telegram", "twitter", "reddit", "pinterest", "vk", "ok",
        "spotify", "playstation", "nintendo", "signal", "viber", "wechat", "chatgpt", "tinder", "onlyfans",
        "claude", "gemini", "copilot", "deepseek", "perplexity", "grok", "meta_ai")},
}

_META_OSS = "a Meta open-source project site, not the social network"
_UNUSED = "an acquired, parked or marketing domain the service's apps do not use"
# Names AdGuard's rules hold that our catalog leaves out on purpose, with the reason.
KNOWN_DIFFERENCES: dict[str, dict[str, str]] = {
    "youtube": {"youtube": "the whole .youtube TLD; we list blog.youtube and never a TLD"},
    "netflix": {
        "fast.com": "Netflix's speed test, which parents use to check the line; not the streaming service",
        "dualstack.apiproxy-*.amazonaws.com": "AdGuard's * spans labels; ours is dualstack.apiproxy-*.*.amazonaws.com",
        "dualstack.ichnaea-web-*.amazonaws.com": "as above: dualstack.ichnaea-web-*.*.amazonaws.com",
    },
    "spotify": {"/_spotify-connect._tcp.local/": "an mDNS service name, never asked of a unicast resolver"},
    "roblox": {"rbxadder.com": "a third-party site, not Roblox's"},
    "telegram": {"telega.one": "a third-party client site, not Telegram's", "tx.me": "not a documented Telegram domain"},
    "copilot": {"copilot.ai": "a different company's product, not Microsoft Copilot"},
    "gemini": {"gemini.com": "the Gemini crypto exchange, not Google Gemini"},
    "mail_ru": {
        "mail.ru": "the Mail.ru portal is also e-mail and news; we list my.mail.ru (social) and VK Play (games)",
        "imgsmail.ru": "images of the whole Mail.ru portal (e-mail included)",
        "mycdn.me": "a CDN Mail.ru and OK share: we list OK's hosts on it (st., i.) under ok",
    },
    "facebook": {d: _META_OSS for d in (
        "botorch.org", "buck.build", "buckbuild.com", "componentkit.org", "draftjs.org", "fasttext.cc", "flow.dev",
        "flow.org", "flowtype.org", "frescolib.org", "hacklang.org", "hhvm.com", "makeitopen.com", "mcrouter.net",
        "mcrouter.org", "ogp.me", "opengraphprotocol.com", "opengraphprotocol.org", "pyrobot.org", "react.com",
        "reactjs.com", "reactjs.org", "recoiljs.org", "rocksdb.com", "rocksdb.net", "rocksdb.org", "yogalayout.com",
        "fbidb.io", "fbinfer.com", "fbredex.com", "fbrell.com", "fblitho.com", "fbrpms.com")}
    | {d: _UNUSED for d in (
        "advancediddetection.com", "atdmt2.com", "atlasdmt.com", "atlasonepoint.com", "atscaleconference.com",
        "careersatfb.com", "celebgramme.com", "click-url.com", "crowdtangle.com", "expresswifi.com", "f8.com",
        "faciometrics.com", "fb.careers", "fbbmarket.com", "fbboostyourbusiness.com", "fbf8.com", "fbfeedback.com",
        "fbhome.com", "fbinc.com", "fbinnovation.com", "fbmarketing.com", "fbreg.com", "fbsupport-covid.net",
        "fbthirdpartypixel.com", "fbthirdpartypixel.net", "fbthirdpartypixel.org", "fbworkmail.com", "freeb.com",
        "freebs.com", "freefblikes.com", "friendfed.com", "friendfeed-api.com", "friendfeed-media.com",
        "friendfeed.com", "friendfeedmedia.com", "futureofbusinesssurvey.org", "gameroom.com", "groups.com",
        "i.org", "klik.me", "liverail.com", "liverail.tv", "login-account.net", "markzuckerberg.com",
        "messengerdevelopers.com", "midentsolutions.com", "myfbfans.com", "nbabot.net", "newsfeed.com",
        "nextstop.com", "online-deals.net", "opencreate.org", "parse.com", "redkix.com", "sportstream.com",
        "terragraph.com", "thefind.com", "toplayerserver.com", "worldhack.com", "zuckerberg.com",
        "zuckerberg.net", "freindfeed.com", "accessfacebookfromschool.com", "facesounds.com", "friendbook.info",
        "workplaceusecases.com")}
    | {d: "a typo-squat of facebook.com" for d in ("fecbbok.com", "fecbooc.com")},
}

# Typo-squats and brand-named sites (`faceboook.com`, `instagramtakipcisatinal.net`,
# `whatsapp-plus.net`) are not used by the service: blocking them belongs to phishing lists.
# They are recognised by their first label, not listed one by one.
LOOKALIKE_BRANDS = {"facebook": ("facebook",), "instagram": ("instagram", "insta"), "whatsapp": ("whatsapp",)}


def _lookalike(service: str, host: str) -> bool:
    label = host.split(".")[0].replace("-", "")
    for brand in LOOKALIKE_BRANDS.get(service, ()):
        if brand in label or difflib.SequenceMatcher(None, label, brand).ratio() >= 0.7:
            return True
    return False


def _rule_host(rule: str) -> str:
    """The name an AdGuard rule targets: `||a.b^$x` → `a.b`; regex rules are kept whole."""
    if rule.startswith("/"):
        return rule
    return re.sub(r"\^.*$|\$.*$", "", rule.lstrip("|")).lower()


def _covered(domains: tuple[str, ...], host: str) -> bool:
    sample = host.replace("*", "x0")  # one concrete name the wildcard stands for
    return any(covers(d, sample) for d in domains)


def test_the_catalog_has_the_requested_services() -> None:
    services = load_services()
    assert REQUIRED <= set(services), REQUIRED - set(services)
    for sid, s in services.items():
        assert isinstance(s, Service) and s.id == sid and s.title and s.group in GROUPS and s.domains


def test_every_domain_is_a_valid_dns_name() -> None:
    for s in load_services().values():
        for d in s.domains:
            assert domain_problem(d) is None, (s.id, d)
            concrete = d.replace("*", "x0")  # a wildcard stands for real names: they must parse too
            assert len(concrete) <= 253 and all(1 <= len(lab) <= 63 for lab in concrete.split("."))
            assert re.fullmatch(r"[a-z0-9.-]+", concrete), (s.id, d)


def test_no_domain_belongs_to_two_services() -> None:
    seen: dict[str, str] = {}
    for s in load_services().values():
        for d in s.domains:
            assert d not in seen, f"{d} in {seen.get(d)} and {s.id}"
            seen[d] = s.id


def test_catalog_spot_checks() -> None:
    s = load_services()
    assert "youtube.kz" in s["youtube"].domains and "youtube.co.uk" in s["youtube"].domains
    assert covers("tiktokcdn-*.com", "v16.tiktokcdn-eu.com")
    assert covers("epicgames-download*.akamaized.net", "epicgames-download1.akamaized.net")
    assert not covers("epicgames-download*.akamaized.net", "akamaized.net")
    assert covers("dualstack.apiproxy-*.*.amazonaws.com", "dualstack.apiproxy-nlb-1.elb.eu-west-1.amazonaws.com")
    assert not covers("dualstack.apiproxy-*.*.amazonaws.com", "dualstack.other.elb.amazonaws.com")
    assert covers("vk.com", "sun9-1.vk.com") and covers("vk.com", "VK.COM.") and not covers("vk.com", "xvk.com")
    assert not any(covers(d, "mail.ru") or covers(d, "e.mail.ru") for x in s.values() for d in x.domains)


def test_service_names_and_groups() -> None:
    assert "tiktok.com" in service_names(["tiktok"])
    games = service_names(["games"])
    assert "roblox.com" in games and "minecraft.net" in games and "tiktok.com" not in games
    assert service_names(["tiktok", "tiktok"]) == service_names(["tiktok"])
    with pytest.raises(UnknownServiceError) as e:
        service_names(["tiktokk"])
    assert e.value.suggestions[0] == "tiktok" and "did you mean" in str(e.value)


def test_expand() -> None:
    assert expand("a.{b,c.d}") == ["a.b", "a.c.d"]
    assert expand("x{1,2}.com") == ["x1.com", "x2.com"]
    for bad in ("a.{b,c", "a.{b,}", "{a,b}.{c,d}"):
        with pytest.raises(ValueError):
            expand(bad)


@pytest.mark.parametrize(("body", "expect"), [
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["ok..com"]\n', r"x\.toml:1: \[x\] domains\[0\] 'ok\.\.com'"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["Big.com"]\n', "lower-case"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["com"]\n', "two labels"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["*.a.com"]\n', "without"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["a*.com"]\n', "three characters"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["a.c*m"]\n', "last label"),
    ('[x]\ntitle = "X"\ngroup = "nope"\ndomains = ["a.com"]\n', "group"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = []\n', "non-empty"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["a.com"]\nicon = "y"\n', "unknown key 'icon'"),
    ('[a]\ntitle = "A"\ngroup = "social"\ndomains = ["a.com"]\n\n[b]\ntitle = "B"\ngroup = "games"\n'
     'domains = ["a.{net,com}"]\n', r"x\.toml:6: \[b\] domains\[0\] 'a\.com' is listed twice \(also in \[a\]\)"),
    ('[Bad-Id]\ntitle = "X"\ngroup = "social"\ndomains = ["a.com"]\n', "id must be"),
    ('[games]\ntitle = "X"\ngroup = "games"\ndomains = ["a.com"]\n', "group name"),
    ('[x]\ntitle = "X"\ngroup = "social"\ndomains = ["a.com"\n', r"x\.toml(:\d+)?: not valid TOML"),
    ("", "no services"),
])
def test_bad_catalogs_raise_catalog_error(tmp_path: Path, body: str, expect: str) -> None:
    f = tmp_path / "x.toml"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(CatalogError, match=expect) as e:
        load_services(f)
    assert e.value.path == str(f)


def test_a_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_services(tmp_path / "absent.toml")


@pytest.mark.shared
@pytest.mark.skipif(not ADGUARD.exists(), reason="needs ../shared/data/adguard/services.json")
def test_covers_what_adguard_names_for_shared_services() -> None:
    ours = load_services()
    adguard = {s["id"]: s for s in json.loads(ADGUARD.read_text(encoding="utf-8"))["blocked_services"]}
    assert set(SHARED_IDS) <= set(adguard), set(SHARED_IDS) - set(adguard)
    total = covered = lookalikes = 0
    problems: list[str] = []
    for aid, our_ids in sorted(SHARED_IDS.items()):
        domains = tuple(d for i in our_ids for d in ours[i].domains)
        known = KNOWN_DIFFERENCES.get(aid, {})
        hosts = sorted({_rule_host(r) for r in adguard[aid]["rules"]})
        hit = sum(_covered(domains, h) for h in hosts)
        for h in hosts:
            if _covered(domains, h):
                assert h not in known, f"{aid}: {h} is covered now; drop it from KNOWN_DIFFERENCES"
            elif _lookalike(aid, h):
                lookalikes += 1
            elif h not in known:
                problems.append(f"{aid}: {h}")
        stale = set(known) - set(hosts)
        assert not stale, f"{aid}: KNOWN_DIFFERENCES names what AdGuard does not: {sorted(stale)}"
        total, covered = total + len(hosts), covered + hit
        print(f"{aid:18} {hit:4}/{len(hosts):<4} covered")
    print(f"overall: {covered}/{total} AdGuard names covered ({100 * covered / total:.1f} %), "
          f"{lookalikes} look-alike names left out on purpose "
          f"({100 * covered / (total - lookalikes):.1f} % of the rest), "
          f"{sum(map(len, KNOWN_DIFFERENCES.values()))} listed differences")
    assert not problems, "AdGuard names neither covered nor explained:\n" + "\n".join(problems)
    # Of the names that are not look-alikes, most are ours; the rest are the explained ones above.
    assert covered / (total - lookalikes) >= 0.8

"""feeds/catalog.toml and `catalog = "id"` in the config."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dnsfilter import config as config_mod
from dnsfilter.config import ConfigError
from dnsfilter.config.feeds import CATEGORIES, FEED_FORMATS
from feeds.catalog import CatalogError, close_matches, entries, lookup, parse
from feeds.compile_rules import compile_feed
from tests.support.paths import SHARED_DATA

SHARED = SHARED_DATA

# Catalog entries whose upstream file has a snapshot in ../shared/data: the path that
# SOURCES.md names as its origin must be the one the catalog downloads.
SNAPSHOT_PATHS = {
    "stevenblack-unified": ("StevenBlack/hosts", "hosts", "stevenblack/hosts"),
    "stevenblack-gambling-porn-only": ("StevenBlack/hosts", "alternates/gambling-porn-only/hosts",
                                       "stevenblack/gambling-porn-only.hosts"),
    "hagezi-normal": ("hagezi", "wildcard/multi-onlydomains.txt", "hagezi/multi.onlydomains.txt"),
    "hagezi-pro": ("hagezi", "wildcard/pro-onlydomains.txt", "hagezi/pro.onlydomains.txt"),
    "hagezi-nsfw": ("hagezi", "wildcard/nsfw-onlydomains.txt", "hagezi/nsfw.onlydomains.txt"),
    "hagezi-bypass": ("hagezi", "wildcard/doh-vpn-proxy-bypass-onlydomains.txt",
                      "hagezi/doh-vpn-proxy-bypass.onlydomains.txt"),
    "ut1-gambling": ("olbat/ut1-blacklists", "blacklists/gambling/domains", "ut1/gambling.domains"),
    "ut1-games": ("olbat/ut1-blacklists", "blacklists/games/domains", "ut1/games.domains"),
    "ut1-dating": ("olbat/ut1-blacklists", "blacklists/dating/domains", "ut1/dating.domains"),
    "ut1-social-networks": ("olbat/ut1-blacklists", "blacklists/social_networks/domains",
                            "ut1/social_networks.domains"),
    "ut1-malware": ("olbat/ut1-blacklists", "blacklists/malware/domains", "ut1/malware.domains"),
    "ut1-phishing": ("olbat/ut1-blacklists", "blacklists/phishing/domains", "ut1/phishing.domains"),
}

EXPECTED = {
    "stevenblack-unified", "stevenblack-gambling-porn", "hagezi-light", "hagezi-normal", "hagezi-pro",
    "hagezi-pro-plus", "hagezi-ultimate", "hagezi-nsfw", "hagezi-gambling", "hagezi-bypass", "hagezi-tif",
    "oisd-small", "oisd-big", "adguard-dns", "ut1-gambling", "ut1-dating", "ut1-games", "ut1-social-networks",
    "ut1-malware", "ut1-phishing", "1hosts-lite", "1hosts-pro",
}


def test_the_catalog_has_the_well_known_feeds() -> None:
    assert EXPECTED <= set(entries())


@pytest.mark.parametrize("ident", sorted(entries()))
def test_every_entry_is_usable(ident: str) -> None:
    e = entries()[ident]
    assert e.format in FEED_FORMATS and e.format != "auto", "a catalog entry names its format"
    assert e.category in CATEGORIES and e.category not in ("authority", "custom")
    url = urlsplit(e.url)
    assert url.scheme == "https" and url.hostname and "." in url.hostname
    assert e.licence and e.name and 10 < len(e.description) <= 120 and "\n" not in e.description
    # the id is a valid feed name too, so `name = id` works without thinking
    cfg = config_mod.from_dict({"feeds": [{"name": ident, "catalog": ident}]})
    assert (cfg.feeds[0].url, cfg.feeds[0].format, cfg.feeds[0].category) == (e.url, e.format, e.category)


def test_urls_are_unique() -> None:
    urls = [e.url for e in entries().values()]
    assert len(urls) == len(set(urls))


@pytest.mark.shared
@pytest.mark.parametrize("ident", sorted(SNAPSHOT_PATHS))
def test_urls_match_the_sources_of_the_sample_data(ident: str) -> None:
    sources = SHARED / "SOURCES.md"
    if not sources.exists():
        pytest.skip("../shared/data is absent")
    repo, path, sample = SNAPSHOT_PATHS[ident]
    text = sources.read_text()
    row = next((ln for ln in text.splitlines() if f"`{sample}`" in ln), "")
    # HaGeZi rows say "same : `dns-blocklists/wildcard/...`" (the official mirror's layout)
    assert (repo in row or "same :" in row) and f"{path}`" in row, f"SOURCES.md does not name {path} for {sample}"
    assert entries()[ident].url.endswith("/" + path)
    assert repo.split("/")[0].lower() in entries()[ident].url.lower()


@pytest.mark.shared
@pytest.mark.parametrize("ident,sample,least", [
    ("ut1-social-networks", "ut1/social_networks.domains", 600),
    ("ut1-dating", "ut1/dating.domains", 6000),
])
def test_catalog_format_compiles_the_real_sample(tmp_path: Path, ident: str, sample: str, least: int) -> None:
    src = SHARED / sample
    if not src.exists():
        pytest.skip("../shared/data is absent")
    stats = compile_feed(src, entries()[ident].format, tmp_path / "out.dset")
    assert stats.entries >= least and stats.format == entries()[ident].format


def test_catalog_fills_url_format_category_and_may_be_overridden() -> None:
    cfg = config_mod.from_dict({"feeds": [
        {"name": "pro", "catalog": "hagezi-pro"},
        {"name": "kids", "catalog": "stevenblack-gambling-porn", "category": "gambling", "format": "auto"},
    ]})
    pro, kids = cfg.feeds
    assert pro.url == "https://raw.githubusercontent.com/hagezi/dns-blocklists/main/wildcard/pro-onlydomains.txt"
    assert (pro.format, pro.category, pro.catalog, pro.remote) == ("domains", "ads", "hagezi-pro", True)
    assert (kids.format, kids.category) == ("auto", "gambling")


@pytest.mark.parametrize("wanted,hint", [
    ("hagezi-prp", "hagezi-pro"),
    ("HaGeZi-Pro", "hagezi-pro"),
    ("nsfw", "hagezi-nsfw"),
    ("oisd", "oisd-big"),
])
def test_unknown_id_lists_close_matches(wanted: str, hint: str) -> None:
    with pytest.raises(ConfigError) as e:
        config_mod.from_dict({"feeds": [{"name": "x", "catalog": wanted}]})
    assert e.value.key == "feeds[0].catalog" and repr(hint) in e.value.why and "did you mean" in e.value.why
    assert hint in close_matches(wanted)


def test_unknown_id_without_any_match() -> None:
    with pytest.raises(CatalogError) as e:
        lookup("zzzzzzzz")
    assert e.value.suggestions == [] and "did you mean" not in str(e.value)


def test_catalog_and_url_are_exclusive_and_one_is_needed() -> None:
    with pytest.raises(ConfigError, match="either url or catalog"):
        config_mod.from_dict({"feeds": [{"name": "x", "catalog": "hagezi-pro", "url": "https://e.test/l"}]})
    with pytest.raises(ConfigError) as e:
        config_mod.from_dict({"feeds": [{"name": "x"}]})
    assert e.value.key == "feeds[0].url" and "catalog" in e.value.why


@pytest.mark.parametrize("text,why", [
    ('[a]\nname = "A"\nurl = "https://e.test"\nformat = "domains"\ncategory = "ads"\nlicence = "MIT"\n', "description"),
    ('[a]\nname = "A"\nurl = "https://e.test"\nformat = "domains"\ncategory = "ads"\nlicence = "MIT"\n'
     'description = "d"\nmirror = "x"\n', "unknown field"),
    ('a = 1\n', "must be a table"),
])
def test_a_broken_catalog_entry_is_named(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse(text)

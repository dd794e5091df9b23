"""feeds/catalog.toml and `catalog = "id"` in the config."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dnsfilter import config as config_mod
from dnsfilter.config import ConfigError
from dnsfilter.config.feeds import CATEGORIES, FEED_FORMATS
from feeds.catalog import CatalogError, close_matches, default_for, entries, lookup, parse
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
    "ut1-violence": ("olbat/ut1-blacklists", "blacklists/agressif/domains", "ut1/agressif.domains"),
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
    home = urlsplit(e.homepage)
    assert home.scheme == "https" and home.hostname and e.entries > 0
    # the id is a valid feed name too, so `name = id` works without thinking
    cfg = config_mod.from_dict({"feeds": [{"name": ident, "catalog": ident}]})
    assert (cfg.feeds[0].url, cfg.feeds[0].format, cfg.feeds[0].category) == (e.url, e.format, e.category)


def test_every_category_the_ui_offers_has_its_list() -> None:
    """A parent may tick any of these (setup's levels, the profile page): each one has a
    catalog list to turn on, so that choosing it protects."""
    from webui.edits import LEVELS
    from webui.views import TOGGLE_CATEGORIES

    offered = set(TOGGLE_CATEGORIES) | {c for cats in LEVELS.values() for c in cats}
    assert offered <= set(CATEGORIES)
    for c in sorted(offered):
        entry = default_for(c)
        assert entry is not None, f"no default catalog list for the category {c!r}"
        assert entry.category == c and entry.default
    assert default_for("authority") is None and default_for("custom") is None


def test_one_default_per_category() -> None:
    text = '[a]\nname = "A"\nurl = "https://e.test/a"\nformat = "domains"\ncategory = "ads"\nlicence = "MIT"\n' \
           'description = "a list of names"\nhomepage = "https://e.test"\nentries = 5\ndefault = true\n'
    assert parse(text)["a"].default
    with pytest.raises(ValueError, match="more than one default list for the category 'ads'"):
        parse(text + text.replace("[a]", "[b]").replace("/a", "/b"))
    with pytest.raises(ValueError, match="entries"):
        parse(text.replace("entries = 5", 'entries = "many"'))


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


SNAPSHOT_COUNTS = {ident: sample for ident, (_r, _p, sample) in SNAPSHOT_PATHS.items()}


@pytest.mark.shared
@pytest.mark.parametrize("ident", sorted(SNAPSHOT_COUNTS))
def test_sizes_match_the_snapshots(tmp_path: Path, ident: str) -> None:
    """The catalog's "about N names" is the snapshot's compiled count, within a fifth (lists
    change; a figure off by more is out of date or wrong)."""
    src = SHARED / SNAPSHOT_COUNTS[ident]
    if not src.exists():
        pytest.skip("../shared/data is absent")
    e = entries()[ident]
    lines = sum(1 for ln in src.read_bytes().splitlines() if ln.strip() and not ln.startswith((b"#", b"!")))
    stats = compile_feed(src, e.format, tmp_path / "out.dset")
    assert stats.entries > 0
    assert 0.8 * lines <= e.entries <= 1.25 * lines, (ident, e.entries, lines, stats.entries)


@pytest.mark.shared
@pytest.mark.parametrize("ident,sample,least", [
    ("ut1-social-networks", "ut1/social_networks.domains", 600),
    ("ut1-dating", "ut1/dating.domains", 6000),
    ("ut1-violence", "ut1/agressif.domains", 250),
    ("hagezi-nsfw", "hagezi/nsfw.onlydomains.txt", 100000),
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
     'description = "d"\nhomepage = "https://e.test"\nmirror = "x"\n', "unknown field"),
    ('[a]\nname = "A"\nurl = "https://e.test"\nformat = "domains"\ncategory = "ads"\nlicence = "MIT"\n'
     'description = "d"\nhomepage = "https://e.test"\n', "entries"),
    ('a = 1\n', "must be a table"),
])
def test_a_broken_catalog_entry_is_named(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse(text)


def test_a_mirror_serves_catalog_lists_by_id() -> None:
    cfg = config_mod.from_dict({"catalog": {"mirror": "http://127.0.0.1:8000/lists/"},
                                "feeds": [{"name": "kids", "catalog": "hagezi-nsfw"},
                                          {"name": "own", "url": "https://e.test/own.txt"}]})
    assert cfg.feeds[0].url == "http://127.0.0.1:8000/lists/hagezi-nsfw"
    assert (cfg.feeds[0].format, cfg.feeds[0].category) == ("domains", "adult")
    assert cfg.feeds[1].url == "https://e.test/own.txt"  # only catalog lists are mirrored
    for bad in ("ftp://mirror.test", "/srv/lists", "http://a b", 5):
        with pytest.raises(ConfigError) as e:
            config_mod.from_dict({"catalog": {"mirror": bad}})
        assert e.value.key == "catalog.mirror"
    with pytest.raises(ConfigError) as e:
        config_mod.from_dict({"catalog": {"mirrors": "https://x.test"}})
    assert e.value.key == "catalog.mirrors"

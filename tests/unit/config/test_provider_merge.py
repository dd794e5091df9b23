"""The merge of a provider's bundle under the household's file (dnsfilter/config/provider.py):
bundle first, then the household key by key and feeds by name; a household value at a locked
path is refused (left out, with the reason), whether it changes, disables, removes or re-adds
what the provider locks; the household's profiles and devices are always its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsfilter import config
from dnsfilter.config import ConfigError
from dnsfilter.config.provider import check_bundle, merge

BUNDLE = {
    "serial": 5,
    "locked": ["dns.upstreams", "feeds.gov", "protection"],
    "dns": {"upstreams": ["192.0.2.53"], "block_mode": "nxdomain"},
    "protection": {"always_allow": ["helpline.example"]},
    "defaults": {"block_categories": ["ads", "malware"]},
    "feeds": [{"name": "gov", "url": "https://registry.example/g.txt", "category": "authority"},
              {"name": "isp-ads", "url": "https://isp.example/ads.txt", "category": "ads"}],
}
HOME = {
    "dns": {"upstreams": ["9.9.9.9"], "block_mode": "null", "cache_size": 100},
    "defaults": {"block_categories": ["ads"], "profile": "Kids"},
    "protection": {"always_allow": ["other.example"]},
    "feeds": [{"name": "gov", "url": "https://registry.example/g.txt", "category": "authority", "enabled": False},
              {"name": "isp-ads", "url": "https://mine.example/ads.txt", "category": "ads"},
              {"name": "own", "url": "own.txt", "category": "adult"}],
    "profiles": [{"name": "Kids", "block_categories": ["adult"]}],
    "devices": [{"name": "tab", "mac": "aa:bb:cc:dd:ee:ff", "profile": "Kids"}],
}


def test_household_on_top_except_where_locked() -> None:
    out, m = merge(BUNDLE, HOME)
    assert out["dns"] == {"upstreams": ["192.0.2.53"], "block_mode": "null", "cache_size": 100}
    assert out["defaults"] == {"block_categories": ["ads"], "profile": "Kids"}  # not locked: the household's
    assert out["protection"] == {"always_allow": ["helpline.example"]}  # a locked section
    feeds = {f["name"]: f for f in out["feeds"]}
    assert "enabled" not in feeds["gov"]  # the household cannot turn a locked list off
    assert feeds["isp-ads"]["url"] == "https://mine.example/ads.txt"  # not locked: replaced by name
    assert list(feeds) == ["gov", "isp-ads", "own"]
    assert out["profiles"] == HOME["profiles"] and out["devices"] == HOME["devices"]
    assert m.serial == 5 and m.feeds == frozenset({"gov", "isp-ads"})
    assert [k for k, _ in m.refused] == ["dns.upstreams", "protection.always_allow", "feeds.gov"]
    assert all("bundle serial 5" in why for _k, why in m.refused)
    assert m.is_locked("feeds.gov") and m.is_locked("protection.always_allow") and not m.is_locked("feeds.own")


def test_a_household_value_equal_to_the_providers_is_no_refusal() -> None:
    home = {"dns": {"upstreams": ["192.0.2.53"]},
            "feeds": [dict(BUNDLE["feeds"][0])]}  # type: ignore[index]
    _out, m = merge(BUNDLE, home)
    assert m.refused == ()


def test_a_locked_list_the_bundle_dropped_cannot_be_re_added() -> None:
    bundle = {**BUNDLE, "feeds": [BUNDLE["feeds"][1]]}  # type: ignore[index]
    out, m = merge(bundle, HOME)
    assert "gov" not in [f["name"] for f in out["feeds"]] and ("feeds.gov" in [k for k, _ in m.refused])


def test_all_feeds_locked() -> None:
    out, m = merge({**BUNDLE, "locked": ["feeds"]}, HOME)
    assert [f["name"] for f in out["feeds"]] == ["gov", "isp-ads"]
    assert sorted(k for k, _ in m.refused) == ["feeds.gov", "feeds.isp-ads", "feeds.own"]


@pytest.mark.parametrize(("bundle", "key"), [
    ({"locked": []}, "bundle.serial"),
    ({"serial": 0}, "bundle.serial"),
    ({"serial": True}, "bundle.serial"),
    ({"serial": 1, "profiles": []}, "bundle.profiles"),
    ({"serial": 1, "storage": {}}, "bundle.storage"),
    ({"serial": 1, "provider": {}}, "bundle.provider"),
    ({"serial": 1, "locked": "dns"}, "bundle.locked"),
    ({"serial": 1, "locked": ["devices"]}, "bundle.locked[0]"),
    ({"serial": 1, "locked": ["dns..upstreams"]}, "bundle.locked[0]"),
])
def test_bundles_of_the_wrong_shape(bundle: dict, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_bundle(bundle)
    assert e.value.key == key


def test_the_loader_merges_the_bundle_in_force(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[provider]\nbundle_url = "https://isp.example/b.toml"\n'
                 'public_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"\n'
                 '[dns]\nupstreams = ["9.9.9.9"]\n')
    assert config.load(p).managed.serial == 0 and [u.text for u in config.load(p).dns.upstreams] == ["9.9.9.9"]
    (tmp_path / "var" / "provider").mkdir(parents=True)
    (tmp_path / "var" / "provider" / "bundle.toml").write_text(
        'serial = 2\nlocked = ["dns.upstreams"]\n[dns]\nupstreams = ["192.0.2.53"]\n')
    cfg = config.load(p)
    assert cfg.managed.serial == 2 and [u.text for u in cfg.dns.upstreams] == ["192.0.2.53"]
    assert cfg.managed.refused[0][0] == "dns.upstreams"
    (tmp_path / "var" / "provider" / "bundle.toml").write_text("serial = [")
    with pytest.raises(ConfigError, match="cannot be read"):
        config.load(p)


@pytest.mark.parametrize(("provider", "key"), [
    ('bundle_url = "ftp://x"\npublic_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"', "provider.bundle_url"),
    ('bundle_url = "https://x.example/b"\npublic_key = "abc"', "provider.public_key"),
    ('bundle_url = "https://x.example/b"\npublic_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"\n'
     'interval = "10s"', "provider.interval"),
    ('bundle_url = "https://x.example/b"\npublic_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"\n'
     'colour = 1', "provider.colour"),
])
def test_provider_section_errors_name_the_key(tmp_path: Path, provider: str, key: str) -> None:
    p = tmp_path / "config.toml"
    p.write_text(f"[provider]\n{provider}\n")
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert e.value.key == key

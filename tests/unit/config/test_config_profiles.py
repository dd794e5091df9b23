"""Config keys of profiles, devices and [network]: every key parsed, every mistake named."""

from __future__ import annotations

import pytest

from dnsfilter.config import from_dict
from dnsfilter.config.values import ConfigError

KIDS = {
    "name": "Kids", "block_categories": ["adult", "gambling"], "block_services": ["tiktok", "games"],
    "allow": ["khanacademy.org", "*.kids.example"], "deny": ["example.com"], "safe_search": True,
    "youtube": "moderate", "block_bypass": True, "allow_only": False,
    "budgets": {"youtube": "60m", "games": "2h", "roblox": 45},
    "schedules": [{"name": "bedtime", "days": ["sun", "mon", "tue", "wed", "thu"], "start": "21:00",
                   "end": "07:00", "block": "all"},
                  {"days": ["weekdays"], "start": "15:00", "end": "18:00", "block": ["games", "youtube"]}],
}


def cfg(**over) -> dict:
    base = {"general": {"timezone": "Asia/Almaty"}, "profiles": [dict(KIDS), {"name": "Adults"}],
            "defaults": {"profile": "Adults"},
            "devices": [{"name": "tab", "mac": "AA-BB-CC-DD-EE-FF", "profile": "Kids"},
                        {"name": "pc", "ip": "192.168.1.5", "profile": "Adults"}],
            "network": {"neighbours": True, "lease_files": ["/tmp/dhcp.leases"], "trusted_forwarders": ["127.0.0.1"]}}
    base.update(over)
    return base


def test_every_profile_key() -> None:
    c = from_dict(cfg())
    k = c.profiles[0]
    assert k.block_services == ("tiktok", "games") and k.safe_search and k.youtube == "moderate"
    assert k.block_bypass and not k.allow_only
    assert dict(k.budgets) == {"youtube": 60, "games": 120, "roblox": 45}
    assert [s.name for s in k.schedules] == ["bedtime", "schedule 2"]
    assert k.schedules[1].block == ("games", "youtube") and k.schedules[0].start == "21:00"
    assert c.devices[0].mac == "aa:bb:cc:dd:ee:ff"
    assert c.network.lease_files == ("/tmp/dhcp.leases",) and c.network.trusted_forwarders == ("127.0.0.1",)


def bad_profile(**over) -> dict:
    return cfg(profiles=[{**KIDS, **over}, {"name": "Adults"}])


@pytest.mark.parametrize(("data", "key", "words"), [
    (bad_profile(block_services=["tiktokk"]), "profiles[0].block_services[0]", "unknown service"),
    (bad_profile(youtube="loose"), "profiles[0].youtube", "strict"),
    (bad_profile(budgets={"youtube": "an hour"}), "profiles[0].budgets.youtube", "not a duration"),
    (bad_profile(budgets={"chess": "1h"}), "profiles[0].budgets.chess", "neither a category nor a service"),
    (bad_profile(schedules=[{"days": ["mon"], "start": "25:00", "end": "07:00"}]),
     "profiles[0].schedules[0].start", "time of day"),
    (bad_profile(schedules=[{"days": ["funday"], "start": "21:00", "end": "07:00"}]),
     "profiles[0].schedules[0]", "funday"),
    (bad_profile(schedules=[{"days": ["mon"], "start": "21:00", "end": "21:00"}]),
     "profiles[0].schedules[0]", "empty"),
    (bad_profile(schedules=[{"days": ["mon"], "start": "21:00", "end": "22:00", "block": ["chess"]}]),
     "profiles[0].schedules[0].block[0]", "neither"),
    (bad_profile(schedules=[{"days": ["mon"], "start": "21:00", "end": "22:00", "lock": "all"}]),
     "profiles[0].schedules[0].lock", "unknown"),
    (bad_profile(safe_search="yes"), "profiles[0].safe_search", "must be a bool"),
    (cfg(devices=[{"mac": "aa:bb:cc", "profile": "Kids"}]), "devices[0].mac", "not a MAC address"),
    (cfg(devices=[{"profile": "Kids"}]), "devices[0]", "mac, ip or cidr"),
    (cfg(network={"trusted_forwarders": ["router"]}), "network.trusted_forwarders", ""),
    (cfg(network={"leases": []}), "network.leases", "unknown"),
    ({**cfg(), "dns": {"workers": 2}}, "dns.workers", "budgets"),
])
def test_mistakes_name_their_key(data: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(data)
    assert e.value.key.startswith(key), (e.value.key, str(e.value))
    assert words in str(e.value)


def test_a_schedule_until_midnight_loads_and_builds() -> None:
    from dnsfilter.assemble import build_time_rules

    kids = dict(KIDS, schedules=[{"name": "late", "days": ["daily"], "start": "23:00", "end": "00:00"}])
    c = from_dict(cfg(profiles=[kids, {"name": "Adults"}]))
    assert c.profiles[0].schedules[0].end == "00:00"
    rules = build_time_rules(c)
    assert rules is not None

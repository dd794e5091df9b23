"""[portal], [notify] and block_page: defaults, the country's helplines, and one-line errors."""

from __future__ import annotations

import pytest

from dnsfilter.config import ConfigError, Listen, from_dict
from dnsfilter.config.portal import WeeklyTime


def test_defaults() -> None:
    c = from_dict({"general": {"timezone": "Asia/Almaty"}, "portal": {}})
    assert c.portal is not None and c.portal.listen == (Listen("", 80, "lan"),)
    assert c.portal.country == "KZ" and [h.phone for h in c.portal.helplines] == ["111", "150"]
    assert c.portal.report_url == "https://safekaznet.kz/"
    assert c.notify.weekly_report == WeeklyTime(6, 18, 0) and c.notify.urls == ()
    assert from_dict({}).portal is None  # no [portal]: no page


def test_helplines_and_hotline_of_the_household() -> None:
    c = from_dict({"general": {"timezone": "Europe/Berlin"},
                   "portal": {"listen": ["127.0.0.1:8081", "[::1]:8081"], "report_url": "https://hotline.example/",
                              "helplines": [{"phone": "116 111", "name": "Nummer gegen Kummer",
                                             "ru": "Телефон доверия", "url": "https://www.nummergegenkummer.de/"}]}})
    p = c.portal
    assert p.country == "" and p.listen == (Listen("127.0.0.1", 8081), Listen("::1", 8081))
    [h] = p.helplines
    assert (h.phone, h.name("en"), h.name("ru"), h.name("kk")) == ("116 111", "Nummer gegen Kummer",
                                                                   "Телефон доверия", "Nummer gegen Kummer")


@pytest.mark.parametrize(("data", "key"), [
    ({"portal": {"listen": ["nowhere:99999"]}}, "portal.listen[0]"),
    ({"portal": {"country": "KAZ"}}, "portal.country"),
    ({"portal": {"helplines": [{"name": "x"}]}}, "portal.helplines[0].phone"),
    ({"portal": {"helplines": [{"phone": "111"}]}}, "portal.helplines[0].name"),
    ({"portal": {"report_url": "javascript:alert(1)"}}, "portal.report_url"),
    ({"portal": {"bogus": 1}}, "portal.bogus"),
    ({"notify": {"weekly_report": "sundae 18:00"}}, "notify.weekly_report"),
    ({"notify": {"weekly_report": "sun 25:00"}}, "notify.weekly_report"),
    ({"notify": {"urls": ["mailto://u:SECRET@x example"]}}, "notify.urls[0]"),
    ({"notify": {"language": "de"}}, "notify.language"),
    ({"profiles": [{"name": "Kids", "block_page": True}]}, "profiles[0].block_page"),
])
def test_errors_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(data)
    assert e.value.key == key
    assert "SECRET" not in str(e.value)


def test_weekly_report_forms() -> None:
    for text, want in (("Sunday 18:00", WeeklyTime(6, 18, 0)), ("mon 7:30", WeeklyTime(0, 7, 30)), ("off", None),
                       ("", None)):
        assert from_dict({"notify": {"weekly_report": text}}).notify.weekly_report == want

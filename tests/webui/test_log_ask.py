""""Allow this" / "Block this" ask first: for this device or the whole profile, for an hour,
until midnight or always; they say when the rule wins over quiet hours, and never act on the
whole household from a device without a profile without saying so. Short rules are expiring
overrides in the runtime store (core/policy/overrides.py), listed and ended on the profile page
and through /api/overrides; "always" for a profile stays a config edit."""

from __future__ import annotations

import datetime as dt
import re
import time
import zoneinfo
from html import unescape
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dnsfilter.storage.store import DeviceStore
from tests.webui.helpers import LAPTOP, TABLET, csrf_of


def _overrides(config_path: Path) -> list:
    store = DeviceStore(config_path.parent / "var" / "dnsfilter.db")
    try:
        return store.overrides(time.time())
    finally:
        store.close()


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_row_button_asks_first(logged: FlaskClient, config_path: Path) -> None:
    log = logged.get("/log").get_data(as_text=True)
    assert 'method="get" action="/log/allow"' in log  # a link to the question, not a change
    before = config_path.read_bytes()
    page = logged.get(f"/log/allow?name=adult.example&device={TABLET}&f_outcome=blocked")
    text = _text(page.get_data(as_text=True))
    assert page.status_code == 200 and "Allow adult.example?" in text
    assert "Only on this device: Aru's tablet" in text and "Every device in the profile Kids" in text
    assert "1 hour" in text and "Until midnight" in text and "Always" in text
    assert "even at bedtime" in text  # said plainly: the rule wins over quiet hours
    assert config_path.read_bytes() == before and _overrides(config_path) == []


def test_an_hour_on_this_device_is_an_expiring_override(logged: FlaskClient, config_path: Path) -> None:
    before = config_path.read_bytes()
    r = logged.post("/log/allow", data={"csrf_token": csrf_of(logged, "/log"), "name": "adult.example",
                                        "device": TABLET, "scope": "device", "for": "1h", "f_outcome": "blocked"})
    assert r.status_code == 302 and "outcome=blocked" in r.location
    [o] = _overrides(config_path)
    assert (o.target, o.name, o.action) == (f"device:{TABLET}", "adult.example", "allow")
    assert o.until is not None and 3590 < o.until - time.time() <= 3600
    assert config_path.read_bytes() == before  # not a setting: nothing in the config
    until = dt.datetime.fromtimestamp(o.until, zoneinfo.ZoneInfo("Asia/Almaty")).strftime("%H:%M")
    html = _text(logged.get(r.location).get_data(as_text=True))
    assert f"adult.example is allowed on Aru's tablet until {until}." in html
    # the profile page lists it, and ends it
    page = logged.get("/profiles/Kids").get_data(as_text=True)
    assert "Rules for now" in page and f"until {until}" in _text(page)
    r = logged.post(f"/overrides/{o.id}/end", data={"csrf_token": csrf_of(logged, "/profiles/Kids"), "profile": "Kids"})
    assert r.status_code == 302 and _overrides(config_path) == []


def test_today_for_the_profile_ends_at_local_midnight(logged: FlaskClient, config_path: Path) -> None:
    logged.post("/log/block", data={"csrf_token": csrf_of(logged, "/log"), "name": "games.example",
                                    "device": TABLET, "scope": "profile", "for": "today"})
    [o] = _overrides(config_path)
    assert (o.target, o.action) == ("profile:Kids", "block")
    local = dt.datetime.fromtimestamp(o.until, zoneinfo.ZoneInfo("Asia/Almaty"))  # type: ignore[arg-type]
    assert (local.hour, local.minute) == (0, 0) and 0 < o.until - time.time() <= 86400  # type: ignore[operator]


def test_a_device_without_a_profile_says_who_else_is_concerned(logged: FlaskClient) -> None:
    text = _text(logged.get(f"/log/block?name=news.example&device={LAPTOP}").get_data(as_text=True))
    assert "Every device in the default profile Default" in text
    assert "has no profile of its own" in text and "rule for all of them" in text
    anon = _text(logged.get("/log/allow?name=casino.example&device=").get_data(as_text=True))
    assert "Only on this device" not in anon and "no device recorded" in anon


@pytest.mark.parametrize("data", [
    {"scope": "device"}, {"for": "1h"}, {"scope": "everyone", "for": "1h"}, {"scope": "device", "for": "1y"},
    {"scope": "device", "for": "1h", "device": ""},
])
def test_an_incomplete_answer_asks_again_and_changes_nothing(logged: FlaskClient, config_path: Path,
                                                             data: dict[str, str]) -> None:
    before = config_path.read_bytes()
    form = {"csrf_token": csrf_of(logged, "/log"), "name": "adult.example", "device": TABLET, **data}
    r = logged.post("/log/allow", data=form)
    assert r.status_code == 400 and "Choose who and for how long." in r.get_data(as_text=True)
    assert config_path.read_bytes() == before and _overrides(config_path) == []


def test_api_overrides(logged: FlaskClient, config_path: Path) -> None:
    h = {"X-CSRF-Token": logged.get("/api/session").get_json()["csrf_token"]}
    r = logged.post("/api/overrides", headers=h, json={"target": f"device:{TABLET.upper()}", "name": "adult.example",
                                                       "action": "allow", "for": "15m"})
    j = r.get_json()
    assert r.status_code == 200 and j["target"] == f"device:{TABLET}" and 890 < j["until"] - time.time() <= 900
    assert [o["name"] for o in logged.get("/api/overrides").get_json()["overrides"]] == ["adult.example"]
    for bad in ({"target": "device:ff:ff:ff:ff:ff:ff"}, {"target": "profile:Nobody"}, {"action": "maybe"},
                {"for": "1y"}, {"name": "not a name"}, {"name": 5}):
        body = {"target": "profile:Kids", "name": "x.example", "action": "block", "for": "1h", **bad}
        assert logged.post("/api/overrides", headers=h, json=body).status_code == 400, bad
    assert logged.delete(f"/api/overrides/{j['id']}", headers=h).get_json()["ok"]
    assert logged.delete(f"/api/overrides/{j['id']}", headers=h).status_code == 404
    assert _overrides(config_path) == []

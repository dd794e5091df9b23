"""Dashboard and Query log pages (Flask test client, a real query log written through the
daemon's batch/LogStore code): auth, filters, privacy, and "Allow this" / "Block this"."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dnsfilter import config as config_mod
from dnsfilter.core.logbatch import batch
from dnsfilter.core.querylog import log_info
from dnsfilter.storage.logstore import FILE, LogStore
from tests.webui.helpers import LAPTOP, TABLET, csrf_of
from tests.webui.logdata import write_log


def _text(client: FlaskClient, path: str) -> str:
    r = client.get(path)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    return r.get_data(as_text=True)


def test_login_required(set_up: Flask) -> None:
    c = set_up.test_client()
    for path in ("/", "/log"):
        r = c.get(path)
        assert r.status_code == 302 and "/login" in r.location
    r = c.post("/log/allow", data={"name": "adult.example"})
    assert r.status_code == 400  # no CSRF token: refused before the login check


def test_dashboard_is_the_landing_page(logged: FlaskClient) -> None:
    html = _text(logged, "/")
    assert "<h1>Dashboard</h1>" in html
    assert re.search(r'id="today-queries">7<', html) and re.search(r'id="today-blocked">4<', html)
    assert 'id="today-percent">57.1%<' in html
    assert "adult.example" in html and "games.example" in html and "casino.example" in html
    assert "Adult content" in html and "Gambling" in html  # categories in words
    assert "Aru&#39;s tablet" in html and "office" in html  # names as the Devices page shows them
    assert "Not recorded" in html  # the anonymised guest: no client shown
    assert "192.168.1.77" not in html
    assert html.count("<svg") == 2 and html.count("<rect") == 2 * (24 + 7)  # a bar pair per hour and per day
    assert html.count("<tr><td>") == 24 + 7  # and the same numbers as a table
    assert "<script" not in html


def test_dashboard_without_a_log_says_so(client: FlaskClient) -> None:
    html = _text(client, "/")
    assert "Nothing recorded yet" in html and "<svg" not in html


def test_logging_off_is_said_in_plain_words(client: FlaskClient, config_path: Path) -> None:
    text = config_path.read_text().replace('name = "Kids"', 'name = "Kids"\nprivacy = "off"')
    text = text.replace('name = "Default"\n', 'name = "Default"\nprivacy = "off"\n', 1)
    config_path.write_text(text)
    config_mod.load(config_path)
    for path in ("/", "/log"):
        assert "Query logging is off for every profile" in _text(client, path)


def test_privacy_notes_name_the_profiles(logged: FlaskClient) -> None:
    html = _text(logged, "/log")
    assert "<strong>Guests</strong>: Sites looked up are recorded, but not which device" in html


def test_log_rows_and_reasons(logged: FlaskClient) -> None:
    html = _text(logged, "/log")
    assert html.index("casino.example") < html.index("news.example") < html.index("adult.example")  # newest first
    assert "Blocked: Adult content" in html and "Blocked by your deny list" in html
    assert "Blocked: Gambling" in html and "Allowed (from memory)" in html
    assert html.count(">Allow this<") == 4 and html.count(">Block this<") == 3
    assert "192.168.1.77" not in html  # anonymised: neither address nor device


@pytest.mark.parametrize(("query", "present", "absent"), [
    (f"device={TABLET}", ["adult.example", "school.example"], ["news.example", "casino.example"]),
    (f"device={LAPTOP}", ["news.example"], ["adult.example"]),
    ("name=ADULT", ["adult.example"], ["games.example", "news.example"]),
    ("name=%25", [], ["adult.example"]),  # a LIKE wildcard is matched literally
    ("outcome=blocked", ["adult.example", "games.example", "casino.example"], ["school.example", "news.example"]),
    ("outcome=cached", ["news.example"], ["school.example", "adult.example"]),
    ("limit=1", ["casino.example"], ["news.example"]),
])
def test_filters(logged: FlaskClient, query: str, present: list[str], absent: list[str]) -> None:
    html = _text(logged, f"/log?{query}")
    cards = html[html.index('<ul class="cards log">'):]
    for name in present:
        assert name in cards, (query, name)
    for name in absent:
        assert name not in cards, (query, name)


@pytest.mark.parametrize("query", ["outcome=nonsense", "limit=0", "limit=501", "limit=x", "limit=%C2%B2",
                                   "name=" + "a" * 300])
def test_bad_filters_get_a_clear_message(logged: FlaskClient, query: str) -> None:
    r = logged.get(f"/log?{query}")
    assert r.status_code == 400
    assert 'class="error" role="alert"' in r.get_data(as_text=True)


def _post(c: FlaskClient, verb: str, **data: str) -> str:
    """The ask page's POST, "always" for the profile: the config edit (tests/webui/test_log_ask.py
    has the other choices, which make expiring rules)."""
    data.setdefault("csrf_token", csrf_of(c, "/log"))
    data.setdefault("scope", "profile")
    data.setdefault("for", "always")
    r = c.post(f"/log/{verb}", data=data, follow_redirects=True)
    assert r.status_code == 200
    return r.get_data(as_text=True)


def _profile(config_path: Path, name: str) -> config_mod.Profile:
    return next(p for p in config_mod.load(config_path).profiles if p.name == name)


def test_allow_this_goes_to_the_devices_profile(logged: FlaskClient, config_path: Path) -> None:
    html = _post(logged, "allow", name="adult.example", device=TABLET, f_outcome="blocked")
    assert "adult.example is now allowed in the profile Kids." in html
    assert 'name="outcome"' in html and '<option value="blocked" selected' in html  # the filters kept
    assert _profile(config_path, "Kids").allow == ("adult.example",)
    assert "# the children's profile" in config_path.read_text()  # comments kept: the same writer
    assert config_mod.load(config_path).filter.allow == ()


def test_block_this_then_allow_moves_the_name(logged: FlaskClient, config_path: Path) -> None:
    _post(logged, "block", name="news.example", device=LAPTOP)
    assert _profile(config_path, "Default").deny == ("news.example",)
    _post(logged, "allow", name="news.example", device=LAPTOP)
    prof = _profile(config_path, "Default")
    assert prof.allow == ("news.example",) and prof.deny == ()  # no contradicting rules left behind


def test_a_row_without_a_device_edits_the_household_list(logged: FlaskClient, config_path: Path) -> None:
    html = _post(logged, "allow", name="casino.example", device="")
    assert "casino.example is now allowed for the whole household." in html
    assert config_mod.load(config_path).filter.allow == ("casino.example",)


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "not a name", "device": TABLET}, "This is not a site name"),
    ({"name": "", "device": TABLET}, "This is not a site name"),
    ({"name": "nul\x00.example", "device": TABLET}, "This is not a site name"),
    ({"name": "пример.example", "device": TABLET}, "This is not a site name"),
    ({"name": "bad_label!.example", "device": TABLET}, "Not saved"),
    ({"name": "adult.example", "device": "ff:ff:ff:ff:ff:ff"}, "The device is not known."),
    ({"name": "adult.example", "device": "<script>"}, "The device is not known."),
])
def test_hostile_input_changes_nothing(logged: FlaskClient, config_path: Path, data: dict[str, str],
                                       message: str) -> None:
    before = config_path.read_bytes()
    html = _post(logged, "allow", **data)
    assert message in html and 'class="error"' in html
    assert config_path.read_bytes() == before


def test_csrf_is_required(logged: FlaskClient, config_path: Path) -> None:
    before = config_path.read_bytes()
    r = logged.post("/log/allow", data={"name": "adult.example", "device": TABLET, "csrf_token": "forged"})
    assert r.status_code == 400 and config_path.read_bytes() == before
    assert logged.post("/log/nonsense", data={"csrf_token": csrf_of(logged, "/log")}).status_code == 404


def test_live_view_refreshes_without_script(logged: FlaskClient) -> None:
    html = _text(logged, "/log?live=1&outcome=blocked")
    assert '<meta http-equiv="refresh" content="10">' in html and "<script" not in html
    assert '<meta http-equiv="refresh"' not in _text(logged, "/log")


def test_nav_links(logged: FlaskClient) -> None:
    html = _text(logged, "/devices")
    assert 'href="/">Dashboard<' in html and 'href="/log">Query log<' in html


def test_blocking_what_the_household_allows_says_it_stays_allowed(logged: FlaskClient, config_path: Path) -> None:
    _post(logged, "allow", name="school.example", device="")  # the whole household
    html = _post(logged, "block", name="school.example", device=TABLET)
    assert "school.example is now blocked in the profile Kids." in html
    assert "It stays allowed: the list for the whole household allows it." in html
    assert _profile(config_path, "Kids").deny == ("school.example",)


def test_rows_before_today_show_their_date(client: FlaskClient, config_path: Path) -> None:
    write_log(config_path.parent / "var", now=time.time() - 3 * 86400)
    html = _text(client, "/log")
    assert re.search(r"<time [^>]*>\d\d\.\d\d \d\d:\d\d:\d\d</time>", html), html[-2000:]


def test_hashed_list_rows_and_hostile_names(client: FlaskClient, config_path: Path) -> None:
    """A name from a hashed list is never shown (nor offered to allow); a name a client made up
    to attack the page is shown as text."""
    now = time.time()
    evil = '<img src=x onerror="alert(1)">.example'
    store = LogStore(config_path.parent / "var" / FILE)
    store.write(batch([
        (now - 2, "192.168.1.40", LAPTOP, log_info("Default", "secret.example", 1, "blocked", "category", "adult",
                                                   "hashed-feed")),
        (now - 1, "192.168.1.40", LAPTOP, log_info("Default", evil, 1, "resolved")),
    ], 0.0, {}, hashed_feeds=frozenset({"hashed-feed"})))
    store.close()
    for path in ("/log", "/"):
        html = _text(client, path)
        assert "secret.example" not in html and "<img src=x" not in html
    html = _text(client, "/log")
    assert "(name hidden: private list)" in html and "&lt;img src=x" in html
    assert html.count(">Allow this<") == 0 and html.count(">Block this<") == 1


def test_a_refused_name_is_explained_in_the_pages_language(logged: FlaskClient, config_path: Path) -> None:
    logged.post("/language", data={"csrf_token": csrf_of(logged, "/log"), "lang": "ru"})
    before = config_path.read_bytes()
    html = _post(logged, "allow", name="bad_label!.example", device=TABLET)
    flash = re.search(r'<p class="error" role="status">([^<]*)</p>', html)
    assert flash and flash.group(1).startswith("Не сохранено: "), html[-3000:]
    assert re.search("[а-я]", flash.group(1).split(":", 2)[-1]), flash.group(1)  # the reason too, not only the frame
    assert config_path.read_bytes() == before

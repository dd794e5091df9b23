"""Children's requests in the admin UI (Flask test client, real stores): the badge on every
page, the Dashboard and the Requests page with one-tap answers and the audit, /api/requests,
the weekly report page, and the notification addresses kept private and masked."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dnsfilter.notify.urls import path_of
from dnsfilter.storage.child_requests import RequestStore
from dnsfilter.storage.store import DeviceStore
from tests.webui.helpers import TABLET, csrf_of
from tests.webui.test_i18n import english_words

SECRET_URL = "mailto://parent:Sup3rSecret@mail.example.kz?to=parent@example.kz"


def make_requests(config_path: Path) -> None:
    store = RequestStore(config_path.parent / "var" / "dnsfilter.db")
    try:
        store.create(device=TABLET, label="aru-tablet", profile="Kids", kind="site", name="game.example",
                     reason="category", category="games", wanted="15m")
        store.create(device=TABLET, label="aru-tablet", profile="Kids", kind="time", name="youtube", wanted="1h")
    finally:
        store.close()


def test_the_badge_on_every_page_and_the_dashboard(client: FlaskClient, config_path: Path) -> None:
    assert "<summary>Menu</summary>" in client.get("/devices").get_data(as_text=True)  # nothing waiting
    make_requests(config_path)
    for page in ("/devices", "/profiles", "/settings", "/requests", "/"):
        html = client.get(page).get_data(as_text=True)
        assert re.search(r'<summary>Menu <span class="badge"[^>]*>2</span>', html), page
        assert re.search(r'href="/requests"[^>]*>Requests <span class="badge">2</span>', html), page
    dash = client.get("/").get_data(as_text=True)
    assert "Requests waiting for you" in dash and "game.example" in dash and "aru-tablet" in dash
    assert "Allow: 15 min" in dash and "+ Today" in dash and "Say no" in dash
    assert "Why it was closed: Blocked: Games." in dash


def test_one_tap_answers_and_the_audit(client: FlaskClient, config_path: Path) -> None:
    make_requests(config_path)
    csrf = csrf_of(client, "/requests")
    # the daemon is not running: the allow is stored, and applied when it starts
    r = client.post("/requests/1", data={"csrf_token": csrf, "action": "approve", "for": "1h", "back": "dashboard"})
    assert r.status_code == 302 and r.location.endswith("/")
    assert "Allowed: game.example." in client.get("/").get_data(as_text=True)
    store = DeviceStore(config_path.parent / "var" / "dnsfilter.db")
    try:
        [o] = store.overrides(time.time())
    finally:
        store.close()
    assert (o.target, o.name, o.action, o.source) == (f"device:{TABLET}", "game.example", "allow", "request:1")
    assert 3500 < (o.until or 0) - time.time() <= 3600
    # more time needs the running filter (the budget lives there): refused, and still open
    r = client.post("/requests/2", data={"csrf_token": csrf, "action": "approve", "for": "15m"})
    page = client.get("/requests").get_data(as_text=True)
    assert "Not done: more time could not be given: the filter is not running" in page
    client.post("/requests/2", data={"csrf_token": csrf, "action": "deny"})
    page = client.get("/requests?id=1").get_data(as_text=True)
    assert "No request is waiting." in page
    assert re.search(r"Allowed by admin on \d{4}-\d\d-\d\d \d\d:\d\d: 1 hour, until", page)
    assert "in force" in page and re.search(r"Refused by admin on", page)
    assert 'id="r1" aria-current="true"' in page
    r = client.post("/requests/1", data={"csrf_token": csrf, "action": "deny"})
    assert "Not done: request 1 was approved already (by admin)" in client.get("/requests").get_data(as_text=True)
    # without the CSRF token nothing happens
    assert client.post("/requests/99", data={"action": "deny"}).status_code == 400


def test_the_api(client: FlaskClient, config_path: Path) -> None:
    make_requests(config_path)
    body = client.get("/api/requests?state=open").get_json()
    assert [(r["id"], r["device"], r["name"], r["kind"], r["state"]) for r in body["requests"]] == [
        (2, TABLET, "youtube", "time", "open"), (1, TABLET, "game.example", "site", "open")]
    assert body["requests"][0]["device_name"] == "aru-tablet"
    token = client.get("/api/session").get_json()["csrf_token"]
    r = client.post("/api/requests/1", json={"action": "deny"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.get_json()["request"]["state"] == "denied"
    assert r.get_json()["request"]["answered_by"] == "admin"
    assert client.post("/api/requests/1", json={"action": "deny"}, headers={"X-CSRF-Token": token}).status_code == 400
    assert client.post("/api/requests/77", json={"action": "deny"}, headers={"X-CSRF-Token": token}).status_code == 404
    assert client.get("/api/requests?state=bogus").status_code == 400


def test_notification_addresses_are_kept_private_and_masked(client: FlaskClient, config_path: Path) -> None:
    csrf = csrf_of(client, "/settings/notifications")
    r = client.post("/settings/notifications", data={"csrf_token": csrf, "action": "add", "url": SECRET_URL})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Sup3rSecret" not in page and "mailto://mail.example.kz/…" in page
    path = path_of(config_path.parent / "var")
    assert json.loads(path.read_text())["urls"] == [SECRET_URL]
    assert not path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    assert "Sup3rSecret" not in config_path.read_text()  # never in the settings file
    bad = client.post("/settings/notifications", data={"csrf_token": csrf, "action": "add", "url": "not a url"})
    assert bad.status_code == 400 and "This is not a notification address" in bad.get_data(as_text=True)
    r = client.post("/settings/notifications", data={"csrf_token": csrf, "action": "weekly", "day": "mon",
                                                     "time": "07:30"})
    assert 'weekly_report = "mon 07:30"' in config_path.read_text()
    assert "# household config: this comment must survive every edit" in config_path.read_text()
    client.post("/settings/notifications", data={"csrf_token": csrf, "action": "remove", "index": "0"})
    assert json.loads(path.read_text())["urls"] == []


def test_the_weekly_report_page(client: FlaskClient, config_path: Path) -> None:
    make_requests(config_path)
    page = client.get("/report").get_data(as_text=True)
    assert "Weekly report" in page and "Kids" in page and "Requests: 2 (allowed 0, refused 0)" in page


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_the_new_pages_are_translated(client: FlaskClient, config_path: Path, lang: str) -> None:
    make_requests(config_path)
    client.post("/language", data=dict(csrf_token=csrf_of(client, "/"), lang=lang))
    client.post("/requests/1", data={"csrf_token": csrf_of(client, "/requests"), "action": "deny"})
    for page in ("/", "/requests", "/report", "/settings/notifications"):
        html = client.get(page).get_data(as_text=True)
        assert f'<html lang="{lang}">' in html
        # the test's own data and the examples of addresses stay as they are
        left = english_words(html) - {"aru", "tablet", "game", "youtube", "admin", "mailto", "user", "password",
                                      "mail", "kz", "tgram", "ntfy", "ntfys", "json", "Telegram", "Apprise", "Kids",
                                      "host", "path", "bot", "token", "chat", "id", "server", "topic", "lan", "http", "JSON"}
        assert left == set(), (page, left)

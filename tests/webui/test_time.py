"""Schedules and daily limits on the Profiles page and under /api: saved into the config with
comments kept, refused next to the field with nothing written, and today's use from the
daemon's `usage` command (a stand-in socket here; the real command is tested in
tests/integration/test_profiles.py)."""

from __future__ import annotations

import json
import socket
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.webui.helpers import TABLET, csrf_of

PAGE = "/profiles/Kids/time"


def _api(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/session").get_json()["csrf_token"]}


def _kids(config_path: Path) -> dict:
    return next(p for p in tomllib.loads(config_path.read_text())["profiles"] if p["name"] == "Kids")


def _bedtime(client: FlaskClient, **over: str) -> dict[str, str]:
    data = {"csrf_token": csrf_of(client, PAGE), "s0_name": "bedtime", "s0_start": "21:00", "s0_end": "07:00",
            "s0_all": "1", **{f"s0_{d}": "1" for d in ("mon", "tue", "wed", "thu", "sun")},
            "b0_item": "youtube", "b0_minutes": "60"}
    data.update(over)
    return data


def test_schedule_and_limit_are_saved_with_comments_kept(client: FlaskClient, config_path: Path) -> None:
    r = client.post(PAGE, data=_bedtime(client))
    assert r.status_code == 200 and "Saved" in r.get_data(as_text=True)
    kids = _kids(config_path)
    assert kids["schedules"] == [{"name": "bedtime", "days": ["mon", "tue", "wed", "thu", "sun"],
                                  "start": "21:00", "end": "07:00", "block": "all"}]
    assert kids["budgets"] == {"youtube": "60m"}
    text = config_path.read_text()
    assert "# household config: this comment must survive every edit" in text and "# the children's profile" in text
    page = client.get(PAGE).get_data(as_text=True)
    assert 'value="bedtime"' in page and 'value="21:00"' in page and 'value="60"' in page
    # a second window blocking only games; then the first is removed
    r = client.post(PAGE, data=_bedtime(client, s1_name="homework", s1_start="15:00", s1_end="17:00", s1_all="0",
                                        s1_block="games", s1_mon="1"))
    assert r.status_code == 200
    assert _kids(config_path)["schedules"][1]["block"] == ["games"]
    r = client.post(PAGE, data=_bedtime(client, s0_remove="1", b0_remove="1"))
    assert r.status_code == 200
    assert "schedules" not in _kids(config_path) and "budgets" not in _kids(config_path)


@pytest.mark.parametrize(("over", "field", "words"), [
    ({"s0_start": "25:00"}, "s0_start", "not a time of day"),
    ({"s0_end": "21:00"}, "s0", "window would be empty"),
    ({f"s0_{d}": "" for d in ("mon", "tue", "wed", "thu", "sun")}, "s0_days", "at least one day"),
    ({"s0_all": "0"}, "s0_block", "Choose what to block"),
    ({"s0_all": "0", "s0_block": "<script>"}, "s0_block", "neither a category nor a service"),
    ({"b0_item": "nosuchthing"}, "budget_nosuchthing", "neither a category nor a service"),
    ({"b0_minutes": "3 days"}, "budget_youtube", "not a duration"),
    ({"b0_minutes": "2000"}, "budget_youtube", "must be between 0 and 1440"),
    ({"b1_item": "youtube", "b1_minutes": "5"}, "budget_youtube", "two limits"),
])
def test_hostile_input_is_shown_next_to_the_field_and_nothing_saved(
        client: FlaskClient, config_path: Path, over: dict[str, str], field: str, words: str) -> None:
    before = config_path.read_bytes()
    r = client.post(PAGE, data=_bedtime(client, **over))
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert f'id="{field}-error"' in html, html
    assert words in html
    assert config_path.read_bytes() == before
    assert "&lt;script&gt;" in html or "<script>" not in html  # escaped if echoed at all


def test_usage_says_plainly_when_the_filter_is_not_running(client: FlaskClient) -> None:
    assert "The filter is not running" in client.get(PAGE).get_data(as_text=True)
    j = client.get("/api/usage").get_json()
    assert j["ok"] and j["running"] is False and j["usage"] == {}


@pytest.fixture
def fake_daemon(config_path: Path) -> Iterator[list[str]]:
    """A control socket answering `usage` like the daemon, recording the commands it got."""
    path = config_path.parent / "var" / "control.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen()
    got: list[str] = []
    reply = {"ok": True, "usage": {"Kids": {"limits": {"youtube": 30}, "reset_at": 2e9, "devices": {
        TABLET: {"youtube": {"used": 30, "limit": 30}}, "192.168.1.99": {"youtube": {"used": 4, "limit": 30}}}}}}

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile().readline().strip()
                got.append(line)
                conn.sendall(json.dumps(reply if line == "usage" else {"ok": True}).encode() + b"\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield got
    srv.close()


def test_usage_per_device_from_the_daemon(client: FlaskClient, config_path: Path, fake_daemon: list[str]) -> None:
    client.post(PAGE, data=_bedtime(client, b0_minutes="30"))
    html = client.get(PAGE).get_data(as_text=True)
    assert "aru-tablet" in html  # the device's name, not its MAC
    assert "30 of 30 minutes" in html and "limit reached" in html
    assert "192.168.1.99" in html and "4 of 30 minutes" in html
    assert "usage" in fake_daemon and "reload" in fake_daemon
    j = client.get("/api/usage").get_json()
    assert j["running"] and j["usage"]["Kids"]["devices"][TABLET]["youtube"]["used"] == 30


def test_api_sets_schedules_and_budgets(client: FlaskClient, config_path: Path) -> None:
    h = _api(client)
    r = client.patch("/api/profiles/Kids", headers=h, json={
        "schedules": [{"name": "school", "days": ["weekdays"], "start": "08:00", "end": "13:00",
                       "block": ["games", "social"]}],
        "budgets": {"games": "1h30m"}, "safe_search": True})
    assert r.status_code == 200, r.get_json()
    kids = _kids(config_path)
    assert kids["schedules"][0]["days"] == ["mon", "tue", "wed", "thu", "fri"]
    assert kids["budgets"] == {"games": "1h30m"} and kids["safe_search"] is True
    got = next(p for p in client.get("/api/profiles").get_json()["profiles"] if p["name"] == "Kids")
    assert got["budgets"] == {"games": 90} and got["schedules"][0]["block"] == ["games", "social"]
    # budgets alone keep the schedules
    assert client.patch("/api/profiles/Kids", headers=h, json={"budgets": {}}).status_code == 200
    assert "budgets" not in _kids(config_path) and _kids(config_path)["schedules"]


@pytest.mark.parametrize(("body", "field"), [
    ({"schedules": "bedtime"}, "schedules"),
    ({"schedules": [{"start": "21:00", "end": "07:00", "days": "daily"}]}, "schedules[0].days"),
    ({"schedules": [{"start": "21:00", "end": "99:00", "days": ["daily"]}]}, "schedules[0].end"),
    ({"budgets": {"youtube": True}}, "budgets"),
    ({"budgets": {"youtube": "forever"}}, "budgets.youtube"),
    ({"budgets": {"youtube": "1m"}, "safe_search": "yes"}, "safe_search"),
])
def test_api_refuses_bad_time_rules(client: FlaskClient, config_path: Path, body: dict, field: str) -> None:
    before = config_path.read_bytes()
    r = client.patch("/api/profiles/Kids", headers=_api(client), json=body)
    assert r.status_code == 400 and r.get_json()["field"] == field, r.get_json()
    assert config_path.read_bytes() == before

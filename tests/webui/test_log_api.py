"""JSON twins of the Dashboard and Query log: /api/dashboard, /api/log, /api/log/allow|block
(same auth as the rest of /api: a session plus X-CSRF-Token, or a bearer token)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dnsfilter import config as config_mod
from tests.webui.helpers import LAPTOP, TABLET
from tests.webui.logdata import KIDS_DEVICE, write_log
from webui import state


def _csrf(c: FlaskClient) -> dict[str, str]:
    return {"X-CSRF-Token": c.get("/api/session").get_json()["csrf_token"]}


def test_auth_required(set_up: Flask) -> None:
    c = set_up.test_client()
    for path in ("/api/dashboard", "/api/log"):
        r = c.get(path)
        assert r.status_code == 401 and r.get_json()["ok"] is False
    r = c.post("/api/log/allow", json={"name": "adult.example", "device": TABLET})
    assert r.status_code == 400  # no CSRF header and no token


def test_bearer_token(set_up: Flask, config_path: Path) -> None:
    with config_path.open("a", encoding="utf-8") as f:
        f.write(KIDS_DEVICE)
    write_log(config_path.parent / "var")
    with set_up.app_context():
        token = state().secrets.create_token("home assistant")
    c = set_up.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/dashboard", headers=auth).get_json()["summary"]["queries"] == 7
    r = c.post("/api/log/block", json={"name": "school.example", "device": TABLET}, headers=auth)
    assert r.status_code == 200 and r.get_json()["profile"] == "Kids"
    assert "school.example" in next(p for p in config_mod.load(config_path).profiles if p.name == "Kids").deny
    assert c.get("/api/log", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_dashboard_json(logged: FlaskClient) -> None:
    d = logged.get("/api/dashboard").get_json()
    s = d["summary"]
    assert (s["queries"], s["blocked"], s["percent_blocked"]) == (7, 4, 57.1)
    assert s["top_blocked_names"][0] == {"name": "adult.example", "count": 2}
    assert {c["category"]: c["label"] for c in s["top_blocked_categories"]}["adult"] == "Adult content"
    names = {x["device"]: x["name"] for x in s["devices"]}
    assert names[TABLET] == "Aru's tablet" and names[LAPTOP] == "office" and names[""] == "Not recorded"
    assert len(d["series_24h"]) == 24 and len(d["series_7d"]) == 7
    assert sum(b["queries"] for b in d["series_24h"]) == 7
    assert d["logging"]["privacy"]["Guests"] == "anonymous" and not d["logging"]["all_off"]


def test_log_json_filters(logged: FlaskClient) -> None:
    rows = logged.get("/api/log").get_json()["rows"]
    assert [r["name"] for r in rows][:2] == ["casino.example", "news.example"]
    guest = rows[0]
    assert guest["device"] == "" and guest["ip"] == "" and guest["device_name"] == "Not recorded"
    assert guest["reason"] == "Blocked: Gambling"
    r = logged.get(f"/api/log?device={TABLET}&outcome=blocked&name=adult&limit=1").get_json()["rows"]
    assert len(r) == 1 and r[0]["name"] == "adult.example" and r[0]["reason"] == "Blocked: Adult content"
    assert r[0]["device_name"] == "Aru's tablet"
    bad = logged.get("/api/log?limit=9999")
    assert bad.status_code == 400 and bad.get_json()["field"] == "limit"


def test_allow_and_block(logged: FlaskClient, config_path: Path) -> None:
    h = _csrf(logged)
    r = logged.post("/api/log/allow", json={"name": "Adult.Example.", "device": TABLET}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() | {"reloaded": False, "reload_message": ""} == {
        "ok": True, "name": "adult.example", "profile": "Kids", "list": "allow", "reloaded": False,
        "reload_message": "", "household_allows": False}
    r = logged.post("/api/log/block", json={"name": "casino.example"}, headers=h)
    assert r.status_code == 200 and r.get_json()["profile"] is None
    cfg = config_mod.load(config_path)
    assert cfg.filter.deny == ("casino.example",)
    assert next(p for p in cfg.profiles if p.name == "Kids").allow == ("adult.example",)


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"name": "adult.example", "device": "ff:ff:ff:ff:ff:ff"}, 404, "device"),
    ({"name": 5, "device": TABLET}, 400, "name"),
    ({"name": "adult.example", "device": ["x"]}, 400, "name"),
    ({"name": "no spaces.example x", "device": TABLET}, 400, "name"),
    ({"name": "bad_label!.example", "device": TABLET}, 400, "allow"),
    ({}, 400, "name"),
])
def test_bad_input_changes_nothing(logged: FlaskClient, config_path: Path, body: dict[str, object], status: int,
                                   field: str) -> None:
    before = config_path.read_bytes()
    r = logged.post("/api/log/allow", json=body, headers=_csrf(logged))
    assert r.status_code == status, r.get_json()
    assert r.get_json()["ok"] is False and r.get_json()["error"]
    assert r.get_json().get("field", "").startswith(field), r.get_json()
    assert config_path.read_bytes() == before


def test_session_without_csrf_is_refused(logged: FlaskClient, config_path: Path) -> None:
    before = config_path.read_bytes()
    r = logged.post("/api/log/block", json={"name": "school.example", "device": TABLET},
                    headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 400 and config_path.read_bytes() == before

"""Setup gate, login, throttling, CSRF, headers, cookies, API tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webui.helpers import CONFIG, PASSWORD, TABLET, csrf_of, do_setup, login, setup_code_of

PAGES = ["/", "/devices", "/profiles", "/profiles/Kids", "/settings", "/login"]


def test_everything_redirects_to_setup_until_it_is_done(app: Flask, config_path: Path) -> None:
    c = app.test_client()
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 302 and r.location.endswith("/setup"), path
    assert c.get("/api/devices").status_code == 503
    r = c.post(f"/devices/{TABLET}/profile", data={"profile": "Kids"})
    assert r.status_code in (302, 400)
    assert config_path.read_text() == CONFIG


@pytest.mark.parametrize("over, field", [
    ({"password": "short", "password2": "short"}, "at least 10"),
    ({"password2": "something else entirely"}, "not the same"),
    ({"timezone": "Mars/Olympus"}, "time zone"),
    ({"level": "everything"}, "protection level"),
    ({"language": "xx"}, "language"),
])
def test_bad_setup_saves_nothing(app: Flask, config_path: Path, over: dict[str, str], field: str) -> None:
    c = app.test_client()
    data = dict(csrf_token=csrf_of(c, "/setup"), password=PASSWORD, password2=PASSWORD, language="en",
                timezone="UTC", level="basic", code=setup_code_of(c))
    data.update(over)
    r = c.post("/setup", data=data)
    assert r.status_code == 400 and field in r.get_data(as_text=True)
    assert config_path.read_text() == CONFIG
    assert not (config_path.parent / "var" / "webui" / "admin.json").exists()
    assert f'value="{data["code"]}"' in r.get_data(as_text=True)  # the right code is not asked for again


@pytest.mark.parametrize("code", [None, "", "000000000", "12345678", "1234567890", "<b>x</b>", "１２３４５６７８９"])
def test_setup_without_the_code_changes_nothing(app: Flask, config_path: Path, code: str | None) -> None:
    """Until setup is done anyone on the LAN can reach the page: without the code the daemon
    printed, a request sets no password and changes no setting."""
    c = app.test_client()
    data = dict(csrf_token=csrf_of(c, "/setup"), password=PASSWORD, password2=PASSWORD, language="ru",
                timezone="Europe/Moscow", level="strict")
    real = setup_code_of(c)
    if code is not None:
        data["code"] = "000000001" if code == real else code
    r = c.post("/setup", data=data)
    html = r.get_data(as_text=True)
    assert r.status_code == 403 and 'id="code-error"' in html and "<b>x" not in html
    assert config_path.read_text() == CONFIG and not (config_path.parent / "config.toml.bak").exists()
    assert not (config_path.parent / "var" / "webui" / "admin.json").exists()
    assert c.get("/devices").location.endswith("/setup")  # still not set up, nobody logged in


def test_setup_code_is_one_time_and_guessing_is_throttled(app: Flask, config_path: Path) -> None:
    c = app.test_client()
    csrf_of(c, "/setup")  # showing the page makes the code when no daemon has
    code = setup_code_of(c)
    form = dict(password=PASSWORD, password2=PASSWORD, language="en", timezone="UTC", level="basic")
    for _ in range(5):
        r = c.post("/setup", data=dict(csrf_token=csrf_of(c, "/setup"), code="111-111-111", **form))
        assert r.status_code == 403
    r = c.post("/setup", data=dict(csrf_token=csrf_of(c, "/setup"), code="111-111-111", **form))
    assert r.status_code == 429  # each further guess waits longer
    r = c.post("/setup", data=dict(csrf_token=csrf_of(c, "/setup"), code=code, **form))
    assert r.status_code == 429  # even the right code waits: nothing is tried while throttled
    assert config_path.read_text() == CONFIG
    # typed with the dashes the log shows, after the wait: accepted, then gone
    app.extensions["dnsfilter"].throttle.succeeded("setup:127.0.0.1")
    shown = "-".join(code[i:i + 3] for i in (0, 3, 6))
    r = c.post("/setup", data=dict(csrf_token=csrf_of(c, "/setup"), code=shown, **form))
    assert r.status_code == 302 and r.location.endswith("/welcome")
    assert not (config_path.parent / "var" / "webui" / "setup-code").exists()


def test_setup_writes_config_and_hashes_the_password(app: Flask, config_path: Path) -> None:
    do_setup(app.test_client(), timezone="Asia/Almaty", level="strict")
    text = config_path.read_text()
    assert 'timezone = "Asia/Almaty"' in text and "# household config" in text
    assert '"social"' in text.split('name = "Default"')[1].split("[[profiles]]")[0]  # the default profile
    assert (config_path.parent / "config.toml.bak").read_text() == CONFIG
    assert 'catalog = "ut1-social-networks"' in text  # the level's lists, turned on in the same write
    admin = (config_path.parent / "var" / "webui" / "admin.json").read_text()
    assert PASSWORD not in admin and json.loads(admin)["n"] >= 2**14
    # a second setup is impossible
    c = app.test_client()
    assert c.get("/setup").location.endswith("/login")


def test_login_wrong_password_and_open_redirect(set_up: Flask) -> None:
    c = set_up.test_client()
    r = c.post("/login", data=dict(csrf_token=csrf_of(c, "/login"), password="wrong password"))
    assert r.status_code == 401 and "Wrong password" in r.get_data(as_text=True)
    assert c.get("/devices").status_code == 302
    r = c.post("/login?next=//evil.example/x", data=dict(csrf_token=csrf_of(c, "/login"), password=PASSWORD))
    assert r.location == "/"  # the Dashboard


@pytest.mark.parametrize("target", [
    "//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
    "/ /evil.example", "javascript:alert(1)", "evil.example", "/\x00/evil.example", "/\u0085/evil.example",
])
def test_login_lands_on_the_dashboard_unless_next_is_a_path_here(set_up: Flask, target: str) -> None:
    c = set_up.test_client()
    r = c.post("/login", query_string={"next": target}, data=dict(csrf_token=csrf_of(c, "/login"), password=PASSWORD))
    assert r.status_code == 302 and r.location == "/", (target, r.location)
    assert c.get("/login", query_string={"next": target}).location == "/"  # already logged in: the same


def test_login_goes_back_to_the_page_that_asked_for_it(set_up: Flask) -> None:
    c = set_up.test_client()
    r = c.get("/log?outcome=blocked")
    assert r.status_code == 302 and r.location == "/login?next=/log?outcome%3Dblocked"
    r = c.post(r.location, data=dict(csrf_token=csrf_of(c, "/login"), password=PASSWORD))
    assert r.location == "/log?outcome=blocked"
    c2 = set_up.test_client()
    r = c2.post("/login", data=dict(csrf_token=csrf_of(c2, "/login"), password=PASSWORD))
    assert r.location == "/"
    assert c2.get("/").status_code == 200


def test_throttling_backs_off_after_five_failures(set_up: Flask) -> None:
    c = set_up.test_client()
    throttle = set_up.extensions["dnsfilter"].throttle
    now = [1000.0]
    throttle.clock = lambda: now[0]
    for _ in range(5):
        assert c.post("/login", data=dict(csrf_token=csrf_of(c, "/login"), password="nope nope")).status_code == 401
    # locked: even the right password is refused, and the wait doubles with each failure
    r = c.post("/login", data=dict(csrf_token=csrf_of(c, "/login"), password=PASSWORD))
    assert r.status_code == 429
    assert throttle.wait("127.0.0.1") == pytest.approx(1.0)
    now[0] += 1.5
    assert c.post("/login", data=dict(csrf_token=csrf_of(c, "/login"), password="nope nope")).status_code == 401
    assert throttle.wait("127.0.0.1") == pytest.approx(2.0)
    now[0] += 2.5
    login(c)
    assert throttle.wait("127.0.0.1") == 0.0
    # another address was never affected
    assert throttle.wait("192.168.1.50") == 0.0


def test_csrf_missing_or_wrong_is_rejected_and_changes_nothing(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_text()
    r = client.post(f"/devices/{TABLET}/profile", data={"profile": "Kids"})
    assert r.status_code == 400 and "expired" in r.get_data(as_text=True)
    r = client.post(f"/devices/{TABLET}/profile", data={"profile": "Kids", "csrf_token": "forged"})
    assert r.status_code == 400
    r = client.patch("/api/profiles/Kids", json={"safe_search": True})
    assert r.status_code == 400 and r.get_json()["ok"] is False
    assert config_path.read_text() == before


def test_headers_and_cookie_flags(set_up: Flask) -> None:
    c = set_up.test_client()
    r = c.get("/login")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    https = set_up.test_client().get("/login", base_url="https://localhost")
    assert "Secure" in https.headers["Set-Cookie"]


def test_api_tokens(client: FlaskClient, set_up: Flask, config_path: Path) -> None:
    r = client.post("/settings", data=dict(csrf_token=csrf_of(client, "/settings"), action="token", name="home assistant"))
    token = r.get_data(as_text=True).split("<code>")[1].split("</code>")[0]
    stored = (config_path.parent / "var" / "webui" / "tokens.json").read_text()
    assert token not in stored
    anon = set_up.test_client()
    assert anon.get("/api/profiles").status_code == 401
    assert anon.get("/api/profiles", headers={"Authorization": "Bearer wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    r = anon.patch("/api/profiles/Kids", json={"safe_search": True}, headers=auth)
    assert r.status_code == 200, r.get_json()
    assert "safe_search = true" in config_path.read_text()
    # a token opens the API only, not the pages
    assert anon.get("/devices", headers=auth).status_code == 302
    tid = json.loads(stored)[0]["id"]
    client.post("/settings", data=dict(csrf_token=csrf_of(client, "/settings"), action="revoke", id=tid))
    assert anon.get("/api/profiles", headers=auth).status_code == 401


def test_password_change_ends_other_sessions(client: FlaskClient, set_up: Flask) -> None:
    other = set_up.test_client()
    login(other)
    new = "a brand new password"
    r = client.post("/settings", data=dict(csrf_token=csrf_of(client, "/settings"), action="password",
                                           current=PASSWORD, password=new, password2=new))
    assert r.status_code == 200 and "changed" in r.get_data(as_text=True)
    assert client.get("/devices").status_code == 200
    assert other.get("/devices").status_code == 302
    login(other, new)


def test_errors_never_show_tracebacks(client: FlaskClient) -> None:
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "Traceback" not in r.get_data(as_text=True)
    csrf = {"X-CSRF-Token": client.get("/api/session").get_json()["csrf_token"]}
    r = client.post("/api/devices/zz/profile", data="{not json", headers=csrf, content_type="application/json")
    assert r.status_code == 400 and r.get_json()["field"] == "profile"
    r = client.post("/api/devices/zz<script>/profile", json={"profile": "Kids"}, headers=csrf)
    assert r.status_code == 400 and "not a MAC address" in r.get_json()["error"]

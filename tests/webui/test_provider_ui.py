"""A managed router's web UI: what the provider's bundle sets and locks is shown read-only as
"set by your provider" (en, ru, kk), and a change to it is refused with that reason and nothing
written, on the pages and in the API; what is not locked is edited as before, and a restore
cannot drop the provider."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webui.helpers import CONFIG, csrf_of, do_setup, login
from webui import create_app

PROVIDER = """
[provider]
bundle_url = "https://provisioning.isp.example/bundle.toml"
public_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"

[[feeds]]
name = "own"
url = "own.txt"
format = "domains"
category = "adult"
"""
BUNDLE = """serial = 4
locked = ["dns.upstreams", "feeds.national"]

[dns]
upstreams = ["127.0.0.1:5300"]

[[feeds]]
name = "national"
url = "https://registry.example/dump.xml"
format = "registry-xml"
category = "authority"
legal_basis = "Law 149, art. 15.1"
"""


@pytest.fixture
def managed(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(CONFIG + PROVIDER, encoding="utf-8")
    (tmp_path / "own.txt").write_text("own.example\n")
    (tmp_path / "var" / "provider").mkdir(parents=True)
    # the bundle the sync child accepted (its signature and serial are checked there, tests/integration/test_provider.py)
    (tmp_path / "var" / "provider" / "bundle.toml").write_text(BUNDLE)
    return p


def client_for(path: Path, lang: str = "en") -> FlaskClient:
    app: Flask = create_app(str(path), testing=True)
    c = app.test_client()
    if lang != "en":
        c.post("/language", data=dict(csrf_token=csrf_of(c, "/setup"), lang=lang))
    do_setup(c, language=lang)
    login(c)
    return c


LOCKED_LIST = {"en": "set by your provider", "ru": "задано провайдером", "kk": "провайдер орнатқан"}
CANNOT = {"en": "Set by your provider: it cannot be changed here.",
          "ru": "Задано вашим провайдером: здесь это изменить нельзя.",
          "kk": "Провайдеріңіз орнатқан: мұнда өзгертуге болмайды."}
REFUSED = {"en": "set by your provider: it cannot be changed here",
           "ru": "задано вашим провайдером: здесь это изменить нельзя",
           "kk": "провайдеріңіз орнатқан: мұнда өзгертуге болмайды"}


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_locked_items_are_shown_read_only_in_each_language(managed: Path, lang: str) -> None:
    c = client_for(managed, lang)
    page = c.get("/feeds").get_data(as_text=True)
    national = page[page.index("<h2>national"):page.index("</li>", page.index("<h2>national"))]
    own = page[page.index("<h2>own"):page.index("</li>", page.index("<h2>own"))]
    assert LOCKED_LIST[lang] in national and 'value="disable"' not in national  # no way to turn it off
    assert LOCKED_LIST[lang] not in own and 'value="disable"' in own  # the household's own list
    settings = c.get("/settings").get_data(as_text=True)
    assert CANNOT[lang] in settings and 'readonly aria-describedby="upstreams-locked"' in settings
    assert "127.0.0.1:5300" in settings  # the provider's value is what is shown


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_turning_off_a_locked_list_is_refused_with_the_reason(managed: Path, lang: str) -> None:
    c = client_for(managed, lang)
    before = managed.read_bytes()
    r = c.post("/feeds", data={"csrf_token": csrf_of(c, "/feeds"), "action": "disable", "feed": "national"})
    assert r.status_code == 400 and REFUSED[lang] in r.get_data(as_text=True)
    assert managed.read_bytes() == before
    r = c.post("/feeds", data={"csrf_token": csrf_of(c, "/feeds"), "action": "disable", "feed": "own"})
    assert r.status_code == 302
    assert tomllib.loads(managed.read_text())["feeds"][0]["enabled"] is False


def test_settings_keep_the_providers_upstreams_and_refuse_other_ones(managed: Path) -> None:
    c = client_for(managed)
    form = {"csrf_token": csrf_of(c, "/settings"), "action": "general", "upstreams": "127.0.0.1:5300",
            "block_mode": "nxdomain", "block_ip": "", "timezone": "Asia/Almaty", "language": "en"}
    r = c.post("/settings", data=form)
    assert r.status_code == 200 and "Saved" in r.get_data(as_text=True)
    saved = tomllib.loads(managed.read_text())
    assert saved["dns"] == {"block_mode": "nxdomain"}  # the locked value is not copied into the household's file
    before = managed.read_bytes()
    r = c.post("/settings", data={**form, "csrf_token": csrf_of(c, "/settings"), "upstreams": "9.9.9.9"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "set by your provider: it cannot be changed here" in html
    assert managed.read_bytes() == before


def test_the_api_says_what_is_locked_and_refuses_it(managed: Path) -> None:
    c = client_for(managed)
    token = csrf_of(c, "/feeds")
    s = c.get("/api/settings").get_json()
    assert s["locked"] == ["upstreams"] and s["upstreams"] == ["127.0.0.1:5300"]
    feeds = {f["name"]: f for f in c.get("/api/feeds").get_json()["feeds"]}
    assert feeds["national"]["locked"] is True and feeds["own"]["locked"] is False
    before = managed.read_bytes()
    r = c.patch("/api/settings", json={"upstreams": ["9.9.9.9"]}, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and "set by your provider" in r.get_data(as_text=True)
    r = c.patch("/api/settings", json={"timezone": "Asia/Almaty"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "upstreams" not in tomllib.loads(managed.read_text()).get("dns", {})
    assert managed.read_bytes() != before


def test_a_restore_cannot_drop_the_provider(managed: Path) -> None:
    c = client_for(managed)
    before = managed.read_bytes()
    r = c.post("/settings", data={"csrf_token": csrf_of(c, "/settings"), "action": "restore",
                                  "file": (__import__("io").BytesIO(CONFIG.encode()), "config.toml")},
               content_type="multipart/form-data")
    assert r.status_code == 400 and "set by your provider" in r.get_data(as_text=True)
    assert managed.read_bytes() == before


def test_an_unlocked_list_of_the_bundle_can_be_turned_off_by_the_household(managed: Path) -> None:
    bundle = managed.parent / "var" / "provider" / "bundle.toml"
    bundle.write_text(BUNDLE.replace(', "feeds.national"', "") + '\n[[feeds]]\nname = "isp-ads"\n'
                      'url = "https://isp.example/ads.txt"\nformat = "domains"\ncategory = "ads"\n')
    c = client_for(managed)
    page = c.get("/feeds").get_data(as_text=True)
    assert "set by your provider" not in page[page.index("<h2>isp-ads"):]
    r = c.post("/feeds", data={"csrf_token": csrf_of(c, "/feeds"), "action": "disable", "feed": "isp-ads"})
    assert r.status_code == 302, r.get_data(as_text=True)
    own = {f["name"]: f for f in tomllib.loads(managed.read_text())["feeds"]}
    assert own["isp-ads"] == {"name": "isp-ads", "url": "https://isp.example/ads.txt", "format": "domains",
                              "category": "ads", "enabled": False}
    from dnsfilter import config

    assert not next(f for f in config.load(managed).feeds if f.name == "isp-ads").enabled

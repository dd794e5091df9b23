"""Config edits through the pages and the API: atomic, comments kept, a backup, and nothing
saved when the result is invalid."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from flask.testing import FlaskClient

from dnsfilter import config as config_mod
from tests.webui.helpers import LAPTOP, TABLET, csrf_of
from webui import configfile


def _api(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/session").get_json()["csrf_token"]}


def test_devices_page_lists_the_store(client: FlaskClient) -> None:
    html = client.get("/devices").get_data(as_text=True)
    assert "aru-tablet" in html and "Samsung" in html and "192.168.1.23" in html
    tablet, laptop = html.split("aru-tablet", 1)[1], html.split("office", 1)[1]
    assert "badge" in tablet.split("</h2>")[0]  # first seen a minute ago
    assert "badge" not in laptop.split("</h2>")[0]  # first seen a month ago
    devices = {d["mac"]: d for d in client.get("/api/devices").get_json()["devices"]}
    assert devices[TABLET]["new"] and not devices[LAPTOP]["new"]
    assert devices[TABLET]["profile"] == "Default"


def test_put_a_device_in_kids(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_text()
    inode = config_path.stat().st_ino
    r = client.post(f"/devices/{TABLET.upper()}/profile",
                    data=dict(csrf_token=csrf_of(client, "/devices"), profile="Kids", name="aru-tablet"))
    assert r.status_code == 302
    text = config_path.read_text()
    assert "# household config: this comment must survive every edit" in text and "# the children's profile" in text
    cfg = config_mod.load(config_path)
    assert [(d.mac, d.profile, d.name) for d in cfg.devices] == [(TABLET, "Kids", "aru-tablet")]
    assert (config_path.parent / "config.toml.bak").read_text() == before
    assert config_path.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert not [p for p in os.listdir(config_path.parent) if p.endswith(".tmp")]
    page = client.get("/devices").get_data(as_text=True)
    assert "The filter will use it when it next starts" in page  # no daemon in this test
    # the same device again updates its entry instead of adding one
    r = client.post(f"/api/devices/{TABLET}/profile", json={"profile": "Default"}, headers=_api(client))
    assert r.status_code == 200 and r.get_json()["reloaded"] is False
    assert [(d.mac, d.profile) for d in config_mod.load(config_path).devices] == [(TABLET, "Default")]


def test_unknown_profile_is_refused_and_nothing_saved(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_text()
    backup = config_path.parent / "config.toml.bak"
    old_backup = backup.read_text()  # written by setup
    r = client.post(f"/devices/{TABLET}/profile",
                    data=dict(csrf_token=csrf_of(client, "/devices"), profile="Nobody"))
    assert r.status_code == 302
    page = client.get("/devices").get_data(as_text=True)
    assert "Not saved" in page and "no profile named" in page
    assert config_path.read_text() == before
    assert backup.read_text() == old_backup


def test_profile_form_saves_toggles_and_lists(client: FlaskClient, config_path: Path) -> None:
    form = dict(csrf_token=csrf_of(client, "/profiles/Kids"), cat_ads="1", cat_adult="1", cat_gambling="1",
                service=["tiktok", "roblox"], safe_search="1", allow="khanacademy.org\nwikipedia.org",
                deny="example.com")
    r = client.post("/profiles/Kids", data=form)
    assert r.status_code == 200 and "Saved" in r.get_data(as_text=True)
    kids = next(p for p in config_mod.load(config_path).profiles if p.name == "Kids")
    assert kids.block_categories == ("ads", "adult", "gambling")
    assert kids.block_services == ("tiktok", "roblox")
    assert kids.safe_search and not kids.block_bypass
    assert kids.allow == ("khanacademy.org", "wikipedia.org") and kids.deny == ("example.com",)


def test_invalid_profile_edit_shows_the_field_and_saves_nothing(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_text()
    form = dict(csrf_token=csrf_of(client, "/profiles/Kids"), cat_ads="1", deny="good.example\nbad..name")
    r = client.post("/profiles/Kids", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and 'id="deny-error"' in html and "Nothing was saved" in html
    assert "bad..name" in html  # the parent's input is kept for correcting
    assert config_path.read_text() == before
    r = client.patch("/api/profiles/Kids", json={"block_services": ["not-a-service"]}, headers=_api(client))
    assert r.status_code == 400 and r.get_json()["field"] == "block_services"
    r = client.patch("/api/profiles/Kids", json={"hostname": "x"}, headers=_api(client))
    assert r.status_code == 400
    r = client.patch("/api/profiles/Kids", json={"safe_search": "yes"}, headers=_api(client))
    assert r.status_code == 400
    assert config_path.read_text() == before


def test_add_profile_keeps_the_default(client: FlaskClient, config_path: Path) -> None:
    r = client.post("/profiles", data=dict(csrf_token=csrf_of(client, "/profiles"), name="Teens"))
    assert r.status_code == 302 and r.location.endswith("/profiles/Teens")
    assert [p.name for p in config_mod.load(config_path).profiles] == ["Default", "Kids", "Teens"]
    r = client.post("/profiles", data=dict(csrf_token=csrf_of(client, "/profiles"), name="Kids"))
    assert r.status_code == 400 and "already exists" in r.get_data(as_text=True)


def test_first_profile_on_a_profileless_config(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[defaults]\nblock_categories = ["ads", "malware"]\n')
    from webui import edits

    configfile.apply(p, edits.add_profile("Kids"), reload=False)
    cfg = config_mod.load(p)
    assert [x.name for x in cfg.profiles] == ["Default", "Kids"] and cfg.defaults.profile == "Default"
    assert cfg.profiles[0].block_categories == ("ads", "malware")  # nobody lost protection


def test_pause_without_a_daemon_says_so(client: FlaskClient, config_path: Path) -> None:
    r = client.post(f"/devices/{TABLET}/pause", data=dict(csrf_token=csrf_of(client, "/devices"), minutes="30"))
    assert r.status_code == 302
    assert "not running" in client.get("/devices").get_data(as_text=True)
    r = client.post("/devices/unknown-device/pause", data=dict(csrf_token=csrf_of(client, "/devices"), minutes="30"))
    assert "Unknown device" in client.get("/devices").get_data(as_text=True)
    r = client.post(f"/api/devices/{TABLET}/pause", json={"minutes": 99999}, headers=_api(client))
    assert r.status_code == 400


def test_write_atomic_failure_leaves_the_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[general]\n")

    def broken(doc: configfile.TOMLDocument) -> None:
        doc["general"]["timezone"] = "Nowhere/Land"

    try:
        configfile.apply(p, broken, reload=False)
    except config_mod.ConfigError as e:
        assert e.key == "general.timezone"
    else:
        raise AssertionError("an invalid time zone was accepted")
    assert p.read_text() == "[general]\n" and tomllib.loads(p.read_text()) == {"general": {}}


def test_device_without_mac_is_placed_by_its_address(client: FlaskClient, config_path: Path) -> None:
    """Routed or loopback clients have no MAC: their single address goes into the config."""
    import time

    from dnsfilter.storage.store import DeviceStore, Observation

    store = DeviceStore(config_path.parent / "var" / "dnsfilter.db")
    store.observe_many([Observation("10.9.0.5", time.time(), ip="10.9.0.5")])
    store.close()
    r = client.post("/api/devices/10.9.0.5/profile", json={"profile": "Kids"}, headers=_api(client))
    assert r.status_code == 200, r.get_json()
    r = client.post("/api/devices/10.9.0.5/profile", json={"profile": "Default"}, headers=_api(client))
    assert [(d.ip, d.mac, d.profile) for d in config_mod.load(config_path).devices] == [("10.9.0.5", None, "Default")]
    rows = {d["id"]: d for d in client.get("/api/devices").get_json()["devices"]}
    assert rows["10.9.0.5"]["profile"] == "Default" and rows["10.9.0.5"]["assigned"] is True
    # an address the filter has never seen is not a device: nothing is written
    before = config_path.read_text()
    r = client.post("/api/devices/10.9.0.6/profile", json={"profile": "Kids"}, headers=_api(client))
    assert r.status_code == 400 and config_path.read_text() == before

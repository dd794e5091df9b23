"""The Feeds page and /api/feeds: catalog picker, custom web addresses, on/off, "sync now"
through the real CLI in a subprocess, and each list's status in plain words."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.webui.helpers import csrf_of


def _feeds(config_path: Path) -> list[dict]:
    return tomllib.loads(config_path.read_text()).get("feeds", [])


def _post(client: FlaskClient, **data: str):
    return client.post("/feeds", data={"csrf_token": csrf_of(client, "/feeds"), **data})


def test_add_from_the_catalog_then_turn_off_and_on(client: FlaskClient, config_path: Path) -> None:
    before = _feeds(config_path)  # setup's "family" level turned its lists on
    assert {"name": "hagezi-nsfw", "catalog": "hagezi-nsfw"} in before
    page = client.get("/feeds").get_data(as_text=True)
    assert 'value="hagezi-pro"' in page and '<option value="hagezi-nsfw"' not in page
    r = _post(client, action="catalog", catalog="hagezi-pro")
    assert r.status_code == 302
    assert _feeds(config_path) == [*before, {"name": "hagezi-pro", "catalog": "hagezi-pro"}]
    assert "# household config" in config_path.read_text()
    page = client.get("/feeds").get_data(as_text=True)
    assert "Not downloaded yet." in page and '<option value="hagezi-pro"' not in page  # no longer offered
    assert _post(client, action="disable", feed="hagezi-pro").status_code == 302
    assert _feeds(config_path)[-1]["enabled"] is False
    assert "off" in client.get("/feeds").get_data(as_text=True)
    assert _post(client, action="enable", feed="hagezi-pro").status_code == 302
    assert _feeds(config_path)[-1]["enabled"] is True
    r = _post(client, action="catalog", catalog="hagezi-pro")
    assert r.status_code == 400 and "already added" in r.get_data(as_text=True)


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"name": "mine", "url": "file:///etc/shadow", "category": "custom"}, "url", "https://"),
    ({"name": "mine", "url": "/etc/passwd", "category": "custom"}, "url", "https://"),
    ({"name": "../x", "url": "https://lists.example/x.txt", "category": "custom"}, "name", "letters, digits"),
    ({"name": "mine", "url": "https://lists.example/x.txt", "category": "weather"}, "category", "unknown category"),
    ({"name": "mine", "url": "https://a b", "category": "custom"}, "url", "https://"),
])
def test_custom_address_refused_next_to_the_field(client: FlaskClient, config_path: Path, data: dict,
                                                  field: str, words: str) -> None:
    before = config_path.read_bytes()
    r = _post(client, action="custom", **data)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and f'id="{field}-error"' in html and words in html, html
    assert config_path.read_bytes() == before


def test_unknown_catalog_id_and_action(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_bytes()
    r = _post(client, action="catalog", catalog="<b>evil</b>")
    assert r.status_code == 400 and 'id="catalog-error"' in r.get_data(as_text=True)
    assert "<b>evil" not in r.get_data(as_text=True)
    assert _post(client, action="explode").status_code == 400
    assert config_path.read_bytes() == before


def test_sync_now_runs_the_cli_and_shows_the_status(client: FlaskClient, config_path: Path, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("ads.example\ntracker.example\n")
    r = _post(client, action="custom", name="mine", url="https://lists.example/x.txt", category="ads")
    assert r.status_code == 302
    # a local file cannot be added from the UI; the operator's config may name one
    config_path.write_text(config_path.read_text().replace("https://lists.example/x.txt", str(tmp_path / "mine.txt")))
    r = client.post("/feeds/mine/sync", data={"csrf_token": csrf_of(client, "/feeds")}, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "was downloaded" in html and "Up to date: 2 sites" in html, html
    # a list that cannot be read: the error in plain words, the last good list still used
    (tmp_path / "mine.txt").unlink()
    r = client.post("/feeds/mine/sync", data={"csrf_token": csrf_of(client, "/feeds")}, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "could not be downloaded" in html and "The last download failed" in html and "still used" in html
    assert client.post("/feeds/nosuch/sync", data={"csrf_token": csrf_of(client, "/feeds")},
                       follow_redirects=True).get_data(as_text=True).count("There is no such list.") == 1


def test_api_feeds(client: FlaskClient, config_path: Path) -> None:
    h = {"X-CSRF-Token": client.get("/api/session").get_json()["csrf_token"]}
    j = client.get("/api/feeds").get_json()
    assert not any(c["id"] == "hagezi-light" for c in j["catalog"])  # setup turned it on for ads
    assert any(f["name"] == "hagezi-light" for f in j["feeds"])
    assert client.post("/api/feeds", headers=h, json={"catalog": "hagezi-pro"}).status_code == 200
    r = client.post("/api/feeds", headers=h, json={"name": "x", "url": "ftp://a", "category": "ads"})
    assert r.status_code == 400 and r.get_json()["field"] == "url"
    assert client.post("/api/feeds", headers=h, json={"catalog": 5}).status_code == 400
    assert client.patch("/api/feeds/hagezi-pro", headers=h, json={"enabled": False}).get_json()["ok"]
    assert client.patch("/api/feeds/hagezi-pro", headers=h, json={"enabled": "no"}).status_code == 400
    assert client.patch("/api/feeds/nosuch", headers=h, json={"enabled": True}).status_code == 400
    feed = client.get("/api/feeds").get_json()["feeds"][-1]
    assert feed["enabled"] is False and feed["state"] == "never"
    assert client.post("/api/feeds/nosuch/sync", headers=h).status_code == 400

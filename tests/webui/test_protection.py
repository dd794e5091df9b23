"""Choosing protection turns on the lists it needs, and the pages say what is really enforced:
setup's level and a profile's categories add the catalog's list of each chosen category; a
chosen category without a working list is "not enforced" on the profile page, in setup's
summary and in a Dashboard banner; a list whose update failed is named while its last good
copy keeps blocking. Lists are synced for real from a local HTTP server (`[catalog] mirror`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from dnsfilter import config as config_mod
from feeds.catalog import default_for
from feeds.sync import sync_feed
from tests.support.feedserver import FAST, FeedServer, Route
from tests.webui.helpers import csrf_of, do_setup
from webui import create_app

FAMILY = ("ads", "trackers", "malware", "phishing", "adult", "gambling", "drugs", "violence", "piracy")


@pytest.fixture
def mirrored(config_path: Path, server: FeedServer) -> Path:
    """The household config with catalog lists downloaded from the local feed server."""
    config_path.write_text(config_path.read_text() + f'\n[catalog]\nmirror = "{server.base}"\n')
    for c in FAMILY + ("dating", "social", "games", "video", "bypass"):
        e = default_for(c)
        assert e is not None
        server.routes[f"/{e.id}"] = Route(f"# {e.name}\nlisted-{c}.example.test\n".encode())
    return config_path


@pytest.fixture
def parent(mirrored: Path) -> FlaskClient:
    app = create_app(str(mirrored), testing=True)
    c = app.test_client()
    do_setup(c, level="family")
    return c


def _text(html: str) -> str:
    """What the page says, without its tags (list names are marked as English in a span)."""
    return re.sub(r"<[^>]+>", "", html)


def _feeds(path: Path) -> list[dict]:
    return tomllib.loads(path.read_text()).get("feeds", [])


def _sync_all(path: Path, session: requests.Session) -> None:
    cfg = config_mod.load(path)
    for f in cfg.feeds:
        sync_feed(cfg, f, session=session, fetch_options=FAST)


def test_setup_family_turns_on_a_list_for_every_category(parent: FlaskClient, mirrored: Path) -> None:
    ids = {f["catalog"] for f in _feeds(mirrored)}
    assert ids == {default_for(c).id for c in FAMILY}  # type: ignore[union-attr]
    # setup's summary, before any list is downloaded: nothing is enforced yet, each says why
    html = parent.get("/welcome").get_data(as_text=True)
    page = _text(html)
    assert "Not enforced" in page and "HaGeZi NSFW" in page and "github.com/hagezi/dns-blocklists" in page
    assert "GPL-3.0" in page and "is being downloaded" in page and "Check again" in html


def test_setup_page_says_which_lists_each_level_turns_on(app: Flask) -> None:
    page = app.test_client().get("/setup").get_data(as_text=True)
    family = _text(page.split('value="family"')[1].split('value="strict"')[0])
    assert "UT1 drugs" in family and "HaGeZi Anti Piracy" in family and "CC BY-SA 4.0" in family
    assert "UT1 games" not in family and "UT1 games" in _text(page.split('value="strict"')[1])


def test_profile_page_and_banner_follow_the_lists(parent: FlaskClient, mirrored: Path, server: FeedServer,
                                                  session: requests.Session) -> None:
    _sync_all(mirrored, session)
    page = parent.get("/profiles/Default").get_data(as_text=True)
    adult = _text(page.split('id="state-adult"')[1].split("</p>")[0])
    assert "Blocked with HaGeZi NSFW" in adult and "Not enforced" not in page
    assert "Some protection you chose is not working" not in parent.get("/").get_data(as_text=True)
    # the adult list's address breaks: the last good copy stays in force, the banner names it
    server.routes["/hagezi-nsfw"] = Route(b"", status=500)
    _sync_all(mirrored, session)
    banner = _text(parent.get("/").get_data(as_text=True).split('class="banner"')[1].split("</section>")[0])
    assert "Adult content" in banner and "Default" in banner and "Still blocked" in banner
    assert "could not be updated" in banner and "still used" in banner and "Not enforced" not in banner
    # ticking Dating on the Kids profile turns its list on, and says which and from where
    r = parent.post("/profiles/Kids", data={"csrf_token": csrf_of(parent, "/profiles/Kids"), "cat_adult": "1",
                                             "cat_dating": "1"})
    html = _text(r.get_data(as_text=True))
    assert r.status_code == 200 and "UT1 dating" in html and "dsi.ut-capitole.fr" in html, html
    assert any(f.get("catalog") == "ut1-dating" for f in _feeds(mirrored))
    page = parent.get("/profiles/Kids").get_data(as_text=True)
    assert "Not enforced yet" in _text(page.split('id="state-dating"')[1].split("</p>")[0])
    # a category whose list is turned off: not enforced, on the page and in the banner
    feeds = _feeds(mirrored)
    text = mirrored.read_text().replace('name = "ut1-drugs"\ncatalog = "ut1-drugs"',
                                        'name = "ut1-drugs"\ncatalog = "ut1-drugs"\nenabled = false')
    assert text != mirrored.read_text() and len(feeds) > 1
    mirrored.write_text(text)
    page = parent.get("/profiles/Default").get_data(as_text=True)
    drugs = _text(page.split('id="state-drugs"')[1].split("</p>")[0])
    assert "Not enforced" in drugs and "No list of this category is turned on" in drugs
    banner = _text(parent.get("/").get_data(as_text=True).split('class="banner"')[1].split("</section>")[0])
    assert "Drugs" in banner and "Not enforced" in banner


def test_a_new_profile_starts_from_the_household_level(parent: FlaskClient, mirrored: Path) -> None:
    r = parent.post("/profiles", data={"csrf_token": csrf_of(parent, "/profiles"), "name": "Teens"})
    assert r.status_code == 302
    teens = next(p for p in tomllib.loads(mirrored.read_text())["profiles"] if p["name"] == "Teens")
    assert tuple(teens["block_categories"]) == FAMILY
    j = parent.get("/api/profiles").get_json()
    assert next(p for p in j["profiles"] if p["name"] == "Teens")["not_enforced"] == list(FAMILY)


def test_api_profile_change_turns_the_list_on(parent: FlaskClient, mirrored: Path) -> None:
    h = {"X-CSRF-Token": parent.get("/api/session").get_json()["csrf_token"]}
    r = parent.patch("/api/profiles/Kids", headers=h, json={"block_categories": ["games"]})
    assert r.status_code == 200 and r.get_json()["ok"]
    assert any(f.get("catalog") == "ut1-games" for f in _feeds(mirrored))


def test_basic_setup_of_a_config_without_profiles(tmp_path: Path, server: FeedServer) -> None:
    """The shipped layout (no [[profiles]]): the level goes to [defaults] and the lists with it."""
    p = tmp_path / "config.toml"
    p.write_text(f'[storage]\ndata_dir = "var"\n[catalog]\nmirror = "{server.base}"\n')
    c = create_app(str(p), testing=True).test_client()
    do_setup(c, level="basic")
    cfg = config_mod.load(p)
    assert cfg.defaults.block_categories == ("ads", "trackers", "malware", "phishing")
    assert {f.category for f in cfg.feeds} == {"ads", "trackers", "malware", "phishing"}
    assert "Not enforced" in c.get("/").get_data(as_text=True)  # setup logged the parent in

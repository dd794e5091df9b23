"""Fixtures: a config file with comments and two profiles, a device store with two devices,
and Flask test clients before setup, after setup, and logged in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dnsfilter.storage.store import DeviceStore, Observation
from tests.support.feedserver import FeedServer, Route, serving
from tests.webui.browser import LANGS
from tests.webui.helpers import CONFIG, LAPTOP, TABLET, do_setup, login
from webui import create_app


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(CONFIG, encoding="utf-8")
    (tmp_path / "var").mkdir()
    store = DeviceStore(tmp_path / "var" / "dnsfilter.db")
    now = time.time()
    store.observe_many([
        Observation(TABLET, now - 60, mac=TABLET, ip="192.168.1.23", hostname="aru-tablet", vendor="Samsung"),
        Observation(LAPTOP, now - 30 * 86400, mac=LAPTOP, ip="192.168.1.40", hostname="office"),
        Observation(LAPTOP, now - 5, mac=LAPTOP, ip="192.168.1.40"),
    ])
    store.close()
    return p


@pytest.fixture(scope="module", params=LANGS)
def lang(request: pytest.FixtureRequest) -> str:
    """The language a browser test's household uses (a module's tests run language by language,
    each on its own appliance)."""
    return str(request.param)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium at phone size, one per test module (tests/webui/browser.py)."""
    from tests.webui.browser import chrome

    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def logged(client: FlaskClient, config_path: Path) -> FlaskClient:
    """Logged in, with the tablet in Kids and a query log written the daemon's way."""
    from tests.webui.logdata import KIDS_DEVICE, write_log

    with config_path.open("a", encoding="utf-8") as f:
        f.write(KIDS_DEVICE)
    write_log(config_path.parent / "var")
    return client


@pytest.fixture
def app(config_path: Path) -> Flask:
    return create_app(str(config_path), testing=True)


@pytest.fixture
def set_up(app: Flask) -> Flask:
    do_setup(app.test_client())
    return app


@pytest.fixture
def client(set_up: Flask) -> Iterator[FlaskClient]:
    c = set_up.test_client()
    login(c)
    yield c


@pytest.fixture(scope="module")
def lists() -> Iterator[FeedServer]:
    """Every catalog list, served from memory by a local feed server (set `[catalog] mirror` to
    its base): each holds one made-up name of its category, `listed-CATEGORY.example.test`
    (small: these tests are about the UI and what it promises, not about the lists)."""
    from feeds.catalog import entries

    with serving() as srv:
        for e in entries().values():
            srv.routes[f"/{e.id}"] = Route(f"# {e.name}\nlisted-{e.category}.example.test\n".encode())
        yield srv

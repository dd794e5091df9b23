"""Query log paging (keyset, by time and row id) on a log of more than 500 rows, written through
the daemon's batch/LogStore code: the page's "Older" / "Newer" links and the JSON twin's
`before` / `after` cursors walk every row exactly once, keeping the filters."""

from __future__ import annotations

import html as htmlmod
import re
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dnsfilter.core.logbatch import batch
from dnsfilter.core.querylog import log_info
from dnsfilter.storage.logstore import FILE, LogStore
from tests.webui.helpers import LAPTOP, TABLET
from tests.webui.logdata import KIDS_DEVICE

ROWS = 1203  # more than two full pages of 500


@pytest.fixture
def big_log(client: FlaskClient, config_path: Path) -> FlaskClient:
    """ROWS lookups, three to an instant (same ts: only the row id tells them apart), every
    third one blocked, the tablet and the laptop in turn; n0 is the oldest."""
    with config_path.open("a", encoding="utf-8") as f:
        f.write(KIDS_DEVICE)
    now = time.time()
    records = []
    for i in range(ROWS):
        blocked = i % 3 == 0
        records.append((now - 3600 + i // 3, "192.168.1.23" if i % 2 else "192.168.1.40", TABLET if i % 2 else LAPTOP,
                        log_info("Kids" if i % 2 else "Default", f"n{i}.example", 1,
                                 "blocked" if blocked else "resolved", "deny" if blocked else "")))
    store = LogStore(config_path.parent / "var" / FILE)
    try:
        store.write(batch(records, 0.0, {}))
    finally:
        store.close()
    return client


def _names(page: str) -> list[str]:
    return re.findall(r'<span class="site">([^<]*)</span>', page)


def _link(page: str, cls: str) -> str | None:
    m = re.search(rf'<a href="([^"]*)"(?: rel="\w+")? class="{cls}">', page)
    return htmlmod.unescape(m.group(1)) if m else None


def _get(client: FlaskClient, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, r.get_data(as_text=True)[-2000:]
    return r.get_data(as_text=True)


def test_older_and_newer_links_walk_every_row_once(big_log: FlaskClient) -> None:
    page = _get(big_log, "/log?limit=500")
    first = _names(page)
    assert first[0] == f"n{ROWS - 1}.example" and len(first) == 500
    assert _link(page, "newer") is None and _link(page, "newest") is None  # the head of the log
    seen, pages, url = list(first), [page], _link(page, "older")
    while url:
        assert "limit=500" in url
        page = _get(big_log, url)
        pages.append(page)
        seen += _names(page)
        url = _link(page, "older")
    assert seen == [f"n{i}.example" for i in reversed(range(ROWS))]  # all, once, newest first
    assert [len(_names(p)) for p in pages] == [500, 500, 203]
    # and back up from the oldest page: Newer gives exactly the pages seen on the way down
    page = pages[-1]
    for expected in reversed(pages[:-1]):
        url = _link(page, "newer")
        assert url and _link(page, "newest") == "/log?limit=500"
        page = _get(big_log, url)
        assert _names(page) == _names(expected)
    assert _link(page, "newer") is None  # the newest page again


def test_paging_keeps_the_filters(big_log: FlaskClient) -> None:
    page = _get(big_log, f"/log?device={TABLET}&outcome=blocked")  # odd multiples of 3: 200 rows
    assert len(_names(page)) == 100
    url = _link(page, "older")
    assert url and f"device={TABLET}" in url and "outcome=blocked" in url
    names = _names(page)
    while url:
        page = _get(big_log, url)
        names += _names(page)
        url = _link(page, "older")
    assert names == [f"n{i}.example" for i in reversed(range(ROWS)) if i % 2 and i % 3 == 0]
    assert len(names) == 200  # two full pages, and no third (empty) one offered


def test_allow_this_returns_to_the_same_page(big_log: FlaskClient) -> None:
    page = _get(big_log, "/log")
    older = _link(page, "older")
    assert older
    page = _get(big_log, older)
    cursor = re.search(r'name="f_before" value="([^"]+)"', page)
    assert cursor and f"before={cursor.group(1)}" in older


def test_api_cursors(big_log: FlaskClient) -> None:
    j = big_log.get("/api/log?limit=500").get_json()
    assert j["ok"] and len(j["rows"]) == 500 and j["newer"] is None and j["older"]
    ids = [r["id"] for r in j["rows"]]
    while j["older"]:
        j = big_log.get(f"/api/log?limit=500&before={j['older']}").get_json()
        ids += [r["id"] for r in j["rows"]]
    assert len(ids) == ROWS == len(set(ids))
    oldest = j
    ups = [r["id"] for r in oldest["rows"]]
    while j["newer"]:
        j = big_log.get(f"/api/log?limit=500&after={j['newer']}").get_json()
        ups = [r["id"] for r in j["rows"]] + ups
    assert ups == ids  # the same rows in the same order, walked upwards


@pytest.mark.parametrize("query, field", [
    ("before=abc", "before"), ("after=1_2_3", "after"), ("before=1.5_99999999999999999999", "before"),
    ("before=-1_5", "before"), ("before=1e9_5", "before"), ("before=1_1&after=1_1", "after"),
    ("before=" + "9" * 500, "before"),
])
def test_bad_cursors_are_refused(big_log: FlaskClient, query: str, field: str) -> None:
    r = big_log.get(f"/api/log?{query}")
    assert r.status_code == 400 and r.get_json()["field"] == field, r.get_json()
    r = big_log.get(f"/log?{query}")
    assert r.status_code == 400 and 'class="error" role="alert"' in r.get_data(as_text=True)

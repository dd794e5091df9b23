"""A family's first hour, in a real browser against the real daemon: setup with the one-time
code from the daemon's log and the "Family" level; the daemon downloads the level's lists at
once (from a real local HTTP server: `[catalog] mirror`); a Kids profile, the kid's device
(127.0.0.2, mapped by address) put in it; a listed adult name is then blocked for that device.
Then the adult list's address breaks: "Download now" fails, the Dashboard banner names the
list (in English, Russian and Kazakh), and the last good copy keeps blocking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feeds.catalog import default_for
from tests.support.daemon import DaemonProcess, cli, free_port
from tests.support.feedserver import FeedServer, Route, serving
from tests.support.paths import SHARED_DATA
from tests.support.scripted import Scripted
from tests.webui.browser import (
    answer_ips,
    by,
    click_and_wait,
    ede_codes,
    missing_browser,
    query,
    select_text,
    set_language,
    setup_code_in_log,
    submit,
    wait_for,
    web_appliance,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")]

PASSWORD = "a long parent password"
KID = "127.0.0.2"
FAMILY = ("ads", "trackers", "malware", "phishing", "adult", "gambling", "drugs", "violence", "piracy")


def adult_names() -> list[str]:
    """Real names from HaGeZi's NSFW list when ../shared/data has its snapshot, else one made up."""
    sample = SHARED_DATA / "hagezi" / "nsfw.onlydomains.txt"
    if sample.exists():
        names = [ln.strip() for ln in sample.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        return names[:500]
    return ["adult-site.example.test"]


@pytest.fixture(scope="module")
def feeds() -> Iterator[FeedServer]:
    adult = adult_names()
    with serving() as srv:
        for c in FAMILY:
            e = default_for(c)
            assert e is not None
            body = "\n".join(adult) if c == "adult" else f"listed-{c}.example.test"
            srv.routes[f"/{e.id}"] = Route(f"# {e.name}, served by the test\n{body}\n".encode())
        yield srv


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory, feeds: FeedServer) -> Iterator[tuple[DaemonProcess, str]]:
    with Scripted(zone={"example.org": ["example.org. 300 IN A 192.0.2.8"]}) as up:
        web = free_port()
        tmp = tmp_path_factory.mktemp("family")
        config = (f'[general]\ntimezone = "UTC"\n[dns]\nlisten = ["127.0.0.1:{{port}}"]\nupstreams = ["{up.addr}"]\n'
                  f'[web]\nlisten = "127.0.0.1:{web}"\n[catalog]\nmirror = "{feeds.base}"\n')
        with web_appliance(tmp, config, web) as app:
            yield app


def _main(browser: Any) -> str:
    return str(by(browser, "main").text)


def _kid_card(driver: Any, base: str) -> Any:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/devices")
    return next((c for c in driver.find_elements(By.CSS_SELECTOR, "li.card") if KID in c.text), None)


def test_family_setup_blocks_adult_names_for_the_kid(appliance: tuple[DaemonProcess, str], browser: Any,
                                                    feeds: FeedServer, tmp_path: Path) -> None:
    daemon, base = appliance
    adult = adult_names()[0]
    assert answer_ips(query(daemon.port, "example.org", KID)) == ["192.0.2.8"]  # the kid's device is seen

    # setup: the code from the daemon's log, a password, Kazakhstan's zone, the Family level
    browser.get(f"{base}/")
    wait_for("the setup page", lambda: browser.current_url.endswith("/setup"))
    family = by(browser, "input[name=level][value=family]")
    assert family.is_selected()  # the default level
    assert "HaGeZi NSFW" in browser.page_source  # which lists the level turns on, before choosing
    by(browser, "#code").send_keys(setup_code_in_log(daemon.log()))
    by(browser, "#password").send_keys(PASSWORD)
    by(browser, "#password2").send_keys(PASSWORD)
    select_text(browser, "#timezone", "Kazakhstan (Astana, Almaty)")
    submit(browser, "main form")
    assert browser.current_url.endswith("/welcome"), browser.page_source[:3000]
    assert 'timezone = "Asia/Almaty"' in daemon.config_path.read_text()

    # the summary page follows the first downloads (it reloads itself) until every list is in force
    started = time.monotonic()

    def all_blocking() -> bool:
        browser.get(f"{base}/welcome")
        text = _main(browser)
        return "Not enforced" not in text and text.count("Blocked with") == len(FAMILY)
    wait_for("every Family list in force on the summary page", all_blocking, timeout=90, every=1.0)
    print(f"\nall {len(FAMILY)} Family lists downloaded and in force {time.monotonic() - started:.1f}s after setup")
    assert "HaGeZi NSFW (from github.com/hagezi/dns-blocklists, licence: GPL-3.0" in _main(browser)

    # a Kids profile (it starts from the household's Family level) and the kid's device in it
    browser.get(f"{base}/profiles")
    by(browser, "#name").send_keys("Kids")
    submit(browser, "main form")
    assert browser.current_url.endswith("/profiles/Kids")
    assert by(browser, "input[name=cat_adult]").is_selected()
    assert "Blocked with HaGeZi NSFW" in by(browser, "#state-adult").text
    card = wait_for("the kid's device on the Devices page", lambda: _kid_card(browser, base), timeout=20)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(card.find_element(By.CSS_SELECTOR, "select[name=profile]")).select_by_visible_text("Kids")
    click_and_wait(browser, "form.row button[type=submit]", root=card)

    r = wait_for(f"{adult} blocked for the kid", lambda: (r := query(daemon.port, adult, KID))
                 and answer_ips(r) == ["0.0.0.0"] and r, timeout=5)
    assert ede_codes(r) == [17], r.to_text()  # Filtered: a parental category
    out = cli("check", "-c", str(daemon.config_path), adult, "--client", KID, "--json")
    verdict = json.loads(out.stdout)
    assert (verdict["decision"], verdict["profile"], verdict["category"]) == ("block", "Kids", "adult"), verdict
    assert verdict["not_enforced"] == []

    # the adult list's address breaks; the parent asks for a download now
    feeds.routes["/hagezi-nsfw"] = Route(b"", status=404)
    browser.get(f"{base}/feeds")
    click_and_wait(browser, "form[action$='/feeds/hagezi-nsfw/sync'] button")
    assert "could not be downloaded" in _main(browser)
    browser.get(f"{base}/")
    banner = by(browser, "section.banner").text
    assert "Adult content" in banner and "HaGeZi NSFW" in banner and "Still blocked" in banner, banner
    for lang, heading in (("ru", "Часть выбранной защиты не работает"), ("kk", "Таңдалған қорғаудың бір бөлігі жұмыс істемейді")):
        set_language(browser, base, lang)
        assert heading in by(browser, "section.banner").text
    set_language(browser, base, "en")
    # ... and the last good copy keeps blocking, for the kid and in `dnsfilter check`
    assert answer_ips(query(daemon.port, adult, KID)) == ["0.0.0.0"]
    assert json.loads(cli("check", "-c", str(daemon.config_path), adult, "--client", KID, "--json").stdout)[
        "decision"] == "block"

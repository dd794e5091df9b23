"""End to end in a real browser: `dnsfilter serve` with its web UI, Debian's headless chromium.

A parent sets the appliance up, logs in, makes a Kids profile that blocks TikTok and puts the
device at 127.0.0.2 in it; from then on that device gets 0.0.0.0 (with an EDE) for tiktok.com
while 127.0.0.1 still gets the real answer. The Query log then shows that blocked lookup, and
"Allow this" in the browser makes it resolve again for the device ("Block this" blocks it again).
Then every page is photographed at phone size (tests/webui/artifacts/, printed at the end). All of
it once in each of English, Russian and Kazakh (a fresh appliance each), checked on the words the
user sees in that language.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, free_port
from tests.support.scripted import Scripted
from tests.webui.browser import (
    ARTIFACTS,
    PHONE,
    answer_ips,
    assert_shows,
    ede_codes,
    full_page_png,
    missing_browser,
    query,
    set_language,
    setup_code_in_log,
    shows,
    tr,
    wait_for,
    web_appliance,
)
from tests.webui.browser import by as _by
from tests.webui.browser import click_and_wait as _click_and_wait
from tests.webui.browser import select_text as _select
from tests.webui.browser import stale_ok as _stale_ok
from tests.webui.browser import submit as _submit

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")]

PASSWORD = "a long parent password"
KID = "127.0.0.2"
REAL = "192.0.2.7"


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory, lang: str) -> Iterator[tuple[DaemonProcess, str]]:
    with Scripted(zone={"tiktok.com": [f"tiktok.com. 300 IN A {REAL}"],
                        "example.org": ["example.org. 300 IN A 192.0.2.8"]}) as up:
        web = free_port()
        tmp = tmp_path_factory.mktemp(f"browser-{lang}")
        config = ("# written by the browser test\n"
                  f'[dns]\nlisten = ["127.0.0.1:{{port}}"]\nupstreams = ["{up.addr}"]\n'
                  f'[web]\nlisten = "127.0.0.1:{web}"\n')
        with web_appliance(tmp, config, web) as app:
            yield app


def _kid_card(driver: Any, base: str) -> Any:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/devices")
    for card in driver.find_elements(By.CSS_SELECTOR, "li.card"):
        if KID in card.text:
            return card
    return None


def test_parent_blocks_tiktok_for_one_device(appliance: tuple[DaemonProcess, str], browser: Any, lang: str) -> None:
    daemon, base = appliance
    assert answer_ips(query(daemon.port, "tiktok.com", KID)) == [REAL]  # not blocked yet; the device is seen

    browser.delete_all_cookies()  # the previous language's appliance (same host, another port)
    browser.get(f"{base}/")
    wait_for("the setup page", lambda: browser.current_url.endswith("/setup"))
    set_language(browser, base, lang, "/setup")
    _by(browser, "#code").send_keys(setup_code_in_log(daemon.log()))
    _by(browser, "#password").send_keys(PASSWORD)
    _by(browser, "#password2").send_keys(PASSWORD)
    _select(browser, "#timezone", "Asia/Almaty")
    _by(browser, "input[name=level][value=basic]").click()
    _submit(browser, "main form")
    assert browser.current_url.endswith("/welcome"), browser.page_source[:2000]  # logged in: setup's summary

    browser.get(f"{base}/profiles")
    _by(browser, "#name").send_keys("Kids")
    _submit(browser, "main form")
    assert browser.current_url.endswith("/profiles/Kids"), browser.page_source[:2000]
    _by(browser, "details#group-video summary").click()
    _by(browser, "input[name=service][value=tiktok]").click()
    _click_and_wait(browser, "button.save")
    assert_shows(_by(browser, "main").text, lang, "Saved.")

    card = wait_for("the 127.0.0.2 device on the Devices page", lambda: _kid_card(browser, base), timeout=20)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(card.find_element(By.CSS_SELECTOR, "select[name=profile]")).select_by_visible_text("Kids")
    old = _by(browser, "html")
    card.find_element(By.CSS_SELECTOR, "form.row button[type=submit]").click()
    wait_for("the saved Devices page", lambda: not _stale_ok(old))
    assert_shows(_by(browser, "main").text, lang, "Saved.")

    text = daemon.config_path.read_text()
    assert "# written by the browser test" in text and 'ip = "127.0.0.2"' in text

    blocked = wait_for("the block to apply to 127.0.0.2",
                       lambda: (r := query(daemon.port, "tiktok.com", KID)) and answer_ips(r) == ["0.0.0.0"] and r,
                       timeout=5)
    assert ede_codes(blocked), blocked.to_text()
    assert answer_ips(query(daemon.port, "tiktok.com", "127.0.0.1")) == [REAL]
    assert answer_ips(query(daemon.port, "example.org", KID)) == ["192.0.2.8"]
    _allow_from_the_query_log(browser, base, daemon, lang)


def _log_row(driver: Any, base: str, kind: str = "blocked") -> Any:
    """The Query log's newest `kind` (blocked or answered) row for tiktok.com from the Kids
    device (the daemon writes the log every few seconds, so the page is reloaded until it shows)."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/log?name=tiktok.com" + ("&outcome=blocked" if kind == "blocked" else ""))
    for row in driver.find_elements(By.CSS_SELECTOR, f"li.entry.{kind}"):
        if "tiktok.com" in row.text and KID in row.text:
            return row
    return None


def _allow_from_the_query_log(browser: Any, base: str, daemon: DaemonProcess, lang: str) -> None:
    """The parent finds the blocked lookup in the Query log and presses "Allow this": the name
    goes on the Kids allow list and, after the daemon's own reload, resolves for that device."""
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    row = wait_for("the blocked tiktok.com lookup on the Query log page", lambda: _log_row(browser, base),
                   timeout=20, every=1.0)
    shown = time.monotonic() - started
    assert_shows(row.text, lang, "Blocked: %(what)s", what="TikTok")
    browser.get(f"{base}/")
    dashboard = _by(browser, "main").text
    assert "tiktok.com" in dashboard and KID in dashboard, dashboard
    _page_back_and_forth(browser, base)

    row = _log_row(browser, base)
    old = _by(browser, "html")
    row.find_element(By.CSS_SELECTOR, "button.allow").click()
    wait_for("the question after Allow this", lambda: not _stale_ok(old))
    # it asks first: this device or the profile, for how long, and says it wins over bedtime
    text = _by(browser, "main").text
    assert _by(browser, "h1").text == tr(lang, "Allow %(n)s?") % {"n": "tiktok.com"}
    _asks_who_and_how_long(text, lang)
    assert_shows(text, lang, "It wins over quiet hours, pauses, daily limits and the chosen categories: the site "
                 "works even at bedtime while the rule lasts. Lists of the authorities still apply.")
    _by(browser, "input[name=scope][value=device]").click()
    _by(browser, "input[name=for][value='1h']").click()
    _submit(browser, "main form")
    assert_shows(_by(browser, "main").text, lang, "%(n)s is allowed on %(d)s until %(t)s.", n="tiktok.com", d=KID)
    text = daemon.config_path.read_text()
    assert "tiktok.com" not in text.split("block_services")[0] and 'allow = ["tiktok.com"]' not in text  # no setting
    clicked = time.monotonic()
    wait_for("tiktok.com to resolve for 127.0.0.2 after Allow this",
             lambda: answer_ips(query(daemon.port, "tiktok.com", KID)) == [REAL], timeout=5)
    print(f"\nquery log row shown after {shown:.1f}s; tiktok.com resolved {time.monotonic() - clicked:.2f}s "
          "after the Allow this page came back")

    # and back: "Block this" on an answered tiktok.com row, for the device: the newer rule counts
    row = wait_for("an answered tiktok.com lookup of 127.0.0.2 on the Query log page",
                   lambda: _log_row(browser, base, "answered"), timeout=20, every=1.0)
    old = _by(browser, "html")
    row.find_element(By.CSS_SELECTOR, "button.block").click()
    wait_for("the question after Block this", lambda: not _stale_ok(old))
    text = _by(browser, "main").text
    assert _by(browser, "h1").text == tr(lang, "Block %(n)s?") % {"n": "tiktok.com"}
    _asks_who_and_how_long(text, lang)
    assert_shows(text, lang, "It wins over the profile's own allow list while it lasts.")
    _by(browser, "input[name=scope][value=device]").click()
    _by(browser, "input[name=for][value=today]").click()
    _submit(browser, "main form")
    assert_shows(_by(browser, "main").text, lang, "%(n)s is blocked on %(d)s until %(t)s.", n="tiktok.com", d=KID,
                 t="00:00")
    wait_for("tiktok.com to be blocked again for 127.0.0.2 after Block this",
             lambda: answer_ips(query(daemon.port, "tiktok.com", KID)) == ["0.0.0.0"], timeout=5)
    # the profile's page lists the rule and ends it
    browser.get(f"{base}/profiles/Kids")
    assert tr(lang, "Rules for now") in _by(browser, "main").text
    _click_and_wait(browser, "form[action*='/overrides/'] button")
    assert_shows(_by(browser, "main").text, lang, "The rule was removed.")
    assert answer_ips(query(daemon.port, "tiktok.com", KID)) == ["0.0.0.0"]  # the profile blocks TikTok anyway


def _asks_who_and_how_long(text: str, lang: str) -> None:
    """The question's choices, in words: this device (named) or its whole profile, and for how long."""
    assert_shows(text, lang, "Only on this device: %(d)s", d=KID)
    assert_shows(text, lang, "Every device in the profile %(p)s", p="Kids")
    for choice in ("1 hour", "Until midnight", "Always"):
        assert tr(lang, choice) in text, (lang, choice, text)


def _page_back_and_forth(browser: Any, base: str) -> None:
    """One row a page: "Older" goes down one row keeping the filter, "Newer" comes back to it."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/log?limit=1&name=tiktok.com")
    newest = _by(browser, "li.entry").text
    assert not browser.find_elements(By.CSS_SELECTOR, ".pager a.newer")
    _click_and_wait(browser, ".pager a.older")
    assert "before=" in browser.current_url and "limit=1" in browser.current_url, browser.current_url
    assert "name=tiktok.com" in browser.current_url
    assert _by(browser, "li.entry").text != newest
    _click_and_wait(browser, ".pager a.newer")
    assert _by(browser, "li.entry").text == newest


PAGES = ["/", "/log", "/devices", "/profiles", "/profiles/Kids", "/profiles/Kids/time", "/feeds", "/settings"]


def _daily_limit_used(browser: Any, base: str, daemon: DaemonProcess, lang: str) -> None:
    """A 30-minute YouTube limit for Kids, set through the form, and one minute of it used by
    the tablet: the time page then shows today's use from the daemon."""
    from selenium.webdriver.support.ui import Select

    browser.get(f"{base}/profiles/Kids/time")
    Select(_by(browser, "#b0_item")).select_by_value("youtube")
    _by(browser, "#b0_minutes").send_keys("30")
    _by(browser, "main form button[type=submit]").click()
    wait_for("the limit to be saved", lambda: "youtube" in daemon.config_path.read_text())

    def shown() -> bool:
        query(daemon.port, "www.youtube.com", KID)  # counted in the minute it is asked
        browser.get(f"{base}/profiles/Kids/time")
        return shows(_by(browser, "main").text, lang, "%(used)d of %(limit)d minutes", used=1, limit=30)

    wait_for("the tablet's minute on the time page", shown, timeout=10)


def test_screenshots_at_phone_size(appliance: tuple[DaemonProcess, str], browser: Any, lang: str) -> None:
    """Runs after the flow above (same browser session, logged in, in the appliance's language)."""
    _, base = appliance
    browser.get(f"{base}/devices")
    if browser.current_url.endswith("/login"):
        pytest.skip("needs the logged-in session of test_parent_blocks_tiktok_for_one_device")
    _daily_limit_used(browser, base, appliance[0], lang)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    sideways: list[str] = []
    for path in PAGES:
        browser.get(base + path)
        assert _by(browser, "html").get_attribute("lang") == lang
        width, view = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        if width > view:
            sideways.append(f"{path} in {lang} is {width}px wide")
        out = ARTIFACTS / f"{lang}{path.replace('/', '_') if path != '/' else '_dashboard'}.png"
        full_page_png(browser, out)
        saved.append(out)
    print(f"\nscreenshots: {ARTIFACTS} ({len(saved)} files)")
    assert all(p.stat().st_size > 1000 for p in saved)
    assert not sideways, f"pages that scroll sideways on a {PHONE[0]}px phone: {sideways}"

"""A managed router in a real browser (Debian's headless chromium) with the real daemon: the
Block lists page, in Kazakh and Russian, shows the provider's authority list as set by the
provider with no way to turn it off, the Settings page shows the provider's resolvers read-only,
and what the page promises holds on the wire: the list's names are blocked with EDE 16."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, ede, free_port
from tests.webui.browser import missing_browser, wait_for, web_appliance
from webui.secrets_store import SecretsStore

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")]

PASSWORD = "a long parent password"


@pytest.fixture(scope="module")
def managed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, str]]:
    tmp = tmp_path_factory.mktemp("managed")
    (tmp / "nat.txt").write_text("banned.example\n")
    (tmp / "var" / "provider").mkdir(parents=True)
    (tmp / "var" / "provider" / "bundle.toml").write_text(  # accepted earlier (signature and serial checked then)
        'serial = 3\nlocked = ["dns.upstreams", "feeds.national"]\n[dns]\nupstreams = ["127.0.0.1:9"]\n'
        f'[[feeds]]\nname = "national"\nurl = "{tmp / "nat.txt"}"\nformat = "domains"\ncategory = "authority"\n'
        'legal_basis = "Law 149, art. 15.1"\n')
    SecretsStore(tmp / "var" / "webui").create_admin(PASSWORD, "en")
    web = free_port()
    # the provider's server is a loopback port where nothing listens: no packet leaves the machine
    config = (f'[provider]\nbundle_url = "https://127.0.0.1:9/bundle.toml"\n'
              'public_key = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"\n'
              f'[dns]\nlisten = ["127.0.0.1:{{port}}"]\n[web]\nlisten = "127.0.0.1:{web}"\n')
    with web_appliance(tmp, config, web) as app:
        yield app


def _css(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def _card(driver: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By

    return next(c for c in driver.find_elements(By.CSS_SELECTOR, "li.card")
                if c.find_element(By.TAG_NAME, "h2").text.startswith(name))


@pytest.mark.parametrize(("lang", "badge", "note"), [
    ("kk", "провайдер орнатқан", "Провайдеріңіз орнатқан: мұнда өзгертуге болмайды."),
    ("ru", "задано провайдером", "Задано вашим провайдером: здесь это изменить нельзя."),
])
def test_the_providers_list_is_shown_as_set_by_the_provider_and_is_enforced(
        managed: tuple[DaemonProcess, str], browser: Any, lang: str, badge: str, note: str) -> None:
    from selenium.webdriver.common.by import By

    daemon, base = managed
    browser.get(f"{base}/login")
    if "/login" in browser.current_url and browser.find_elements(By.CSS_SELECTOR, "#password"):
        _css(browser, "#password").send_keys(PASSWORD)
        _css(browser, "main form button[type=submit]").click()
        wait_for("the Dashboard", lambda: browser.current_url == f"{base}/")
    browser.get(f"{base}/feeds")
    _css(browser, f"form.langs button[value={lang}]").click()
    wait_for(f"the page in {lang}", lambda: _css(browser, "html").get_attribute("lang") == lang)
    card = _card(browser, "national")
    assert badge in card.find_element(By.TAG_NAME, "h2").text
    assert not card.find_elements(By.CSS_SELECTOR, "button[value=disable]")  # nothing to turn it off with
    browser.get(f"{base}/settings")
    box = _css(browser, "#upstreams")
    assert box.get_attribute("readonly") is not None and box.get_attribute("value") == "127.0.0.1:9"
    assert note in _css(browser, "#upstreams-locked").text
    # the promise, on the wire: the provider's list is in force for this household
    r = daemon.query("banned.example")
    assert [rd.to_text() for rs in r.answer for rd in rs] == ["0.0.0.0"]
    assert ede(r)[0][0] == 16 and "Law 149, art. 15.1" in ede(r)[0][1]

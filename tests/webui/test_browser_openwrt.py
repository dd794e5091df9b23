"""The OpenWrt package's default config, fresh: rendered from deploy/openwrt/files/dnsfilter.config
by the package's own helper (dnsfilter-uci), run by the real daemon with its web UI, the catalog
lists served by a local feed server. Every category the default protection blocks (ads,
trackers, malware, phishing) has a list: once they are down, the UI in a real Chromium at 390 px
shows no "not enforced" anywhere (in en, ru and kk), and the daemon blocks a name of each.

Changed from the package's file only where a test must: loopback ports and upstream, a data
folder of the test's own, the web UI on, the catalog's mirror."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.daemon import DaemonProcess, free_port
from tests.support.feedserver import FeedServer
from tests.support.paths import REPO
from tests.support.scripted import Scripted
from tests.webui.browser import (
    LANGS,
    answer_ips,
    by,
    missing_browser,
    query,
    set_language,
    submit,
    tr,
    wait_for,
    web_appliance,
)
from webui.secrets_store import SecretsStore

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")]

FILES = REPO / "deploy/openwrt/files"
PASSWORD = "a long router password"


def _uci(text: str, **options: str) -> str:
    for k, v in options.items():
        text, n = re.subn(rf"(?m)^\toption {k} .*$", f"\toption {k} '{v}'", text)
        assert n == 1, k
    return text


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, lists: FeedServer) -> Iterator[tuple[DaemonProcess, str]]:
    tmp = tmp_path_factory.mktemp("openwrt")
    up = Scripted(zone={"example.org": ["example.org. 300 IN A 192.0.2.8"]})
    port, web = free_port(), free_port()
    text = _uci((FILES / "dnsfilter.config").read_text(), port=str(port), data_dir=str(tmp / "var"),
                state_dir=str(tmp / "flash"))
    text = re.sub(r"(?m)^\tlist upstream .*\n", "", text)
    text = text.replace("\toption enabled '1'\n",
                        f"\toption enabled '1'\n\toption web_listen '127.0.0.1:{web}'\n\tlist upstream '{up.addr}'\n"
                        f"\toption catalog_mirror '{lists.base}'\n", 1)
    (tmp / "dnsfilter").write_text(text)
    r = subprocess.run([sys.executable, str(FILES / "dnsfilter-uci"), str(tmp / "dnsfilter"), str(tmp / "rendered.toml")],
                       capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    toml = (tmp / "rendered.toml").read_text()
    secrets = SecretsStore(tmp / "flash" / "webui")  # set up, as the owner would have done
    secrets.create_admin(PASSWORD, "en")
    try:
        with web_appliance(tmp, toml, web, port=port) as app:
            yield app
    finally:
        up.close()


def test_the_default_protection_is_enforced_and_blocks(router: tuple[DaemonProcess, str], browser: Any) -> None:
    daemon, base = router
    browser.delete_all_cookies()
    browser.get(f"{base}/login")
    by(browser, "#password").send_keys(PASSWORD)
    submit(browser, "main form")

    for lang in LANGS:
        set_language(browser, base, lang, "/")
        wait_for(f"every default list in force ({lang})",
                 lambda lang=lang: browser.get(f"{base}/") or all(
                     tr(lang, w) not in by(browser, "main").text
                     for w in ("Some protection you chose is not working", "Not enforced", "Not enforced yet")),
                 timeout=60, every=1.0)
        for path in ("/profiles/Default", "/feeds"):
            browser.get(base + path)
            main = by(browser, "main").text
            assert tr(lang, "Not enforced") not in main, f"{lang} {path}:\n{main}"
    # and the daemon keeps the promise: a name of each category is blocked, others answered
    for category in ("ads", "trackers", "malware", "phishing"):
        name = f"listed-{category}.example.test" if category != "ads" else "doubleclick.net"
        wait_for(f"{name} blocked", lambda name=name: answer_ips(query(daemon.port, name, "127.0.0.1")) == ["0.0.0.0"],
                 timeout=30)
    assert answer_ips(query(daemon.port, "example.org", "127.0.0.1")) == ["192.0.2.8"]

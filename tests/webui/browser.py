"""Helpers for the browser tests: Debian's headless chromium driven by Debian's chromedriver
(no browser download at test time), a running daemon with its web UI, and bounded waits."""

from __future__ import annotations

import base64
import gettext
import http.client
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.query

from tests.support.daemon import DaemonProcess

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # ignored by its own .gitignore
PHONE = (390, 844)  # a common phone viewport (CSS pixels)
T = TypeVar("T")


def missing_browser() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists() and not shutil.which(Path(path).name):
            return f"{path} is missing (apt-get install {pkg}; `make deps-deb` does it as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def chrome() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={PHONE[0]},{PHONE[1]}", "--lang=en-US", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
                "--no-default-browser-check", "--disable-features=Translate,OptimizationHints,MediaRouter"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    # the exact phone viewport (a window size would include the browser's own frame)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True})
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    return driver


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 15.0, every: float = 0.2) -> T:
    """Poll `fn` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
        except Exception as e:  # a page mid-load raises; keep polling until the deadline
            last, value = e, None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last!r})")


def web_up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/login")
        return conn.getresponse().status in (200, 302)
    except OSError:
        return False


@contextmanager
def web_appliance(tmp: Path, config: str, web: int, port: int | None = None) -> Iterator[tuple[DaemonProcess, str]]:
    """`dnsfilter serve` with `config` (its web UI on 127.0.0.1:`web`) once the UI answers:
    (the daemon, the UI's base URL); stopped at the end."""
    daemon = DaemonProcess(tmp, config, port=port).start()
    try:
        wait_for("the web UI", lambda: web_up(web), timeout=20)
        yield daemon, f"http://127.0.0.1:{web}"
    finally:
        daemon.stop()


def query(port: int, name: str, source: str) -> dns.message.Message:
    q = dns.message.make_query(name, "A", use_edns=0)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=3, source=source)


def answer_ips(msg: dns.message.Message) -> list[str]:
    return [rr.address for rrset in msg.answer for rr in rrset if hasattr(rr, "address")]


def ede_codes(msg: dns.message.Message) -> list[int]:
    return [int(o.code) for o in msg.options if int(o.otype) == 15]


def full_page_png(driver: Any, out: Path) -> None:
    """The whole page at phone width, not only the first screen."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": PHONE[0], "height": min(int(height), 8000), "scale": 1}})
    out.write_bytes(base64.b64decode(shot["data"]))


# ---------------------------------------------------------------- page helpers


def by(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def select_text(driver: Any, css: str, text: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(by(driver, css)).select_by_visible_text(text)


def stale_ok(element: Any) -> bool:
    """Whether `element` still belongs to the page (False once the browser left it)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        element.tag_name  # noqa: B018 - touching it tells whether the old page is gone
        return True
    except StaleElementReferenceException:
        return False


def click_and_wait(driver: Any, css: str, root: Any = None) -> None:
    """Click the element (inside `root` if given) and wait for the next page, bounded."""
    from selenium.webdriver.common.by import By

    old = by(driver, "html")
    (root.find_element(By.CSS_SELECTOR, css) if root is not None else by(driver, css)).click()
    wait_for(f"the page after {css}", lambda: not stale_ok(old), timeout=15, every=0.1)


def submit(driver: Any, form_css: str) -> None:
    """Click the form's submit button and wait for the next page (bounded)."""
    click_and_wait(driver, f"{form_css} button[type=submit]")


def set_language(driver: Any, base: str, lang: str, path: str = "/") -> None:
    driver.get(base + path)
    click_and_wait(driver, f".langs button[value={lang}]")


def setup_code_in_log(log: str) -> str:
    """The one-time setup code as the daemon printed it at start."""
    import re

    m = re.search(r"setup code (\d{3}-\d{3}-\d{3})", log)
    assert m, f"no setup code in the daemon's log:\n{log[-3000:]}"
    return m.group(1)


# ---------------------------------------------------------------- the UI's words, in each language

LANGS = ("en", "ru", "kk")
TRANSLATIONS = Path(__file__).resolve().parents[2] / "webui" / "translations"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


def tr(lang: str, msgid: str) -> str:
    """`msgid` as the UI's compiled catalog (webui/translations) gives it in `lang`; English as
    written. Fails when Russian or Kazakh lack it: a page left in English would pass otherwise."""
    if lang == "en":
        return msgid
    text = gettext.translation("messages", TRANSLATIONS, languages=[lang]).gettext(msgid)
    assert text != msgid, f"{msgid!r} has no {lang} translation"
    return text


def shows(text: str, lang: str, msgid: str, **values: object) -> bool:
    """Whether `text` (what the user sees) holds the message in `lang` with `values` filled in;
    a placeholder left out of `values` (a time, a count) stands for any text."""
    parts: list[str] = []
    pos = 0
    message = tr(lang, msgid)
    for m in _PLACEHOLDER.finditer(message):
        parts.append(re.escape(message[pos:m.start()]))
        if m.group(0) == "%%":
            parts.append("%")
        elif m.group(1) in values:
            parts.append(re.escape(str(values[m.group(1)])))
        else:
            parts.append(".+?")
        pos = m.end()
    parts.append(re.escape(message[pos:]))
    pattern = re.sub(r"(\\\s|\\ )+", r"\\s+", "".join(parts))  # any run of spaces or line breaks
    return re.search(pattern, text, re.S) is not None


def assert_shows(text: str, lang: str, msgid: str, **values: object) -> None:
    assert shows(text, lang, msgid, **values), f"not shown in {lang}: {tr(lang, msgid)!r} {values}\n---\n{text}"


# ---------------------------------------------------------------- accessibility (axe-core)

AXE = Path(__file__).resolve().parents[2] / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core (npm, installed by `make axe` into .axe/) injected into the page and run with
    the WCAG 2.0-2.2 A/AA rules: the violations, each with its rule id and the nodes' selectors."""
    if "axe" not in driver.execute_script("return Object.keys(window)"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))"
        ".catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));", AXE_TAGS)
    return list(result)

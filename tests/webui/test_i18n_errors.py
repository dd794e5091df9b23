"""Errors that come from the daemon's code (upstream addresses, TOML types, unknown keys) and
from a block list's download are shown in the page's language, each sent through the real
forms: Settings, Restore, and Block lists → "Download now" (from a real HTTP server on
loopback). Their key paths are plain words, never `dns.upstreams[0]`."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webui.helpers import csrf_of, login
from tests.webui.test_i18n import english_words

EXPECTED = {
    "ru": {
        "upstream": "Не сохранено: Настройки DNS, вышестоящие DNS-серверы, запись 2: вышестоящий сервер "
                    "'9.9.9.9:99999': порт '99999' — не число от 1 до 65535",
        "type": "Ничего не восстановлено: Общие настройки, часовой пояс: должно быть строкой, а не целым числом",
        "unknown": "Ничего не восстановлено: Настройки DNS, “colour”: неизвестный параметр",
        "feed": "это не список сайтов в формате, который понимает dnsfilter (просмотрено строк: 3)",
    },
    "kk": {
        "upstream": "Сақталмады: DNS баптаулары, жоғарғы DNS серверлері, 2-жазба: жоғарғы сервер "
                    "'9.9.9.9:99999': '99999' порты 1 мен 65535 аралығындағы сан емес",
        "type": "Ештеңе қалпына келтірілмеді: Жалпы баптаулар, уақыт белдеуі: бүтін сан емес, мәтін болуы керек",
        "unknown": "Ештеңе қалпына келтірілмеді: DNS баптаулары, “colour”: белгісіз параметр",
        "feed": "бұл dnsfilter оқи алатын пішімдегі сайттар тізімі емес (3 жол қаралды)",
    },
}


def _field_error(html: str, field: str) -> str:
    m = re.search(rf'<p class="error" id="{field}-error" role="alert">([^<]*)</p>', html)
    assert m, f"no error next to {field}: {html[-2000:]}"
    return m.group(1).replace("&#39;", "'").replace("&#34;", '"')


@pytest.fixture
def not_a_list() -> Iterator[str]:
    """A web server on loopback that answers a web page where a list of sites should be."""
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>\n<body>Welcome to our shop</body>\n</html>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/list.txt"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _in(c: FlaskClient, lang: str) -> None:
    c.post("/language", data=dict(csrf_token=csrf_of(c, "/settings"), lang=lang))


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_daemon_errors_are_translated(set_up: Flask, config_path: Path, lang: str) -> None:
    c = set_up.test_client()
    login(c)
    _in(c, lang)
    before = config_path.read_bytes()
    r = c.post("/settings", data=dict(csrf_token=csrf_of(c, "/settings"), action="general",
                                      upstreams="9.9.9.9\n9.9.9.9:99999", block_mode="null", block_ip="",
                                      timezone="Asia/Almaty", language=lang))
    assert r.status_code == 400
    assert _field_error(r.get_data(as_text=True), "upstreams") == EXPECTED[lang]["upstream"]

    for toml, key, own in [(b"[general]\ntimezone = 5\n", "type", set()),
                           (b'[dns]\ncolour = "red"\n', "unknown", {"colour"})]:  # the parent's own word
        r = c.post("/settings", data=dict(csrf_token=csrf_of(c, "/settings"), action="restore",
                                          file=(io.BytesIO(toml), "config.toml")))
        assert r.status_code == 400
        text = _field_error(r.get_data(as_text=True), "file")
        assert text == EXPECTED[lang][key]
        assert english_words(text) == own
    assert english_words(r.get_data(as_text=True)) == {"colour"}  # the whole page, the error included
    assert config_path.read_bytes() == before


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_a_bad_list_is_explained_in_the_pages_language(set_up: Flask, not_a_list: str, lang: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the sync runs requests in a subprocess: loopback only
    c = set_up.test_client()
    login(c)
    _in(c, lang)
    r = c.post("/feeds", data=dict(csrf_token=csrf_of(c, "/feeds"), action="custom", name="x1", url=not_a_list,
                                   category="ads"))
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    r = c.post("/feeds/x1/sync", data={"csrf_token": csrf_of(c, "/feeds")}, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert html.count(EXPECTED[lang]["feed"]) == 2, html[-3000:]  # the message after the click, and the status
    assert english_words(html) == set()
    # the English page says it in English, from the same status
    _in(c, "en")
    html = c.get("/feeds").get_data(as_text=True)
    assert "this is not a list of sites in a format dnsfilter reads (3 lines looked at)" in html


def test_key_paths_in_words(set_up: Flask) -> None:
    """Unit check of the words for key paths the forms cannot reach (English page)."""
    from dnsfilter.config_values import ConfigError
    from webui.errortext import config_error_text, feed_error_text

    with set_up.test_request_context("/", headers={"Accept-Language": "en"}):
        def text(key: str) -> str:
            return config_error_text(ConfigError(key, "x"))

        assert text("devices[0].mac") == "Device 1, MAC address: x"
        assert text("profiles[2].budgets.youtube") == "Profile 3, daily limits, “youtube”: x"
        assert text("feeds[1].format") == "Block list 2, format: x"
        assert text("dns.listen[0]") == "DNS settings, addresses, entry 1: x"
        assert text("form") == "x"
        assert feed_error_text("HTTP 404 from https://lists.example/x (1 attempt); keeping the last good version") \
            == "the server answered with error 404"
        assert feed_error_text("odd; keeping the last good version") == "the list could not be used (odd)"

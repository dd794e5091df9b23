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


def _logged_in(app: Flask, lang: str) -> FlaskClient:
    """A logged-in client whose pages speak `lang`."""
    c = app.test_client()
    login(c)
    _in(c, lang)
    return c


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_daemon_errors_are_translated(set_up: Flask, config_path: Path, lang: str) -> None:
    c = _logged_in(set_up, lang)
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
    c = _logged_in(set_up, lang)
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
    from dnsfilter.config.values import ConfigError
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


# Errors from the schedule core (ScheduleError), catalog look-ups and reading TOML, each through
# its real form; the parent's own words ('tiktokk', 'hagezi-prp') go in as typed.
MORE = {
    "ru": {
        "start_24": "Профиль «Kids», тихие часы 1, начало: начинать в 24:00 нельзя (укажите 00:00 следующего дня)",
        "empty": "Профиль «Kids», тихие часы 1: начало и конец совпадают (21:00): промежуток получился бы пустым",
        "item": "Профиль «Kids», тихие часы 1, что блокировать, запись 1: 'tiktokk' — не категория и не сервис из списка",
        "service": "Профиль «Kids», заблокированные сервисы, запись 1: неизвестный сервис 'tiktokk'",
        "catalog": "Ничего не восстановлено: Список блокировки «x», каталог: в каталоге нет списка 'hagezi-prp' "
                   "(может быть, 'hagezi-pro', 'hagezi-pro-plus', 'hagezi-tif'?)",
        "category": "Ничего не восстановлено: Профиль «A», заблокированные категории, запись 1: "
                    "неизвестная категория 'candy'",
        "toml": "Ничего не восстановлено: файл повреждён или это не файл настроек: ошибка в строке 3, символ 5",
        "eof": "Ничего не восстановлено: файл повреждён или это не файл настроек: ошибка в строке 2, символ 9",
        "broken": "Не сохранено: файл настроек {path} повреждён: ошибка в строке 1, символ 5",
        "broken_page": "В файле настроек ошибка: файл настроек {path} повреждён: ошибка в строке 1, символ 5",
        "not_text": "Не сохранено: файл настроек {path} не текстовый (UTF-8)",
        "api_shape": "Тихие часы 1, дни: должно быть списком названий дней",
        "api_window": "Профиль «Kids», тихие часы 1: начало и конец совпадают (07:00): промежуток получился бы пустым",
    },
    "kk": {
        "start_24": "«Kids» профилі, 1-тыныш сағаттар, басталуы: 24:00-де бастауға болмайды (келесі күннің 00:00-ін "
                    "көрсетіңіз)",
        "empty": "«Kids» профилі, 1-тыныш сағаттар: басталуы мен аяқталуы бірдей (21:00): аралық бос болып қалады",
        "item": "«Kids» профилі, 1-тыныш сағаттар, нені бұғаттау, 1-жазба: 'tiktokk' — тізімдегі санат та, қызмет те емес",
        "service": "«Kids» профилі, бұғатталған қызметтер, 1-жазба: белгісіз қызмет 'tiktokk'",
        "catalog": "Ештеңе қалпына келтірілмеді: «x» бұғаттау тізімі, каталог: каталогта 'hagezi-prp' тізімі жоқ "
                   "(мүмкін, 'hagezi-pro', 'hagezi-pro-plus', 'hagezi-tif'?)",
        "category": "Ештеңе қалпына келтірілмеді: «A» профилі, бұғатталған санаттар, 1-жазба: белгісіз санат 'candy'",
        "toml": "Ештеңе қалпына келтірілмеді: файл бүлінген немесе баптаулар файлы емес: қате 3-жолдың 5-таңбасында",
        "eof": "Ештеңе қалпына келтірілмеді: файл бүлінген немесе баптаулар файлы емес: қате 2-жолдың 9-таңбасында",
        "broken": "Сақталмады: {path} баптаулар файлы бүлінген: қате 1-жолдың 5-таңбасында",
        "broken_page": "Баптау файлында қате бар: {path} баптаулар файлы бүлінген: қате 1-жолдың 5-таңбасында",
        "not_text": "Сақталмады: {path} баптаулар файлы мәтін емес (UTF-8)",
        "api_shape": "1-тыныш сағаттар, күндер: күн атауларының тізімі болуы керек",
        "api_window": "«Kids» профилі, 1-тыныш сағаттар: басталуы мен аяқталуы бірдей (07:00): аралық бос болып қалады",
    },
}
TIME = "/profiles/Kids/time"


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_schedule_errors_from_the_core_are_translated(set_up: Flask, config_path: Path, lang: str) -> None:
    """parse_window's reasons (24:00 as a start, an empty window) and an unknown item, from the
    schedule editor: next to the part of the window at fault, in words, and nothing saved."""
    c = _logged_in(set_up, lang)
    before = config_path.read_bytes()
    for over, field, key in [(dict(s0_start="24:00"), "s0_start", "start_24"), (dict(s0_end="21:00"), "s0", "empty"),
                             (dict(s0_all="0", s0_block="tiktokk"), "s0_block", "item")]:
        data = dict(csrf_token=csrf_of(c, TIME), s0_name="night", s0_mon="1", s0_start="21:00", s0_end="07:00",
                    s0_all="1")
        r = c.post(TIME, data={**data, **over})
        assert r.status_code == 400
        html = r.get_data(as_text=True)
        assert _field_error(html, field) == MORE[lang][key]
        assert english_words(html) == {"night"} | ({"tiktokk"} if key == "item" else set())  # the parent's words
        assert config_path.read_bytes() == before


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_catalog_lookups_are_translated(set_up: Flask, config_path: Path, lang: str) -> None:
    """An unknown service from the Profile page; an unknown block list catalog entry and an unknown
    category from a restored file. The English lists of known ids are not repeated: the page
    offers the choices."""
    c = _logged_in(set_up, lang)
    before = config_path.read_bytes()
    r = c.post("/profiles/Kids", data=dict(csrf_token=csrf_of(c, "/profiles/Kids"), service="tiktokk"))
    assert r.status_code == 400
    assert _field_error(r.get_data(as_text=True), "block_services") == MORE[lang]["service"]
    for toml, key, own in [(b'[[feeds]]\nname = "x"\ncatalog = "hagezi-prp"\n', "catalog", {"hagezi", "prp", "pro",
                                                                                            "plus", "tif"}),
                           (b'[[profiles]]\nname = "A"\nblock_categories = ["candy"]\n', "category", {"candy"})]:
        r = c.post("/settings", data=dict(csrf_token=csrf_of(c, "/settings"), action="restore",
                                          file=(io.BytesIO(toml), "config.toml")))
        assert r.status_code == 400
        text = _field_error(r.get_data(as_text=True), "file")
        assert text == MORE[lang][key]
        assert english_words(text) == own
    assert config_path.read_bytes() == before


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_broken_toml_and_unreadable_files_are_translated(set_up: Flask, config_path: Path, lang: str) -> None:
    """A broken backup restored (tomllib's position, also at the end of the file), then the config
    file itself broken by hand: the page, and an edit read with tomlkit, say where in words."""
    c = _logged_in(set_up, lang)
    before = config_path.read_bytes()
    for toml, key in [(b'# backup\n[dns]\n[dns\nupstreams = ["9.9.9.9"]\n', "toml"), (b'[general]\nx = "abc', "eof")]:
        r = c.post("/settings", data=dict(csrf_token=csrf_of(c, "/settings"), action="restore",
                                          file=(io.BytesIO(toml), "config.toml")))
        assert r.status_code == 400
        html = r.get_data(as_text=True)
        assert _field_error(html, "file") == MORE[lang][key]
        assert english_words(html) == set()
        assert config_path.read_bytes() == before

    csrf = csrf_of(c, "/settings")
    general = dict(csrf_token=csrf, action="general", upstreams="9.9.9.9", block_mode="null", block_ip="",
                   timezone="Asia/Almaty", language=lang)
    for broken, key in [(b"[dns\nupstreams = 1\n", "broken"), (b"\xff\xfe[dns]\n", "not_text")]:
        config_path.write_bytes(broken)
        r = c.post("/settings", data=general)
        assert r.status_code == 400
        assert _field_error(r.get_data(as_text=True), "general") == MORE[lang][key].format(path=config_path)
        assert config_path.read_bytes() == broken
    config_path.write_bytes(b"[dns\nupstreams = 1\n")
    r = c.get("/profiles")
    assert r.status_code == 500
    assert MORE[lang]["broken_page"].format(path=config_path) in r.get_data(as_text=True)
    # the same file in English keeps the parser's own words, for the person who edits it
    _in(c, "en")
    r = c.post("/settings", data={**general, "csrf_token": csrf_of(c, "/settings"), "language": "en"})
    assert _field_error(r.get_data(as_text=True), "general") == \
        f"Not saved: {config_path}: not valid TOML: Unexpected character: '\\n' (line 1, column 5)"


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_api_shape_errors_answer_in_the_sessions_language(set_up: Flask, config_path: Path, lang: str) -> None:
    c = _logged_in(set_up, lang)
    before = config_path.read_bytes()
    headers = {"X-CSRF-Token": c.get("/api/session").get_json()["csrf_token"]}
    r = c.patch("/api/profiles/Kids", json={"schedules": [{"days": "mon"}]}, headers=headers)
    assert r.status_code == 400
    assert r.get_json() == {"ok": False, "error": MORE[lang]["api_shape"], "field": "schedules[0].days"}
    r = c.patch("/api/profiles/Kids", json={"schedules": [{"start": "07:00", "end": "07:00"}]}, headers=headers)
    assert r.status_code == 400
    assert r.get_json() == {"ok": False, "error": MORE[lang]["api_window"], "field": "schedules[0]"}
    assert config_path.read_bytes() == before


@pytest.mark.parametrize(("lang", "flash", "reason", "unknown"), [
    ("ru", "Не выполнено: фильтр не запущен", "фильтр не запущен", "неизвестное устройство"),
    ("kk", "Орындалмады: сүзгі іске қосылмаған", "сүзгі іске қосылмаған", "белгісіз құрылғы"),
])
def test_control_socket_reasons_are_translated(set_up: Flask, lang: str, flash: str, reason: str,
                                               unknown: str) -> None:
    """No daemon in the tests: Pause on Devices, and the same through /api, say why in words."""
    from tests.webui.helpers import TABLET

    c = _logged_in(set_up, lang)
    r = c.post(f"/devices/{TABLET}/pause", data=dict(csrf_token=csrf_of(c, "/devices"), minutes="30"),
               follow_redirects=True)
    html = r.get_data(as_text=True)
    assert flash in html and english_words(html) == set()
    headers = {"X-CSRF-Token": c.get("/api/session").get_json()["csrf_token"]}
    r = c.post(f"/api/devices/{TABLET}/pause", json={"minutes": 30}, headers=headers)
    assert r.status_code == 503 and r.get_json() == {"ok": False, "message": reason}
    r = c.post("/api/devices/nope/pause", json={"minutes": 30}, headers=headers)
    assert r.status_code == 404 and r.get_json() == {"ok": False, "error": unknown}

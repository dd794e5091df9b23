"""Every page is fully translated: no English words left on the ru and kk pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask

from tests.webui.helpers import csrf_of, do_setup, login
from tests.webui.logdata import KIDS_DEVICE, write_log
from webui import views

PAGES = ["/devices", "/profiles", "/profiles/Kids", "/profiles/Kids/time", "/feeds", "/settings", "/", "/log",
         "/log?live=1&outcome=blocked", "/welcome"]
# Names that stay as they are in every language: brands, acronyms, and the test's own data.
KEEP = {"VPN", "DNS", "API", "YouTube", "English", "dnsfilter", "Kids", "Default", "Samsung", "aru", "tablet",
        "office", "Aru", "Guests", "example", "adult", "games", "casino", "news", "school"}


class _Text(HTMLParser):
    """The page's text, without data (time zones, tokens) and without words marked as the
    authors' own (a list's English name, licence and source: `translate="no"`)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skips: list[list[str | int]] = []  # [tag, how deep it is nested in itself]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skips and tag == self._skips[-1][0]:
            self._skips[-1][1] = int(self._skips[-1][1]) + 1
        elif tag in ("option", "code", "title") or ("translate", "no") in attrs:
            self._skips.append([tag, 1])
        if not self._skips:
            self.parts += [v or "" for k, v in attrs if k in ("aria-label", "placeholder", "title", "alt")]

    def handle_endtag(self, tag: str) -> None:
        if self._skips and tag == self._skips[-1][0]:
            self._skips[-1][1] = int(self._skips[-1][1]) - 1
            if self._skips[-1][1] == 0:
                self._skips.pop()

    def handle_data(self, data: str) -> None:
        if not self._skips:
            self.parts.append(data)


def english_words(html: str) -> set[str]:
    p = _Text()
    p.feed(html)
    keep = KEEP | {w for _, title in views.services() for w in re.findall(r"[A-Za-z]+", title)}
    return {w for w in re.findall(r"[A-Za-z]{2,}", " ".join(p.parts)) if w not in keep}


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_no_english_left(app: Flask, config_path: Path, lang: str) -> None:
    with config_path.open("a", encoding="utf-8") as f:
        f.write(KIDS_DEVICE)  # the Dashboard and Query log need a device in Kids and a query log
    write_log(config_path.parent / "var")
    c = app.test_client()
    c.post("/language", data=dict(csrf_token=csrf_of(c, "/setup"), lang=lang))
    assert english_words(c.get("/setup").get_data(as_text=True)) == set()
    do_setup(c, language=lang)
    assert english_words(c.get("/welcome").get_data(as_text=True)) == set()  # setup's summary
    c = app.test_client()  # another browser: the login page
    c.post("/language", data=dict(csrf_token=csrf_of(c, "/login"), lang=lang))
    assert english_words(c.get("/login").get_data(as_text=True)) == set()
    r = c.post("/login", data=dict(csrf_token=csrf_of(c, "/login"), password="wrong password"))
    assert english_words(r.get_data(as_text=True)) == set()
    login(c)
    for path in PAGES:
        html = c.get(path).get_data(as_text=True)
        assert f'lang="{lang}"' in html
        assert english_words(html) == set(), path
    r = c.post("/profiles", data=dict(csrf_token=csrf_of(c, "/profiles"), name="Kids"))
    assert r.status_code == 400
    assert {"ru": "профиль с именем 'Kids' уже есть", "kk": "'Kids' атаулы профиль бұрыннан бар"}[lang] in \
        r.get_data(as_text=True).replace("&#39;", "'")  # the key before it (`name:`) names the setting


def test_english_is_detected(set_up: Flask) -> None:
    """The check above can fail: the English pages are full of English."""
    c = set_up.test_client()
    login(c)
    assert {"Devices", "Profiles", "Pause"} <= english_words(c.get("/devices").get_data(as_text=True))


def test_browser_language_is_the_default(set_up: Flask) -> None:
    c = set_up.test_client()
    assert 'lang="kk"' in c.get("/login", headers={"Accept-Language": "kk,ru;q=0.8"}).get_data(as_text=True)
    assert 'lang="ru"' in c.get("/login", headers={"Accept-Language": "ru-RU"}).get_data(as_text=True)
    assert "Войти" in c.get("/login", headers={"Accept-Language": "ru-RU"}).get_data(as_text=True)


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_catalogs_are_complete(lang: str) -> None:
    root = Path(__file__).parents[2] / "webui" / "translations" / lang / "LC_MESSAGES"
    with (root / "messages.po").open("rb") as f:
        cat = read_po(f)
    untranslated = [m.id for m in cat if m.id and not m.string]
    assert untranslated == []
    assert (root / "messages.mo").stat().st_mtime >= (root / "messages.po").stat().st_mtime - 1



def _field_error(html: str, field: str) -> str:
    m = re.search(rf'<p class="error" id="{field}-error" role="alert">([^<]*)</p>', html)
    assert m, f"no error next to {field}"
    return m.group(1)


@pytest.mark.parametrize("lang, deny, start", [
    ("ru", "'bad!name' — недопустимое имя домена", "'25:99' — не время суток (ЧЧ:ММ, от 00:00 до 24:00)"),
    ("kk", "'bad!name' — жарамсыз домен атауы", "'25:99' — тәулік уақыты емес (СС:ММ, 00:00-ден 24:00-ге дейін)"),
])
def test_config_errors_next_to_a_field_are_translated(set_up: Flask, lang: str, deny: str, start: str) -> None:
    """ConfigError from dnsfilter/config/ (English, with a message id and parameters) is shown
    in the page's language; the parameters (the parent's own input) go in unchanged."""
    c = set_up.test_client()
    login(c)
    c.post("/language", data=dict(csrf_token=csrf_of(c, "/profiles/Kids"), lang=lang))
    r = c.post("/profiles/Kids", data=dict(csrf_token=csrf_of(c, "/profiles/Kids"), deny="bad!name"))
    assert r.status_code == 400
    text = _field_error(r.get_data(as_text=True), "deny").replace("&#39;", "'")
    # the key path (`profiles[1].deny[0]`) in plain words, counted from 1
    assert text == WHERE[lang][0] + deny
    r = c.post("/profiles/Kids/time", data=dict(csrf_token=csrf_of(c, "/profiles/Kids/time"), s0_name="night",
                                                s0_mon="1", s0_start="25:99", s0_end="07:00", s0_all="1"))
    assert r.status_code == 400
    text = _field_error(r.get_data(as_text=True), "s0_start").replace("&#39;", "'")
    assert text == WHERE[lang][1] + start
    # the English page says the same in English: one message id, three languages
    c.post("/language", data=dict(csrf_token=csrf_of(c, "/profiles/Kids"), lang="en"))
    r = c.post("/profiles/Kids", data=dict(csrf_token=csrf_of(c, "/profiles/Kids"), deny="bad!name"))
    text = _field_error(r.get_data(as_text=True), "deny").replace("&#39;", "'")
    assert text == "Profile “Kids”, blocked sites, entry 1: 'bad!name' is not a valid domain name"


WHERE = {"ru": ("Профиль «Kids», заблокированные сайты, запись 1: ", "Профиль «Kids», тихие часы 1, начало: "),
         "kk": ("«Kids» профилі, бұғатталған сайттар, 1-жазба: ", "«Kids» профилі, 1-тыныш сағаттар, басталуы: ")}


def test_config_error_messages_are_in_the_catalogs() -> None:
    """Every message marked N_() in dnsfilter/config/ and webui/ has a ru and kk translation (a catalog
    update run without `-k N_ ../dnsfilter` would silently drop them)."""
    import ast

    root = Path(__file__).parents[2]
    marked = set()
    for path in [*(root / "dnsfilter").rglob("*.py"), *(root / "webui").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_":
                marked.add(node.args[0].value)  # type: ignore[attr-defined]
    assert len(marked) >= 170  # 38 config errors, then upstreams, types, key paths, feed errors, schedules, files
    for lang in ("ru", "kk"):
        with (root / "webui" / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
            done = {m.id for m in read_po(f) if m.id and m.string and not m.fuzzy}
        assert marked <= done, (lang, sorted(marked - done))

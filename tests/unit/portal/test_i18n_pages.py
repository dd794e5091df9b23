"""The portal's languages and pages: Accept-Language, the switch, full translations, escaping,
no script, and nothing of another device."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po

from dnsfilter.config.portal import Helpline
from dnsfilter.portal.i18n import LANGS, pick
from dnsfilter.portal.pages import block_page, child_page
from dnsfilter.portal.view import BlockSeen, BlockView, BudgetView, DeviceView, ScheduleView
from dnsfilter.storage.child_requests import Request
from tests.support.paths import REPO


def test_pick_the_language() -> None:
    assert pick("kk-KZ,kk;q=0.9,ru;q=0.8,en;q=0.7") == "kk"
    assert pick("de-DE,ru;q=0.5,en;q=0.4") == "ru"
    assert pick("en;q=0.2, ru;q=0.9") == "ru"
    assert pick("fr,de") == "en"
    assert pick("ru", chosen="kk") == "kk"  # the page's own switch wins
    assert pick("ru", chosen="xx") == "ru"
    assert pick("ru;q=abc,kk") == "kk"


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_every_message_is_translated(lang: str) -> None:
    with open(REPO / f"dnsfilter/portal/translations/{lang}/LC_MESSAGES/portal.po", "rb") as f:
        cat = read_po(f)
    with open(REPO / "dnsfilter/portal/messages.pot", "rb") as f:
        pot = read_po(f)
    assert {m.id for m in pot if m.id} <= {m.id for m in cat if m.id and m.string}
    for m in cat:  # the same {fields} in every translation
        if m.id and m.string:
            assert sorted(re.findall(r"{\w+}", m.id)) == sorted(re.findall(r"{\w+}", m.string)), m.id


def view() -> DeviceView:
    return DeviceView(
        "02:00:5e:10:00:01", "Aru's <tablet>", "Kids", privacy="full", categories=("adult", "games", "ads"),
        services=("TikTok",), safe_search=True, schedules=(ScheduleView(("sun", "mon"), "21:00", "07:00", "all"),
                                                           ScheduleView(("daily",), "15:00", "17:00", ("games",))),
        resting="all", resting_until=1_800_000_000.0, budgets=(BudgetView("youtube", 60, 60),),
        recent=(BlockSeen(1_800_000_000.0, "casino.example", "category", "gambling", ""),),
        requests=(Request(1, "d", "Aru", "Kids", "site", "game.example", "", "games", "1h", "approved", 1.0,
                          duration="1h"),),
        allowed_now=(("game.example", 1_800_003_600.0),), tz="Asia/Almaty", token="tok",
        titles={"youtube": "YouTube"},
        helplines=(Helpline("111", (("en", "Family line"), ("ru", "Семейная линия"), ("kk", "Отбасы желісі"))),),
        report_url="https://safekaznet.kz/")


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        self._skip += tag in ("style", "title")
        self.parts += [v or "" for k, v in attrs if k in ("aria-label", "placeholder", "title", "alt")]

    def handle_endtag(self, tag) -> None:
        self._skip -= tag in ("style", "title")

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


# names that stay as they are: the test's data, brands, the address example, language names
KEEP = {"Aru", "tablet", "Kids", "TikTok", "YouTube", "casino", "example", "game", "safekaznet", "kz", "org",
        "English", "VPN", "https"}


def english(html: str) -> set[str]:
    p = Text()
    p.feed(html)
    return {w for w in re.findall(r"[A-Za-z]{2,}", " ".join(p.parts)) if w not in KEEP}


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_pages_have_no_english_left(lang: str) -> None:
    assert english(child_page(view(), lang, "/why")) == set()
    b = BlockView("casino.example", True, "category", "gambling")
    assert english(block_page(b, view(), lang, "http://192.168.1.1/why", "/")) == set()
    law = BlockView("casino.example", True, "authority", "authority", legal_basis="", appeal_url="https://a.kz/")
    assert english(block_page(law, view(), lang, "http://192.168.1.1/why", "/")) == set()


@pytest.mark.parametrize("lang", LANGS)
def test_no_script_everything_escaped(lang: str) -> None:
    v = view()
    v.label = '<script>alert(1)</script>'
    html = child_page(v, lang, "/why", notice="<b>hi</b>")
    p = Text()
    p.feed(html)
    assert "script" not in p.tags and "<b>" not in html and "&lt;script&gt;" in html
    assert f'<html lang="{lang}">' in html and 'href="tel:111"' in html and "https://safekaznet.kz/" in html


def test_the_block_page_of_an_authority_list_has_no_ask_button_but_the_appeal() -> None:
    law = BlockView("banned.example", True, "authority", "authority", legal_basis="Law No. 5, art. 2",
                    appeal_url="https://appeal.example/")
    html = block_page(law, view(), "en", "http://192.168.1.1/why", "/")
    assert "Law No. 5, art. 2" in html and 'href="https://appeal.example/"' in html
    assert "<form" not in html
    other = block_page(BlockView("casino.example", True, "category", "gambling"), view(), "en", "h", "/")
    assert "<form" in other and 'name="name" value="casino.example"' in other

"""Notification addresses (kept private, never shown in full) and the parent's messages in
every language."""

from __future__ import annotations

import datetime as dt
import stat
import zoneinfo
from pathlib import Path

import pytest

from dnsfilter.notify.messages import request_message, weekly_message
from dnsfilter.notify.urls import check_url, masked, path_of, read_urls, write_urls
from dnsfilter.storage.child_requests import Request
from dnsfilter.storage.report import BudgetWeek, DeviceWeek, ProfileWeek, WeeklyReport

URLS = ["mailto://parent:s3cret@mail.example.kz?to=parent@example.kz", "tgram://123456:AAEsecret/987",
        "json://127.0.0.1:8080/hook"]


def test_addresses_are_written_privately_and_read_back(tmp_path: Path) -> None:
    write_urls(tmp_path, URLS)
    assert read_urls(tmp_path) == URLS
    mode = path_of(tmp_path).stat().st_mode
    assert not mode & (stat.S_IRWXG | stat.S_IRWXO)
    path_of(tmp_path).write_text("{broken")
    assert read_urls(tmp_path) == []  # a damaged file sends nothing, and says nothing of itself


def test_masked_never_shows_a_secret() -> None:
    shown = [masked(u) for u in URLS]
    assert shown == ["mailto://mail.example.kz/…", "tgram://…", "json://127.0.0.1/…"]
    assert not any("s3cret" in s or "AAE" in s or "123456" in s for s in shown)


def test_bad_addresses() -> None:
    assert check_url("no scheme") and check_url("x://") and check_url("a b://c")
    with pytest.raises(ValueError) as e:
        write_urls(Path("/nonexistent"), ["mailto://u:SECRET@x.example", "bad url"])
    assert "SECRET" not in str(e.value)


REQ = Request(7, "02:00:5e:10:00:01", "Aru's tablet", "Kids", "site", "game.example", "category", "games", "1h",
              "open", 1.0)
WORDS = {"en": ("asks to open", "Online games", "Answer here"), "ru": ("просит открыть", "Онлайн-игры", "Ответить"),
         "kk": ("ашуды сұрайды", "Онлайн ойындар", "Жауап беру")}


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_the_request_message_names_device_site_reason_and_link(lang: str) -> None:
    title, body = request_message(REQ, lang, "http://dnsfilter.lan:8080")
    for w in (*WORDS[lang], "Aru's tablet", "game.example", "http://dnsfilter.lan:8080/requests?id=7"):
        assert w in title + body, (lang, w)
    _t, cli = request_message(REQ, lang, "")
    assert "dnsfilter requests approve -c CONFIG 7 --for 1h" in cli


def report() -> WeeklyReport:
    tz = "Asia/Almaty"
    start = dt.datetime(2026, 11, 30, tzinfo=zoneinfo.ZoneInfo(tz)).timestamp()
    kids = ProfileWeek("Kids", "full", 120, 30, {"gambling": 20, "adult": 10}, [("casino.example", 20)],
                       [DeviceWeek("d", "Aru's tablet", 120, 30, {"gambling": 20}, [BudgetWeek("youtube", 80, 150, 2)],
                                   {"approved": 1, "denied": 2})])
    teens = ProfileWeek("Teens", "counts", 50, 5, {"games": 5})
    return WeeklyReport(start, start + 6 * 86400 + 64800, tz, [kids, teens],
                        [{"id": "x", "label": "New phone", "profile": None, "first_seen": start}])


REPORT_WORDS = {"en": ("Weekly report, 30.11–06.12", "Kids: 120 lookups, 30 blocked", "Betting and casino sites 20",
                       "Most blocked: casino.example (20)", "YouTube 80 of 150 min", "3 requests (1 yes, 2 no)",
                       "Counts only", "New devices: New phone"),
                "ru": ("Отчёт за неделю, 30.11–06.12", "Kids: запросов 120, закрыто 30", "Ставки и казино 20",
                       "Чаще всего закрывались: casino.example (20)", "YouTube 80 из 150 мин",
                       "просьб: 3 (да: 1, нет: 2)", "Только числа", "Новые устройства: New phone"),
                "kk": ("Апталық есеп, 30.11–06.12", "Kids: 120 сұрау, 30 жабылды", "Бәс тігу және казино сайттары 20",
                       "Ең жиі жабылғандар: casino.example (20)", "YouTube 150 минуттың 80", "3 өтініш (иә: 1, жоқ: 2)",
                       "Тек сандар", "Жаңа құрылғылар: New phone")}


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_the_weekly_message(lang: str) -> None:
    title, body = weekly_message(report(), lang, "http://dnsfilter.lan:8080")
    for w in REPORT_WORDS[lang]:
        assert w in body, (lang, w)
    assert body.startswith(title) and "http://dnsfilter.lan:8080/report" in body

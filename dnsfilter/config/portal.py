"""Config sections about the child's side and the parent's messages: `[portal]` (the child's
page and the block page: where they listen, the helplines and the hotline they show) and
`[notify]` (where requests and the weekly report are sent, and when)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from dnsfilter.config.values import N_, ConfigError, Listen, Section, parse_dns_listen

LANGS = ("en", "ru", "kk")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_HELPLINES = 8
MAX_NOTIFY_URLS = 16


@dataclass(frozen=True, slots=True)
class Helpline:
    phone: str
    names: tuple[tuple[str, str], ...]  # (language, name): the page picks its language's, else English
    url: str = ""

    def name(self, lang: str) -> str:
        d = dict(self.names)
        return d.get(lang) or d.get("en") or next(iter(d.values()), "")


@dataclass(frozen=True, slots=True)
class Portal:
    listen: tuple[Listen, ...] = (Listen("", 80, "lan"),)
    country: str = ""  # ISO 3166-1 alpha-2 of the helplines; "" when none is known
    helplines: tuple[Helpline, ...] = ()
    report_url: str = ""  # the national hotline for harmful content


@dataclass(frozen=True, slots=True)
class WeeklyTime:
    day: int  # 0 = Monday (datetime.weekday)
    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{DAYS[self.day]} {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True, slots=True)
class Notify:
    urls: tuple[str, ...] = ()  # Apprise URLs from the file; the UI keeps its own with the admin's secrets
    weekly_report: WeeklyTime | None = WeeklyTime(6, 18, 0)  # None: no weekly message
    language: str = ""  # of the messages; "": the admin's language
    admin_url: str = ""  # the web UI as a phone reaches it; "": from [web].listen and the hostname


@functools.cache
def country_table() -> dict[str, Any]:
    """The bundled helplines per country (dnsfilter/data/helplines.toml)."""
    text = resources.files("dnsfilter").joinpath("data/helplines.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def country_of(timezone: str) -> str:
    for code, entry in country_table().items():
        if timezone in entry.get("timezones", ()):
            return str(code)
    return ""


def _bundled(country: str) -> tuple[tuple[Helpline, ...], str]:
    entry = country_table().get(country, {})
    lines = tuple(Helpline(h["phone"], tuple((lang, h[lang]) for lang in LANGS if lang in h))
                  for h in entry.get("helplines", ()))
    return lines, str(entry.get("report_url", ""))


def _web_url(value: str, key: str) -> str:
    url = value.strip()
    if url and not url.startswith(("https://", "http://")) or any(c.isspace() or c in "<>\"'" for c in url):
        raise ConfigError(key, N_("must be a web address starting with https://"))
    return url


def _helpline(s: Section) -> Helpline:
    phone = s.get("phone", str, "").strip()
    if not phone or len(phone) > 32 or not all(c.isdigit() or c in "+-() " for c in phone):
        raise ConfigError(s.key("phone"), N_("needs a phone number (digits, spaces, + - and brackets)"))
    base = s.get("name", str, "").strip()
    names = [(lang, s.get(lang, str, "").strip() or base) for lang in LANGS]
    if not any(n for _l, n in names):
        raise ConfigError(s.key("name"), N_("every helpline needs a name"))
    url = _web_url(s.get("url", str, ""), s.key("url"))
    s.done()
    return Helpline(phone, tuple((lang, n) for lang, n in names if n), url)


def parse_portal(s: Section, timezone: str) -> Portal:
    listen = tuple(parse_dns_listen(v, f"{s.key('listen')}[{i}]", 80)
                   for i, v in enumerate(s.strings("listen", ("lan:80",))))
    if not listen:
        raise ConfigError(s.key("listen"), N_("needs at least one address"))
    country = s.get("country", str, country_of(timezone)).strip().upper()
    if country and (len(country) != 2 or not country.isalpha()):
        raise ConfigError(s.key("country"), N_("must be a two-letter country code (e.g. KZ)"))
    helplines, report = _bundled(country)
    raw = s.get("helplines", list, None)
    if raw is not None:
        if len(raw) > MAX_HELPLINES:
            raise ConfigError(s.key("helplines"), N_("at most %(n)s helplines"), n=MAX_HELPLINES)
        helplines = tuple(_helpline(Section(f"{s.key('helplines')}[{i}]", h)) for i, h in enumerate(raw))
    report = _web_url(s.get("report_url", str, report), s.key("report_url"))
    s.done()
    return Portal(listen, country, helplines, report)


def parse_weekly(text: str, key: str) -> WeeklyTime | None:
    """"sun 18:00" (a weekday and a local time), or "" / "off" for none."""
    t = text.strip().lower()
    if t in ("", "off"):
        return None
    day, _sep, hhmm = t.partition(" ")
    from dnsfilter.core.household.schedule import parse_hhmm

    try:
        minutes = parse_hhmm(hhmm.strip())
    except ValueError:
        minutes = -1
    if (day not in DAYS and day not in FULL_DAYS) or not 0 <= minutes < 24 * 60:
        raise ConfigError(key, N_('%(value)r: expected a weekday and a time, e.g. "sun 18:00", or "off"'),
                          value=text)
    return WeeklyTime(DAYS.index(day[:3]), minutes // 60, minutes % 60)


def parse_notify(s: Section) -> Notify:
    urls = s.strings("urls", ())
    if len(urls) > MAX_NOTIFY_URLS:
        raise ConfigError(s.key("urls"), N_("at most %(n)s addresses"), n=MAX_NOTIFY_URLS)
    for i, u in enumerate(urls):
        if "://" not in u or any(c.isspace() for c in u):
            raise ConfigError(f"{s.key('urls')}[{i}]", N_("%(value)r is not a notification address "
                                                          "(an Apprise URL such as mailto://… or json://…)"),
                              value=u.split("://", 1)[0] + "://…")
    weekly = parse_weekly(s.get("weekly_report", str, "sun 18:00"), s.key("weekly_report"))
    language = s.get("language", str, "")
    if language and language not in LANGS:
        raise ConfigError(s.key("language"), N_("must be one of %(modes)s"), modes=", ".join(LANGS))
    admin_url = _web_url(s.get("admin_url", str, ""), s.key("admin_url")).rstrip("/")
    s.done()
    return Notify(urls, weekly, language, admin_url)

"""Time zones as a family picks one: a short list by country first (the appliance's first home
is Kazakhstan), then every IANA name; and a warning when the system's time zone data predates
a change that moves bedtimes (Kazakhstan went to a single UTC+5 zone on 1 March 2024, tzdata
2024a: with older data, Almaty's clocks read an hour late and a 21:00 bedtime starts at 22:00).

Python's zoneinfo reads the system's data (/usr/share/zoneinfo: Debian's `tzdata`, OpenWrt's
`zoneinfo-asia`), so that package is what must be current.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# (label, IANA name): one zone per country, the capital's, except where people would look for
# their own city. Kazakhstan: every Asia/* zone of the country is UTC+5 since 2024.
COUNTRIES = (
    (_l("Kazakhstan (Astana, Almaty)"), "Asia/Almaty"),
    (_l("Russia (Moscow)"), "Europe/Moscow"),
    (_l("Russia (Omsk)"), "Asia/Omsk"),
    (_l("Russia (Novosibirsk)"), "Asia/Novosibirsk"),
    (_l("Kyrgyzstan (Bishkek)"), "Asia/Bishkek"),
    (_l("Uzbekistan (Tashkent)"), "Asia/Tashkent"),
    (_l("Tajikistan (Dushanbe)"), "Asia/Dushanbe"),
    (_l("Turkmenistan (Ashgabat)"), "Asia/Ashgabat"),
    (_l("Azerbaijan (Baku)"), "Asia/Baku"),
    (_l("Georgia (Tbilisi)"), "Asia/Tbilisi"),
    (_l("Armenia (Yerevan)"), "Asia/Yerevan"),
    (_l("Belarus (Minsk)"), "Europe/Minsk"),
    (_l("Ukraine (Kyiv)"), "Europe/Kyiv"),
    (_l("Mongolia (Ulaanbaatar)"), "Asia/Ulaanbaatar"),
    (_l("China (Beijing)"), "Asia/Shanghai"),
    (_l("Turkey (Istanbul)"), "Europe/Istanbul"),
    (_l("Germany (Berlin)"), "Europe/Berlin"),
    (_l("United Kingdom (London)"), "Europe/London"),
)
# Zones whose offset a recent tzdata release changed: (zone, a date after the change, offset)
RECENT = (("Asia/Almaty", dt.datetime(2024, 6, 1, tzinfo=dt.UTC), dt.timedelta(hours=5)),
          ("Asia/Qostanay", dt.datetime(2024, 6, 1, tzinfo=dt.UTC), dt.timedelta(hours=5)))


def by_country() -> list[tuple[str, str]]:
    """(label, zone) of the short list, for the zones this system knows."""
    known = _known()
    return [(str(label), tz) for label, tz in COUNTRIES if tz in known]


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def stale_zone(tz: str) -> bool:
    """Whether the system's data for `tz` predates a change this module knows of."""
    for zone, when, offset in RECENT:
        if zone == tz:
            try:
                return when.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset() != offset
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                return True
    return False


def outdated_warning(tz: str) -> str | None:
    if not stale_zone(tz):
        return None
    return _("This appliance's time zone data is older than 2024: Kazakhstan has been on UTC+5 since "
             "1 March 2024, but this system still says otherwise, so schedules would start an hour late. "
             "Update the time zone package (tzdata, or zoneinfo-asia on OpenWrt).")

"""Time zones as a family in Kazakhstan picks one, and the time zone data they rely on."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webui import zones


def test_the_systems_tzdata_has_kazakhstan_on_utc_plus_5() -> None:
    """Python's zoneinfo reads the system's data: bedtimes are an hour late on a tzdata older
    than 2024a (Kazakhstan's single UTC+5 zone since 1 March 2024). Update tzdata if this fails."""
    for zone in ("Asia/Almaty", "Asia/Qostanay", "Asia/Aqtobe", "Asia/Oral"):
        assert dt.datetime(2024, 6, 1, tzinfo=zoneinfo.ZoneInfo(zone)).utcoffset() == dt.timedelta(hours=5), zone
    assert dt.datetime(2024, 1, 15, tzinfo=zoneinfo.ZoneInfo("Asia/Almaty")).utcoffset() == dt.timedelta(hours=6)
    assert not zones.stale_zone("Asia/Almaty")


def test_the_setup_page_offers_kazakhstan_first_and_the_configs_zone(app: Flask) -> None:
    html = app.test_client().get("/setup").get_data(as_text=True)
    by_country = html.split('<optgroup label="By country">')[1].split("</optgroup>")[0]
    assert by_country.index("Kazakhstan (Astana, Almaty)") < by_country.index("Russia (Moscow)")
    # the test config says UTC: that is what is preselected (setup no longer overwrites it)
    assert '<option value="UTC" selected>' in html and "older than 2024" not in html


def test_old_tzdata_is_named_on_setup_and_settings(app: Flask, client: FlaskClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # what an old system says (Almaty still at UTC+6 after March 2024)
    monkeypatch.setattr(zones, "RECENT", (("Asia/Almaty", dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
                                           dt.timedelta(hours=6)),))
    html = client.get("/settings").get_data(as_text=True)  # the test's setup chose Asia/Almaty
    assert "older than 2024" in html and "tzdata" in html

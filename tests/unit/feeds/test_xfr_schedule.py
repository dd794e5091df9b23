"""When an xfr:// feed is synced (its zone's SOA refresh and retry) and when it is stale (past
its SOA expire with no answer from the primary: the last good version stays in force)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsfilter import cli
from dnsfilter.config import load
from feeds.sync import FeedStatus, jitter, next_due, write_status


@pytest.fixture()
def cfg(tmp_path: Path):
    (tmp_path / "config.toml").write_text(
        '[storage]\ndata_dir = "var"\n[[feeds]]\nname = "isp"\nurl = "xfr://192.0.2.53/z.example"\n'
        'interval = "1h"\n')
    (tmp_path / "var" / "feeds").mkdir(parents=True)
    return load(tmp_path / "config.toml")


def test_soa_refresh_and_retry_drive_syncs(cfg) -> None:
    f = cfg.feeds[0]
    ok = FeedStatus("isp", result="new", last_attempt=1000.0, soa_refresh=300, soa_retry=30, soa_expire=86400)
    assert next_due(cfg, f, 0.0, ok) == pytest.approx(1000.0 + 300 * jitter(f, 1000.0))
    failed = FeedStatus("isp", result="failed", last_attempt=1000.0, soa_refresh=300, soa_retry=30)
    assert next_due(cfg, f, 0.0, failed) == pytest.approx(1000.0 + 30 * jitter(f, 1000.0))
    slow = FeedStatus("isp", result="new", last_attempt=1000.0, soa_refresh=7200, soa_retry=60)
    assert next_due(cfg, f, 0.0, slow) == pytest.approx(1000.0 + 3600 * jitter(f, 1000.0))  # interval caps it


def test_stale_past_expire(cfg, capsys: pytest.CaptureFixture[str]) -> None:
    st = FeedStatus("isp", result="failed", last_attempt=10_000.0, last_contact=1_000.0, soa_expire=3600, zone_serial=7)
    assert st.stale(1_000.0 + 3601) and not st.stale(1_000.0 + 3599)
    assert not FeedStatus("isp").stale(1e12)  # never transferred: nothing to be stale
    write_status(cfg, st)
    assert cli.main(["feeds", "status", "-c", cfg.path]) == 0
    out = capsys.readouterr().out
    assert "serial 7 in force" in out and "STALE" in out
    assert cli.main(["feeds", "status", "-c", cfg.path, "--json"]) == 0
    assert '"stale": true' in capsys.readouterr().out

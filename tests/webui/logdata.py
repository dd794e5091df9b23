"""A query log written the way the daemon writes it: records through core.logbatch.batch (each
profile's privacy applied) into a real LogStore at data_dir/querylog.db."""

from __future__ import annotations

import time
from pathlib import Path

from dnsfilter.core.logbatch import batch
from dnsfilter.core.querylog import Record, log_info
from dnsfilter.storage.logstore import FILE, LogStore
from tests.webui.helpers import LAPTOP, TABLET

KIDS_DEVICE = f"""
[[devices]]
name = "Aru's tablet"
mac = "{TABLET}"
profile = "Kids"

[[profiles]]
name = "Guests"
privacy = "anonymous"
"""


def records(now: float) -> list[Record]:
    """The tablet (in Kids) is blocked on an adult site and a deny-listed game; the laptop looks
    up ordinary sites; a profile-less guest (anonymised) is blocked once."""
    return [
        (now - 300, "192.168.1.23", TABLET, log_info("Kids", "adult.example", 1, "blocked", "category", "adult",
                                                      "adult-feed")),
        (now - 200, "192.168.1.23", TABLET, log_info("Kids", "adult.example", 1, "blocked", "category", "adult",
                                                      "adult-feed")),
        (now - 100, "192.168.1.23", TABLET, log_info("Kids", "games.example", 1, "blocked", "deny", "custom")),
        (now - 90, "192.168.1.23", TABLET, log_info("Kids", "school.example", 1, "resolved")),
        (now - 50, "192.168.1.40", LAPTOP, log_info("Default", "news.example", 1, "resolved")),
        (now - 40, "192.168.1.40", LAPTOP, log_info("Default", "news.example", 28, "cached")),
        (now - 30, "192.168.1.77", "192.168.1.77", log_info("Guests", "casino.example", 1, "blocked", "category",
                                                            "gambling", "bets")),
    ]


def write_log(data_dir: Path, privacy: dict[str, str] | None = None, now: float | None = None) -> float:
    """Write the records above (wall clock = `now`); returns `now`."""
    now = time.time() if now is None else now
    store = LogStore(data_dir / FILE)
    try:
        store.write(batch(records(now), 0.0, privacy or {"Guests": "anonymous"}))
    finally:
        store.close()
    return now

"""The weekly report's schedule: at `[notify] weekly_report` ("sun 18:00", local time in
`[general].timezone`) the report (storage/report.py) is computed off the event loop from the
query log's rollups and sent to the parent (shell/notifier.py). `ctl report` sends it now.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dnsfilter.config import Config
from dnsfilter.config.portal import WeeklyTime

if TYPE_CHECKING:
    from dnsfilter.shell.household import Household
    from dnsfilter.shell.notifier import Notifier
    from dnsfilter.storage.report import WeeklyReport

log = logging.getLogger("dnsfilter.notify")


def next_time(when: WeeklyTime, now: float, tz: str) -> float:
    """The first moment after `now` that is `when` in local time."""
    zone = zoneinfo.ZoneInfo(tz)
    local = dt.datetime.fromtimestamp(now, zone)
    for days in range(8):
        d = local.date() + dt.timedelta(days=days)
        if d.weekday() != when.day:
            continue
        at = dt.datetime(d.year, d.month, d.day, when.hour, when.minute, tzinfo=zone).timestamp()
        if at > now:
            return at
    return now + 7 * 86400  # not reached: the loop covers a whole week and a day


def labels_of(cfg: Config, devices: list[dict[str, Any]]) -> dict[str, str]:
    """Device ids to names for people: [[devices]] names, else DHCP hostnames."""
    out = {d["id"]: d["hostname"] for d in devices if d.get("hostname")}
    for d in cfg.devices:
        if d.mac:
            out[d.mac] = d.name
        if d.ip:
            out[d.ip] = d.name
    return out


def compute(cfg: Config, household: Household, now: float) -> WeeklyReport:
    """The report now (in the caller's thread: it reads SQLite)."""
    from dnsfilter.storage.logstore import FILE, LogStore
    from dnsfilter.storage.report import weekly

    path = cfg.data_path() / FILE
    log_store = LogStore(path, readonly=True) if path.exists() else None
    try:
        devices = household.devices()
        privacy = {p.name: p.privacy for p in cfg.profiles}
        return weekly(log=log_store, requests=household.requests, devices=devices, privacy=privacy,
                      labels=labels_of(cfg, devices), now=now, tz=cfg.general.timezone)
    finally:
        if log_store is not None:
            log_store.close()


class WeeklyTask:
    def __init__(self, cfg: Callable[[], Config], household: Household, notifier: Notifier) -> None:
        self._cfg = cfg
        self.household = household
        self.notifier = notifier
        self.task: asyncio.Task[None] | None = None
        self.last: float = 0.0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.task = loop.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def send_now(self) -> tuple[bool, str]:
        cfg = self._cfg()
        from dnsfilter.notify.messages import weekly_message

        if not await asyncio.to_thread(self.notifier.urls):
            return False, "weekly report not sent: no notification address is set"
        ql = self.household.querylog
        if ql is not None:  # the answers of the last seconds count too
            await ql.write_now()
        rep = await asyncio.to_thread(compute, cfg, self.household, time.time())
        title, body = weekly_message(rep, self.notifier.language(), self.notifier.admin_url())
        ok = await self.notifier.deliver(title, body)
        self.last = time.time()
        return ok, "weekly report sent" if ok else "weekly report not sent (see the log)"

    async def _run(self) -> None:
        while True:
            cfg = self._cfg()
            when, tz = cfg.notify.weekly_report, cfg.general.timezone
            if when is None:
                await asyncio.sleep(300)  # a reload may turn it on
                continue
            at = next_time(when, time.time(), tz)
            moved = False
            while time.time() < at and not moved:
                # a few minutes at a time: a reload may move the time, the clock may jump (NTP)
                await asyncio.sleep(min(at - time.time(), 300.0))
                now_cfg = self._cfg()
                moved = now_cfg.notify.weekly_report != when or now_cfg.general.timezone != tz
            if moved:
                continue
            try:
                await self.send_now()
            except Exception:  # the boundary: next week comes anyway
                log.exception("weekly report failed")

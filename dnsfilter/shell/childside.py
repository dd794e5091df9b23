"""The daemon's part in issue 18, in one place: the block page's addresses (every process), and
in worker 0 (or the only process) the portal listener, the parent's notifications and the weekly
report. The daemon calls start/stop, `update_block_page` when its listeners or config change,
and `command` for `ctl report`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from dnsfilter.config import Config

if TYPE_CHECKING:
    from dnsfilter.core.engine import Engine
    from dnsfilter.shell.household import Household
    from dnsfilter.shell.notifier import Notifier
    from dnsfilter.shell.portal import Portal
    from dnsfilter.shell.server import DnsServer
    from dnsfilter.shell.weekly import WeeklyTask

log = logging.getLogger("dnsfilter.portal")


class ChildSide:
    def __init__(self, cfg: Callable[[], Config], engine: Callable[[], Engine], household: Household,
                 server: Callable[[], DnsServer | None], serves: bool) -> None:
        self._cfg, self._engine, self._server = cfg, engine, server
        self.household = household
        self.serves = serves  # worker 0 or the only process: the page, messages and the report
        self.portal: Portal | None = None
        self.notifier: Notifier | None = None
        self.weekly: WeeklyTask | None = None
        self._updating = asyncio.Lock()

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        cfg = self._cfg()
        if self.serves:
            from dnsfilter.shell.notifier import Notifier
            from dnsfilter.shell.weekly import WeeklyTask

            self.notifier = Notifier(self._cfg)
            self.notifier.start(loop)
            self.weekly = WeeklyTask(self._cfg, self.household, self.notifier)
            self.weekly.start(loop)
            if cfg.portal is not None:
                from dnsfilter.shell.portal import Portal

                self.portal = Portal(self._cfg, self._engine, self.household, self.notifier, self.update_block_page)
                try:
                    await self.portal.start()
                except OSError as e:  # DNS goes on; the page is what is missing, and the log says so
                    log.error("child's page not served: cannot listen: %s", e)
        await self.update_block_page()

    async def update_block_page(self) -> None:
        from dnsfilter.shell.blockpage_addrs import interface_addresses, plan

        async with self._updating:
            cfg, server = self._cfg(), self._server()
            if not any(p.block_page for p in cfg.profiles) or cfg.portal is None:
                if self._engine().block_page is not None:
                    self._engine().set_block_page(None)
                return
            hosts = [h for h, _p in server.addresses()] if server is not None else []
            bp = plan(cfg, hosts, await interface_addresses())
            self._engine().set_block_page(bp)
            if bp is not None and not bp:
                log.warning("block page: no portal address to answer with yet; blocked names get the usual answer")

    async def stop(self) -> None:
        for part in (self.portal, self.weekly, self.notifier):
            if part is not None:
                await part.stop()

    async def command(self, line: str) -> dict[str, object]:
        if line == "report":
            if self.weekly is None:
                return {"ok": False, "message": "the weekly report is sent by worker 0"}
            ok, msg = await self.weekly.send_now()
            return {"ok": ok, "message": msg}
        return {"ok": False, "message": "usage: report"}

    def status(self) -> dict[str, object]:
        n = self.notifier
        p = self.portal
        return {"portal": {"addresses": p.hosts(), "served": p.served} if p is not None else None,
                "notifications": {"sent": n.sent, "failed": n.failed, "dropped": n.dropped} if n is not None else None}

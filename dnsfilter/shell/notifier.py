"""Sends the parent's messages (notify/messages.py) without ever blocking the daemon: each one
goes to a short-lived child process (`python -m dnsfilter.notify.send`) that imports Apprise,
sends, and exits, one at a time from a bounded queue. The daemon never imports Apprise.

Where to: `[notify] urls` plus the addresses the web UI keeps with the admin's secrets
(notify/urls.py), re-read for every message, so a change in the UI needs no reload. In which
language: `[notify] language`, else the admin's (webui's admin.json), else English.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from dnsfilter.config import Config
from dnsfilter.config.values import parse_listen
from dnsfilter.notify.urls import read_urls

log = logging.getLogger("dnsfilter.notify")
QUEUE = 20  # messages waiting; beyond that new ones are dropped (and counted)
TIMEOUT = 60.0  # seconds one sending may take
# the child's allocator as the web UI's (shell/webproc.py): it exits after one message anyway
CHILD_ENV = {"MALLOC_ARENA_MAX": "2"}


def admin_language(data_dir: Path) -> str:
    try:
        lang = json.loads((data_dir / "webui" / "admin.json").read_text(encoding="utf-8")).get("language")
    except (OSError, ValueError, AttributeError):
        return "en"
    return lang if lang in ("en", "ru", "kk") else "en"


def admin_url(cfg: Config) -> str:
    """The web UI's address as a parent's phone reaches it ("" when there is no web UI)."""
    if cfg.notify.admin_url:
        return cfg.notify.admin_url
    if cfg.web is None:
        return ""
    where = parse_listen(cfg.web.listen, "web.listen", 8080)
    host = where.host
    try:
        ip = ipaddress.ip_address(host)
        if ip.is_loopback or ip.is_unspecified:
            host = cfg.general.hostname
        elif ip.version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"http://{host}" + ("" if where.port == 80 else f":{where.port}")


class Notifier:
    def __init__(self, cfg: Callable[[], Config]) -> None:
        self._cfg = cfg
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(QUEUE)
        self.task: asyncio.Task[None] | None = None
        self.sent = self.failed = self.dropped = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.task = loop.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    def urls(self) -> list[str]:
        cfg = self._cfg()
        return [*cfg.notify.urls, *read_urls(cfg.state_path())]

    def language(self) -> str:
        cfg = self._cfg()
        return cfg.notify.language or admin_language(cfg.state_path())

    def admin_url(self) -> str:
        return admin_url(self._cfg())

    def send(self, title: str, body: str) -> bool:
        """Queue one message; False when it was dropped (queue full)."""
        try:
            self.queue.put_nowait((title, body))
            return True
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("notification dropped: %d are waiting already", QUEUE)
            return False

    async def _run(self) -> None:
        while True:
            title, body = await self.queue.get()
            try:
                await self.deliver(title, body)
            except Exception:  # the boundary: one message's failure never stops the next
                log.exception("notification failed")
                self.failed += 1

    async def deliver(self, title: str, body: str) -> bool:
        urls = await asyncio.to_thread(self.urls)
        if not urls:
            log.info("notification not sent: no address is set ([notify] urls or the web UI's Settings)")
            return False
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dnsfilter.notify.send", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=os.environ | CHILD_ENV)
        data = json.dumps({"urls": urls, "title": title, "body": body}).encode()
        try:
            _out, err = await asyncio.wait_for(proc.communicate(data), TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            self.failed += 1
            log.warning("notification: sending took over %.0f s and was stopped", TIMEOUT)
            return False
        for line in err.decode("utf-8", "replace").splitlines()[:20]:
            log.warning("%s", line)
        if proc.returncode == 0:
            self.sent += 1
            return True
        self.failed += 1
        return False

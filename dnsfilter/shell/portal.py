"""The portal listener: the child's page and the block page over plain HTTP, on the daemon's
event loop (`[portal] listen`, by default port 80 of the LAN addresses, followed as they come
and go like `[dns].listen = ["lan"]`).

Served with the standard library in the daemon rather than by a Flask process like the admin
UI: the pages are two, without script, and need the resolver's own view of the device (its
identity from the neighbour table, its time state, what the policy decides for it), which only
the daemon holds. The cost is a few hundred KB of modules (docs/portal.md has the figures).

Bounded against a hostile LAN: MAX_CONN connections at once, a head of 8 KB and a form of 4 KB,
TIMEOUT seconds to send them, RATE requests a second per address; every error is a short
page, never a traceback. Only devices in `[dns].allowed_clients` are answered, and each only
about itself (portal_views.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from dnsfilter.config import Config, Listen
from dnsfilter.core.ratelimit import TokenBucket
from dnsfilter.portal.http import MAX_HEAD, HttpError, Request, parse_form, parse_head, response
from dnsfilter.portal.i18n import pick, translator
from dnsfilter.portal.pages import simple_page
from dnsfilter.shell.lan.interfaces import LanWatcher
from dnsfilter.shell.portal_views import Views

if TYPE_CHECKING:
    from dnsfilter.core.engine import Engine
    from dnsfilter.shell.household import Household
    from dnsfilter.shell.notifier import Notifier

log = logging.getLogger("dnsfilter.portal")
MAX_CONN = 64
TIMEOUT = 10.0
RATE, BURST = 20.0, 60.0  # requests per second per address: a page and its retries, not a flood
LANG_COOKIE = "dnsfilter_lang"


class Portal:
    def __init__(self, cfg: Callable[[], Config], engine: Callable[[], Engine], household: Household,
                 notifier: Notifier | None, on_change: Callable[[], Awaitable[None]] | None = None) -> None:
        self._cfg = cfg
        self.views = Views(cfg, engine, household, notifier, secrets.token_bytes(32))
        self.on_change = on_change
        self.servers: dict[Listen, asyncio.Server] = {}
        self.lan: LanWatcher | None = None
        self.active = 0
        self.buckets: dict[str, TokenBucket] = {}
        self.served = 0

    # ------------------------------------------------------------ listeners

    async def start(self) -> None:
        portal = self._cfg().portal
        assert portal is not None
        static = [lst for lst in portal.listen if not lst.interface]
        for lst in static:
            await self._open(lst)  # an error here is the caller's: the daemon logs it
        dynamic = tuple(lst for lst in portal.listen if lst.interface)
        if dynamic:
            self.lan = LanWatcher(dynamic, self._sync)
            try:
                await self.lan.start()
            except OSError as e:
                log.warning("portal: %s", e)
                self.lan = None
        if not self.servers:
            log.warning("portal: no address to serve the child's page on yet")
        elif self.on_change is not None:
            await self.on_change()

    async def _open(self, lst: Listen) -> None:
        srv = await asyncio.start_server(self._conn, lst.host, lst.port, limit=MAX_HEAD + 64, reuse_address=True,
                                         backlog=64)
        self.servers[lst] = srv
        log.info("child's page on http://%s/", lst)

    async def _sync(self, wanted: list[Listen]) -> None:
        changed = False
        for lst in [lst for lst in self.servers if lst not in wanted and lst not in self._static()]:
            self.servers.pop(lst).close()
            changed = True
        for lst in wanted:
            if lst not in self.servers:
                try:
                    await self._open(lst)
                    changed = True
                except OSError as e:
                    log.warning("portal: cannot listen on %s: %s (retried on the next address change)", lst,
                                e.strerror or e)
        if changed and self.on_change is not None:
            await self.on_change()

    def _static(self) -> set[Listen]:
        portal = self._cfg().portal
        return {lst for lst in portal.listen if not lst.interface} if portal else set()

    def hosts(self) -> list[str]:
        """The addresses the portal answers on (the block page's answers point there)."""
        out = []
        for srv in self.servers.values():
            for s in srv.sockets:
                out.append(str(s.getsockname()[0]))
        return out

    def port_of(self, host: str) -> int:
        for srv in self.servers.values():
            for s in srv.sockets:
                if s.getsockname()[0] == host:
                    return int(s.getsockname()[1])
        return 80

    async def stop(self) -> None:
        if self.lan is not None:
            await self.lan.stop()
        for srv in self.servers.values():
            srv.close()
        self.servers.clear()
        await asyncio.to_thread(self.views.close)

    # ------------------------------------------------------------ HTTP

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        if self.active >= MAX_CONN or not peer or not local:
            writer.close()
            return
        self.active += 1
        try:
            out = await self._answer(reader, str(peer[0]), str(local[0]), int(local[1]))
            if out:
                writer.write(out)
                await asyncio.wait_for(writer.drain(), TIMEOUT)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except Exception:  # the boundary: a bug costs this one page, never the daemon
            log.exception("portal: request from %s failed", peer[0])
        finally:
            self.active -= 1
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, peer: str, local: str, port: int) -> bytes:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        except asyncio.LimitOverrunError:
            return response(400, b"header too large", "text/plain; charset=utf-8")
        try:
            req = parse_head(head[:-4])
            if req.method == "POST":
                req.body = await asyncio.wait_for(reader.readexactly(req.content_length()), TIMEOUT)
                req.form = parse_form(req)
        except HttpError as e:
            return response(e.status, str(e).encode(), "text/plain; charset=utf-8")
        if not self._allow(peer):
            return response(429, b"too many requests", "text/plain; charset=utf-8")
        self.served += 1
        return await self.handle(req, peer, local, port)

    def _allow(self, peer: str) -> bool:
        now = time.monotonic()
        b = self.buckets.get(peer)
        if b is None:
            if len(self.buckets) >= 4096:
                self.buckets.clear()
            b = self.buckets[peer] = TokenBucket(RATE, BURST, now)
        return b.take(now)

    async def handle(self, req: Request, peer: str, local: str, port: int) -> bytes:
        cookie = _cookie(req.headers.get("cookie", ""), LANG_COOKIE)
        chosen = req.query.get("lang", "")
        lang = pick(req.headers.get("accept-language", ""), chosen or cookie)
        extra: tuple[tuple[str, str], ...] = ()
        if chosen == lang and chosen != cookie:
            extra = (("Set-Cookie", f"{LANG_COOKIE}={lang}; Path=/; Max-Age=31536000; SameSite=Lax"),)
        host = f"[{local}]" if ":" in local else local
        origin = f"http://{host}{'' if port == 80 else f':{port}'}"
        home = origin + "/why"
        head_only = req.method == "HEAD"
        status, body, headers = await self.views.route(req, peer, lang, home)
        if status == 405:
            t = translator(lang)
            body = simple_page(lang, t("This page only shows things"), t("Use the buttons on the page."), req.path)
        return response(status, body.encode("utf-8") if body else b"", headers=extra + headers, head_only=head_only,
                        home=origin)


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        k, _sep, v = part.strip().partition("=")
        if k == name:
            return v.strip()[:8]
    return ""


"""The portal's routes: who is asking (the resolver's own identify stage and neighbour table),
the child's page, the block page and the ask form, with the store reads and writes done off the
event loop. Every page is about the device the connection comes from, and nothing else.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from dnsfilter.config import Config, ConfigError
from dnsfilter.config.values import check_name
from dnsfilter.core.dns import wire
from dnsfilter.portal.http import Request
from dnsfilter.portal.i18n import translator
from dnsfilter.portal.pages import ASK_PATH, block_page, child_page, simple_page
from dnsfilter.portal.view import (
    BlockSeen,
    DeviceView,
    block_view,
    device_label,
    device_view,
    form_token,
    is_own_host,
)
from dnsfilter.storage.child_requests import DURATIONS, KINDS, RequestRefused, RequestStore
from dnsfilter.storage.child_requests import Request as Ask

if TYPE_CHECKING:
    from dnsfilter.core.engine import Engine
    from dnsfilter.core.stages.identify import ClientState
    from dnsfilter.shell.household import Household
    from dnsfilter.shell.notifier import Notifier
    from dnsfilter.storage.logstore import LogStore

log = logging.getLogger("dnsfilter.portal")
Result = tuple[int, str, tuple[tuple[str, str], ...]]
RECENT = 8
REFUSALS = ("too_many_open", "too_many", "authority", "open", "bad", "expired")


class Views:
    def __init__(self, cfg: Callable[[], Config], engine: Callable[[], Engine], household: Household,
                 notifier: Notifier | None, secret: bytes) -> None:
        self._cfg, self._engine = cfg, engine
        self.household = household
        self.notifier = notifier
        self.secret = secret
        self._log: LogStore | None = None

    @property
    def requests(self) -> RequestStore | None:
        return self.household.requests  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
        self._log = None

    def _logstore(self) -> LogStore | None:
        if self._log is None:
            from dnsfilter.storage.logstore import FILE, LogStore

            path = self._cfg().data_path() / FILE
            if path.exists():
                self._log = LogStore(path, readonly=True)
        return self._log

    # ------------------------------------------------------------ routes

    async def route(self, req: Request, peer: str, lang: str, home: str) -> Result:
        t = translator(lang)
        engine, cfg = self._engine(), self._cfg()
        client = engine.identify.client(peer, time.monotonic())
        if client is None:
            return 403, simple_page(lang, t("Not available"), t("This page is for devices on this network only."),
                                    req.path), ()
        if req.method == "POST":
            if req.path in (ASK_PATH, "/ask"):
                return await self._ask(req, client, lang, home)
            return 405, "", ()
        if req.method not in ("GET", "HEAD"):
            return 405, "", ()
        now = time.time()
        if is_own_host(req.host, cfg):
            if req.path in ("/", "/why"):
                v = await self._device(client, now)
                return 200, child_page(v, lang, req.path, self._notice(req, v, t)), ()
            if req.path == "/favicon.ico":
                return 204, "", ()
            return 404, simple_page(lang, t("Nothing here"), t("This page does not exist."), req.path,
                                    (home, t("Go to your page"))), ()
        # any other host: a site this device was sent here for
        if req.headers.get("sec-fetch-dest", "document") not in ("document", "iframe", "frame"):
            return 204, "", ()  # an image or script of a closed site: no page inside a page
        b = block_view(cfg, engine, client, req.host, now)
        v = await self._device(client, now, light=True)
        status = 451 if b.authority else 403 if b.blocked else 200
        return status, block_page(b, v, lang, home, req.path), ()

    def _notice(self, req: Request, v: DeviceView, t: Callable[[str], str]) -> str:
        sent = req.query.get("sent", "")
        name = req.query.get("name", "")[:253]
        if sent.isdigit():
            mine = next((r for r in v.requests if r.id == int(sent)), None)
            if mine is not None:
                what = mine.name if mine.kind == "site" else t("more time")
                return t("Your request for {name} was sent to a parent. The answer will show here.").format(name=what)
        refused = req.query.get("refused", "")
        return {
            "too_many_open": t("You have 5 requests waiting for an answer already. Wait for a parent to answer."),
            "too_many": t("You asked many times in the last hour. Try again later."),
            "authority": t("{name} is closed by law: a parent cannot open it.").format(name=name),
            "open": t("{name} is open for you already.").format(name=name),
            "bad": t("That does not look like a site's address. Type it like example.org."),
            "expired": t("That page was too old. Please try again."),
        }.get(refused, "")

    async def _device(self, client: ClientState, now: float, light: bool = False) -> DeviceView:
        cfg, engine = self._cfg(), self._engine()
        prof = next((p for p in cfg.profiles if p.name == client.profile), None)
        privacy = prof.privacy if prof is not None else "full"
        store = self.household.store

        def read() -> tuple[str | None, tuple[Ask, ...], tuple[BlockSeen, ...] | None]:
            host = None
            if store is not None:
                d = store.get(client.device)
                host = d.hostname if d is not None else None
            if light:
                return host, (), ()
            asks = tuple(self.requests.find(device=client.device, limit=8)) if self.requests is not None else ()
            recent: tuple[BlockSeen, ...] | None = None
            if privacy == "full":
                ls = self._logstore()
                rows = ls.tail(RECENT * 4, device=client.device, outcome="blocked", since=now - 86400) if ls else []
                seen: dict[str, BlockSeen] = {}
                for r in rows:  # newest first: one line per name, its latest block
                    if r["name"] and r["name"] not in seen and len(seen) < RECENT:
                        seen[r["name"]] = BlockSeen(r["ts"], r["name"], r["kind"] or "", r["category"] or "",
                                                    r["service"] or "")
                recent = tuple(seen.values())
            return host, asks, recent

        host, asks, recent = await asyncio.to_thread(read)
        allowed: tuple[tuple[str, float | None], ...] = ()
        if engine.time is not None:  # the expiring allows in force for this device or its profile
            mine, theirs = engine.time.overrides.holding(client.device, client.profile, now)
            allowed = tuple((o.name, o.until) for o in sorted(mine + theirs, key=lambda o: o.name)
                            if o.action == "allow")
        return device_view(cfg, engine, client, now, label=device_label(cfg, client, host),
                           token=form_token(self.secret, client.device), requests=asks, recent=recent,
                           allowed_now=allowed)

    # ------------------------------------------------------------ asking

    async def _ask(self, req: Request, client: ClientState, lang: str, home: str) -> Result:
        f = req.form
        if not hmac.compare_digest(f.get("token", ""), form_token(self.secret, client.device)):
            return _back(home, refused="expired")
        kind, wanted = f.get("kind", "site"), f.get("for", "1h")
        if kind not in KINDS or wanted not in DURATIONS:
            return _back(home, refused="bad")
        cfg, engine = self._cfg(), self._engine()
        now = time.time()
        reason = category = ""
        if kind == "site":
            name = host_of(f.get("name", ""))
            if name is None:
                return _back(home, refused="bad")
            qname = wire.text_to_wire(name)
            # an authority list's name is never asked for: its page shows the appeal route
            if engine.policy.decide(client.profile, qname, authority_only=True).blocked:
                return _back(home, refused="authority", name=name)
            b = block_view(cfg, engine, client, name, now)
            if not b.blocked:
                return _back(home, refused="open", name=name)
            reason, category = b.kind, b.category or b.service
        else:
            name = f.get("name", "")
            prof = next((p for p in cfg.profiles if p.name == client.profile), None)
            if prof is None or name not in {item for item, _m in prof.budgets}:
                return _back(home, refused="bad")
        if self.requests is None:
            return _back(home, refused="too_many")
        store = self.requests
        label = device_label(cfg, client, None)

        def make() -> tuple[Ask, bool]:
            host = None
            if self.household.store is not None:
                d = self.household.store.get(client.device)
                host = d.hostname if d is not None else None
            return store.create(device=client.device, label=device_label(cfg, client, host) or label,
                                profile=client.profile, kind=kind, name=name, reason=reason, category=category,
                                wanted=wanted, now=now)

        try:
            r, created = await asyncio.to_thread(make)
        except RequestRefused as e:
            return _back(home, refused=e.code)
        if created:
            log.info("request %d: %s asks for %s %s (%s)", r.id, r.label, r.kind, r.name, r.wanted)
            if self.notifier is not None:
                from dnsfilter.notify.messages import request_message

                title, body = request_message(r, self.notifier.language(), self.notifier.admin_url())
                self.notifier.send(title, body)
        return _back(home, sent=str(r.id))


def _back(home: str, **params: str) -> Result:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return 303, "", (("Location", f"{home}?{query}"),)


def host_of(text: str) -> str | None:
    """The host name in what a child typed or pasted (`https://www.Example.org/x?y` ->
    `www.example.org`), or None when there is none."""
    t = text.strip()
    if not t or len(t) > 2000:
        return None
    if "://" not in t:
        t = "http://" + t
    try:
        host = urlsplit(t).hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    try:
        return check_name(host, "name")
    except ConfigError:
        return None


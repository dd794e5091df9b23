"""What the child's page and the block page show for one device, gathered from the running
engine and config (who the device is, its profile, what holds for it right now) into plain
records the pages render. Nothing here reads another device's data: every field is the
device's own or its profile's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import zoneinfo
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dnsfilter.core.dns import wire
from dnsfilter.core.model import AUTHORITY_CATEGORY, Decision

if TYPE_CHECKING:
    from dnsfilter.config import Config
    from dnsfilter.config.portal import Helpline
    from dnsfilter.core.engine import Engine
    from dnsfilter.core.stages.identify import ClientState
    from dnsfilter.storage.child_requests import Request

# Names of the appliance itself besides its hostname and addresses: a router's own domains,
# never on a public list, so a visit to them is never a block.
OWN_SUFFIXES = (".lan", ".home.arpa", ".local", ".internal", ".localdomain")


@dataclass(frozen=True, slots=True)
class ScheduleView:
    days: tuple[str, ...]
    start: str
    end: str
    block: str | tuple[str, ...]  # "all" or category/service ids


@dataclass(frozen=True, slots=True)
class BudgetView:
    item: str
    used: int
    limit: int

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class BlockSeen:
    ts: float
    name: str
    kind: str
    category: str
    service: str


@dataclass(slots=True)
class DeviceView:
    device: str  # as the resolver names it (MAC or address)
    label: str
    profile: str
    privacy: str = "full"
    categories: tuple[str, ...] = ()  # blocked categories
    services: tuple[str, ...] = ()  # blocked services' titles
    safe_search: bool = False
    allow_only: bool = False
    allow: tuple[str, ...] = ()
    schedules: tuple[ScheduleView, ...] = ()
    paused_until: float | None = None
    resting: str | tuple[str, ...] | None = None  # a schedule holds now: "all" or its items
    resting_until: float | None = None
    budgets: tuple[BudgetView, ...] = ()
    recent: tuple[BlockSeen, ...] | None = None  # None: the privacy mode keeps no names of this device
    requests: tuple[Request, ...] = ()
    allowed_now: tuple[tuple[str, float | None], ...] = ()  # (name, until) for this device or its profile
    helplines: tuple[Helpline, ...] = ()
    report_url: str = ""
    tz: str = "UTC"
    token: str = ""
    titles: dict[str, str] = field(default_factory=dict)  # service id -> title (schedules, budgets)

    def clock(self, ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, zoneinfo.ZoneInfo(self.tz)).strftime("%H:%M")


@dataclass(frozen=True, slots=True)
class BlockView:
    """The block page's facts about one visit: the name and why it is closed for this device."""

    name: str
    blocked: bool
    kind: str = ""  # the reason's kind: category, service, deny, schedule, budget, pause, authority…
    category: str = ""
    service: str = ""
    rule: str = ""
    feed: str = ""
    legal_basis: str = ""
    appeal_url: str = ""
    budget_item: str = ""  # a spent budget: "ask for more time" names it

    @property
    def authority(self) -> bool:
        return self.kind == "authority" or self.category == AUTHORITY_CATEGORY

    @property
    def askable(self) -> bool:
        return self.blocked and not self.authority


def form_token(secret: bytes, device: str) -> str:
    """The token the portal's forms carry: a page of another site cannot make a child's browser
    send a request in their name (it cannot know it), and a token is only good for its device."""
    return hmac.new(secret, device.encode(), hashlib.sha256).hexdigest()[:32]


def device_label(cfg: Config, client: ClientState, hostname: str | None) -> str:
    """The device's name for people: its [[devices]] name, its DHCP hostname, its address."""
    for d in cfg.devices:
        if (client.mac is not None and d.mac == client.mac) or (d.ip is not None and d.ip == client.ip):
            return d.name
    return hostname or client.mac or client.ip


def is_own_host(host: str, cfg: Config) -> bool:
    """A Host that names the appliance (its page), not a blocked site (the block page)."""
    if not host or host == cfg.general.hostname or host == "localhost" or "." not in host:
        return True
    if host.endswith(OWN_SUFFIXES):
        return True
    return host.replace(".", "").isdigit() or ":" in host  # an address literal


def device_view(cfg: Config, engine: Engine, client: ClientState, now: float, *, label: str,
                token: str, requests: tuple[Request, ...] = (), recent: tuple[BlockSeen, ...] | None = None,
                allowed_now: tuple[tuple[str, float | None], ...] = ()) -> DeviceView:
    """The child's page of `client` at wall-clock `now`."""
    prof = next((p for p in cfg.profiles if p.name == client.profile), None)
    portal = cfg.portal
    v = DeviceView(client.device, label, client.profile, tz=cfg.general.timezone, token=token,
                   requests=requests, recent=recent, allowed_now=allowed_now,
                   helplines=portal.helplines if portal else (), report_url=portal.report_url if portal else "")
    if prof is None:  # the implicit profile: the defaults' categories
        v.categories = tuple(cfg.defaults.block_categories)
        return v
    v.privacy = prof.privacy
    v.categories = tuple(prof.block_categories if prof.block_categories is not None
                         else cfg.defaults.block_categories)
    items = {*prof.block_services, *(i for i, _m in prof.budgets),
             *(i for r in prof.schedules if r.block != "all" for i in r.block)}
    if items:
        from feeds.services import load_services

        known = load_services()
        v.titles = {s: known[s].title for s in items if s in known}
        v.services = tuple(v.titles.get(s, s) for s in prof.block_services)
    v.safe_search, v.allow_only, v.allow = prof.safe_search, prof.allow_only, prof.allow
    v.schedules = tuple(ScheduleView(r.days, r.start, r.end, r.block) for r in prof.schedules)
    t = engine.time
    if t is not None:
        for target in (f"device:{client.device}", f"profile:{client.profile}"):
            end = t.pauses.paused(target, now)
            if end is not None:
                v.paused_until = end
                break
        pt = t.profiles.get(client.profile)
        if pt is not None and pt.schedules is not None:
            active = pt.schedules.active(now)
            if active:
                blocks = [w.block for w in active]
                v.resting = "all" if "all" in blocks else tuple(i for b in blocks for i in b)
                v.resting_until = pt.schedules.next_change(now)
        if pt is not None and pt.budgets is not None:
            b = pt.budgets
            limit_today = getattr(b, "limit_today", None)  # with extensions, where the budget keeps them
            v.budgets = tuple(BudgetView(item, b.used(client.device, item, now),
                                         limit_today(client.device, item, now) if limit_today else limit)
                              for item, limit in b.limits.items())
    return v


def block_view(cfg: Config, engine: Engine, client: ClientState, name: str, now: float) -> BlockView:
    """Why `name` is closed for `client` right now (as the resolver decides it this moment)."""
    try:
        from dnsfilter.config.values import check_name

        qname = wire.text_to_wire(check_name(name, "host"))
    except ValueError:
        return BlockView(name, False)
    d: Decision = engine.policy.decide(client.profile, qname, explain=True, client=client.ip,
                                       state=engine.time_state(client, now))
    if not d.blocked:
        return BlockView(name, False)
    r = d.reason
    legal, appeal = "", ""
    if r.feed:
        feed = next((f for f in cfg.feeds if f.name == r.feed), None)
        if feed is not None:
            legal, appeal = feed.legal_basis, feed.appeal_url
    item = ""
    if r.kind == "budget":
        item = r.service or r.category or ""
    return BlockView(name, True, r.kind or "", r.category or "", r.service or "", r.rule or "", r.feed or "",
                     legal, appeal, item)

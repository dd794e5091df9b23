"""Config + compiled lists → the engine's parts. Pure: `serve`, `check` and reloads all build
their policy here, so `dnsfilter check` gives exactly the decision the daemon takes."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dnsfilter.config import Config
from dnsfilter.config.profiles import unenforced
from dnsfilter.core.cache import Cache
from dnsfilter.core.dns import wire
from dnsfilter.core.dns.codec import BlockAnswer
from dnsfilter.core.dns.notify import NotifyPolicy, NotifyZone
from dnsfilter.core.engine import Engine, EngineOptions, Log, _no_log
from dnsfilter.core.fastpath import FastPath
from dnsfilter.core.model import AUTHORITY_CATEGORY, Ede, list_version
from dnsfilter.core.policy.decide import FeedInfo, Policy, ProfileRules, RuleSet
from dnsfilter.core.policy.matcher import Matcher
from dnsfilter.core.policy.rulesets import ServiceIndex
from dnsfilter.core.stages.identify import DeviceRule, Identify, MacLookup
from dnsfilter.core.stages.local import LocalZones
from feeds.bypass import load_bypass

if TYPE_CHECKING:
    from dnsfilter.core.household.schedule import Pauses
    from dnsfilter.core.household.timestate import TimeRules

IMPLICIT_PROFILE = "Default"


@dataclass(frozen=True, slots=True)
class Parts:
    identify: Identify
    local: LocalZones
    policy: Policy
    block: BlockAnswer


def feed_infos(cfg: Config, matcher: Matcher) -> list[FeedInfo]:
    """The enabled feeds that have a compiled set in force (hashed: from the set itself). An
    authority list's version is its set's: what the daemon answers with is what it names."""
    return [FeedInfo(f.name, f.category, f.kind, matcher.sets[f.name].hashed, Ede(f.ede) if f.ede else None,
                     *((list_version(matcher.sets[f.name].digest), f.legal_basis)
                       if f.category == AUTHORITY_CATEGORY else ("", "")))
            for f in cfg.feeds if f.enabled and f.name in matcher.sets]



@functools.cache
def _services() -> ServiceIndex:
    """The bundled services catalog as an index (the loaders read their package files once)."""
    from feeds.services import load_services

    return ServiceIndex({sid: (s.group, s.domains) for sid, s in load_services().items()})


@functools.cache
def safe_search_table(youtube: str) -> dict[bytes, bytes]:
    """Wire name -> wire CNAME target for every engine, YouTube `strict`, `moderate` or `off`."""
    from feeds.safesearch import ENGINES, rewrite_table

    return {wire.text_to_wire(k): wire.text_to_wire(v) for k, v in rewrite_table(ENGINES, youtube=youtube).items()}


def build_policy(cfg: Config, matcher: Matcher) -> Policy:
    feeds = feed_infos(cfg, matcher)
    blockable = [f for f in feeds if f.kind == "block" and f.category != AUTHORITY_CATEGORY]
    hh_allow, hh_deny = cfg.filter.allow, cfg.filter.deny
    rules: list[ProfileRules] = []
    covered = {f.category for f in blockable}
    if not cfg.profiles:
        # No profiles: every feed applies to every client.
        rules.append(ProfileRules(cfg.defaults.profile, tuple(f.name for f in blockable),
                                  RuleSet(hh_allow), RuleSet(hh_deny),
                                  unenforced=unenforced(tuple(cfg.defaults.block_categories), covered)))
    uses_catalogs = any(p.block_services or p.safe_search or p.block_bypass or p.budgets or p.schedules
                        for p in cfg.profiles)
    services, bypass = (_services(), load_bypass()) if uses_catalogs else (None, ())
    for p in cfg.profiles:
        cats = set(p.block_categories if p.block_categories is not None else cfg.defaults.block_categories)
        if p.block_bypass:
            cats.add("bypass")
        rules.append(ProfileRules(
            p.name, tuple(f.name for f in blockable if f.category in cats),
            RuleSet(hh_allow + p.allow), RuleSet(hh_deny + p.deny),
            services=frozenset(p.block_services), bypass=p.block_bypass, allow_only=p.allow_only,
            safe_search=safe_search_table(p.youtube) if p.safe_search else None,
            budget_items=tuple(item for item, _m in p.budgets),
            unenforced=unenforced(p.wanted_categories(cfg.defaults.block_categories),
                                  covered | ({"bypass"} if p.block_bypass else set()))))
    return Policy(matcher, feeds, rules, cfg.protection.always_allow, services, bypass)


def build_time_rules(cfg: Config, pauses: Pauses | None = None) -> TimeRules | None:
    """Schedules and budgets per profile (None when no profile has any and nothing is paused)."""
    from dnsfilter.core.household.budget import Budgets
    from dnsfilter.core.household.schedule import Pauses, Schedules, parse_window
    from dnsfilter.core.household.timestate import ProfileTime, TimeRules

    profiles: dict[str, ProfileTime] = {}
    for p in cfg.profiles:
        pt = ProfileTime()
        if p.schedules:
            pt.schedules = Schedules([parse_window(list(r.days), r.start, r.end, r.block, r.name)
                                      for r in p.schedules], cfg.general.timezone)
        if p.budgets:
            pt.budgets = Budgets(dict(p.budgets), cfg.general.timezone)
        profiles[p.name] = pt
    kinds = {}
    if cfg.profiles:
        from dnsfilter.config.feeds import CATEGORIES

        kinds = {i: ("category" if i in CATEGORIES else "service")
                 for p in cfg.profiles for i in [*(x for x, _ in p.budgets),
                                                 *(b for r in p.schedules if r.block != "all" for b in r.block)]}
    return TimeRules(profiles, cfg.general.timezone, pauses if pauses is not None else Pauses(), kinds)


def build_identify(cfg: Config, neighbours: MacLookup | None = None) -> Identify:
    devices = []
    for d in cfg.devices:
        for net in (d.ip, d.cidr):
            if net is not None:
                devices.append(DeviceRule(ipaddress.ip_network(net, strict=False), d.profile))
    macs = {d.mac: d.profile for d in cfg.devices if d.mac}
    dns = cfg.dns
    return Identify(dns.allowed_clients, dns.ratelimit_exempt, devices, cfg.defaults.profile,
                    dns.ratelimit_qps, dns.ratelimit_burst, macs=macs, neighbours=neighbours,
                    trusted=cfg.network.trusted_forwarders)


def build_parts(cfg: Config, matcher: Matcher, neighbours: MacLookup | None = None) -> Parts:
    bm = cfg.dns.block_mode
    return Parts(build_identify(cfg, neighbours), LocalZones(cfg.general.hostname), build_policy(cfg, matcher),
                 BlockAnswer(bm.kind, bm.ipv4, bm.ipv6, cfg.dns.block_ttl))


def build_cache(cfg: Config) -> Cache:
    d = cfg.dns
    return Cache(d.cache_size, d.min_ttl, d.max_ttl, d.negative_max_ttl, d.stale_max_age, d.prefetch)


def engine_options(cfg: Config) -> EngineOptions:
    return EngineOptions(serve_stale=cfg.dns.serve_stale, stale_ttl=cfg.dns.stale_ttl,
                         max_inflight=cfg.dns.max_inflight)


def build_notify(cfg: Config) -> NotifyPolicy:
    """The zones the daemon accepts NOTIFY for: one per enabled xfr:// feed. The shell adds the
    TSIG verifier (shell/notify_tsig.py)."""
    zones = {}
    for f in cfg.feeds:
        x = f.xfr
        if f.enabled and x is not None:
            zones[wire.text_to_wire(x.zone)] = NotifyZone(f.name, x.host, f.tsig.name if f.tsig else None)
    return NotifyPolicy(zones)


def build_engine(cfg: Config, matcher: Matcher, log: Log = _no_log, neighbours: MacLookup | None = None) -> Engine:
    p = build_parts(cfg, matcher, neighbours)
    engine = Engine(p.identify, p.local, p.policy, p.block, build_cache(cfg), FastPath(cfg.dns.fastpath_size),
                    engine_options(cfg), log, build_time_rules(cfg))
    engine.notify = build_notify(cfg)
    engine.qlog.bound(cfg.storage.log_ring)
    return engine


def reconfigure(engine: Engine, cfg: Config, matcher: Matcher) -> None:
    """Swap a running engine onto a new config and lists in one step: queries in flight
    keep their place, the cache keeps its answers, the fast path starts empty."""
    p = build_parts(cfg, matcher, engine.identify.neighbours)
    cache = engine.cache
    d = cfg.dns
    cache.size, cache.min_ttl, cache.max_ttl = d.cache_size, d.min_ttl, d.max_ttl
    cache.negative_max_ttl, cache.stale_max_age, cache.prefetch = d.negative_max_ttl, d.stale_max_age, d.prefetch
    engine.identify, engine.local, engine.policy, engine.block = p.identify, p.local, p.policy, p.block
    engine.notify = build_notify(cfg)
    engine.opt = engine_options(cfg)
    old = engine.time
    engine.time = build_time_rules(cfg, old.pauses if old is not None else None)
    if old is not None and engine.time is not None:
        carry_budgets(old, engine.time)
        engine.time.overrides = old.overrides  # kept in the runtime store, not the config
    engine.forget_all()
    engine.fast = FastPath(d.fastpath_size)  # override tables included: every answer is rebuilt
    engine.qlog.bound(cfg.storage.log_ring)


def carry_budgets(old: TimeRules, new: TimeRules) -> None:
    """Minutes used today survive a reload (the limits may have changed)."""
    for name, pt in new.profiles.items():
        prev = old.profiles.get(name)
        if pt.budgets is not None and prev is not None and prev.budgets is not None:
            pt.budgets.load_usage(prev.budgets.to_dict())

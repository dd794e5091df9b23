"""Config + compiled lists → the engine's parts. Pure: `serve`, `check` and reloads all build
their policy here, so `dnsfilter check` gives exactly the decision the daemon takes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dnsfilter.config import Config
from dnsfilter.core.cache import Cache
from dnsfilter.core.codec import BlockAnswer
from dnsfilter.core.engine import Engine, EngineOptions, Log, _no_log
from dnsfilter.core.fastpath import FastPath
from dnsfilter.core.matcher import Matcher
from dnsfilter.core.policy import FeedInfo, Policy, ProfileRules, RuleSet
from dnsfilter.core.stages.identify import DeviceRule, Identify
from dnsfilter.core.stages.local import LocalZones
from dnsfilter.model import AUTHORITY_CATEGORY, Ede

IMPLICIT_PROFILE = "Default"


@dataclass(frozen=True, slots=True)
class Parts:
    identify: Identify
    local: LocalZones
    policy: Policy
    block: BlockAnswer


def feed_infos(cfg: Config, matcher: Matcher) -> list[FeedInfo]:
    """The enabled feeds that have a compiled set in force (hashed: from the set itself)."""
    return [FeedInfo(f.name, f.category, f.kind, matcher.sets[f.name].hashed, Ede(f.ede) if f.ede else None)
            for f in cfg.feeds if f.enabled and f.name in matcher.sets]


def build_policy(cfg: Config, matcher: Matcher) -> Policy:
    feeds = feed_infos(cfg, matcher)
    blockable = [f for f in feeds if f.kind == "block" and f.category != AUTHORITY_CATEGORY]
    hh_allow, hh_deny = cfg.filter.allow, cfg.filter.deny
    rules: list[ProfileRules] = []
    if not cfg.profiles:
        # No profiles: every feed applies to every client.
        rules.append(ProfileRules(cfg.defaults.profile, tuple(f.name for f in blockable),
                                  RuleSet(hh_allow), RuleSet(hh_deny)))
    for p in cfg.profiles:
        cats = p.block_categories if p.block_categories is not None else cfg.defaults.block_categories
        rules.append(ProfileRules(p.name, tuple(f.name for f in blockable if f.category in cats),
                                  RuleSet(hh_allow + p.allow), RuleSet(hh_deny + p.deny)))
    return Policy(matcher, feeds, rules, cfg.protection.always_allow)


def build_identify(cfg: Config) -> Identify:
    devices = []
    for d in cfg.devices:
        net = d.ip or d.cidr
        if net is not None:
            devices.append(DeviceRule(ipaddress.ip_network(net, strict=False), d.profile))
    dns = cfg.dns
    return Identify(dns.allowed_clients, dns.ratelimit_exempt, devices, cfg.defaults.profile,
                    dns.ratelimit_qps, dns.ratelimit_burst)


def build_parts(cfg: Config, matcher: Matcher) -> Parts:
    bm = cfg.dns.block_mode
    return Parts(build_identify(cfg), LocalZones(cfg.general.hostname), build_policy(cfg, matcher),
                 BlockAnswer(bm.kind, bm.ipv4, bm.ipv6, cfg.dns.block_ttl))


def build_cache(cfg: Config) -> Cache:
    d = cfg.dns
    return Cache(d.cache_size, d.min_ttl, d.max_ttl, d.negative_max_ttl, d.stale_max_age, d.prefetch)


def engine_options(cfg: Config) -> EngineOptions:
    return EngineOptions(serve_stale=cfg.dns.serve_stale, stale_ttl=cfg.dns.stale_ttl,
                         max_inflight=cfg.dns.max_inflight)


def build_engine(cfg: Config, matcher: Matcher, log: Log = _no_log) -> Engine:
    p = build_parts(cfg, matcher)
    return Engine(p.identify, p.local, p.policy, p.block, build_cache(cfg), FastPath(cfg.dns.fastpath_size),
                  engine_options(cfg), log)


def reconfigure(engine: Engine, cfg: Config, matcher: Matcher) -> None:
    """Swap a running engine onto a new config and lists in one step: queries in flight
    keep their place, the cache keeps its answers, the fast path starts empty."""
    p = build_parts(cfg, matcher)
    cache = engine.cache
    d = cfg.dns
    cache.size, cache.min_ttl, cache.max_ttl = d.cache_size, d.min_ttl, d.max_ttl
    cache.negative_max_ttl, cache.stale_max_age, cache.prefetch = d.negative_max_ttl, d.stale_max_age, d.prefetch
    engine.identify, engine.local, engine.policy, engine.block = p.identify, p.local, p.policy, p.block
    engine.opt = engine_options(cfg)
    engine.fast = FastPath(d.fastpath_size)

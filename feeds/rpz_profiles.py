"""`[rpz] profile_zones = true`: one zone per profile, `PROFILE.profile.SUFFIX`, holding what
dnsfilter decides for that profile (the household and profile allow/deny rules, always_allow,
allowlists, and the lists of the profile's categories), for a resolver that maps a client
group to one zone instead of to several category zones (docs/rpz.md).

Every trigger written is asked of the policy itself (`Policy.decide`, as `dnsfilter check`
does): a listed name is written as a block only where that profile blocks it by that list, and
as rpz-passthru. where the profile allows a name something less specific would block. The
authority lists keep their own zones (listed first); services, schedules, budgets, safe search
and allow_only have no RPZ form and are not in a profile zone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from dnsfilter.config import Config, Feed
from dnsfilter.core.dns import wire
from dnsfilter.core.model import Decision
from dnsfilter.core.policy.matcher import Matcher
from feeds.rpz_zone import PASSTHRU, PROBE, Action, ZoneWriter, owners, slug
from feeds.rules import Rule

if TYPE_CHECKING:
    from dnsfilter.core.policy.decide import Policy


class _Exporter(Protocol):
    """What a profile zone needs of feeds.rpz_export's exporter."""

    cfg: Config
    matcher: Matcher
    sets: dict[str, Any]
    default: Action

    def open(self, zone: str, kind: str, ede: int | None, feeds: list[str], about: str) -> ZoneWriter: ...
    def closed(self, w: ZoneWriter) -> None: ...
    def rules(self, f: Feed) -> Any: ...
    def action(self, r: Rule, allowlist: bool) -> Action: ...
    def note(self, text: str) -> None: ...

FILTERED = 17  # a profile zone mixes categories: one code for all its blocks (Filtered)


def profile_zones(exp: _Exporter) -> None:
    from dnsfilter.assemble import build_policy

    policy = build_policy(exp.cfg, exp.matcher)
    used: set[str] = set()
    exp.note("profile zones: services, schedules, budgets, safe search and allow_only are not "
                            "exported (no RPZ form)")
    for name in policy.profiles:
        label = slug(name)
        while label in used:
            label += "-2"
        used.add(label)
        _profile_zone(exp, policy, name, f"{label}.profile.{exp.cfg.rpz.suffix}")


def _profile_zone(exp: _Exporter, policy: Policy, name: str, zone: str) -> None:
    cfg, p = exp.cfg, policy.profiles[name]
    profile = next((x for x in cfg.profiles if x.name == name), None)
    allows = (*cfg.filter.allow, *cfg.protection.always_allow, *(profile.allow if profile else ()))
    denies = (*cfg.filter.deny, *(profile.deny if profile else ()))
    feeds = [f for f in cfg.feeds if f.name in exp.sets and (f.kind == "allow" or f.name in p.block_feeds)]
    written: set[tuple[str, str]] = set()

    def decide(dotted: str) -> Decision:
        return policy.decide(name, wire.text_to_wire(dotted), explain=True, qtype=1)

    with exp.open(zone, "profile", FILTERED, [f.name for f in feeds], f"profile {name}") as w:

        def put(owner: str, action: Action) -> None:
            key = (owner, repr(action.data) if action.kind == "local" else "")
            if key not in written:
                written.add(key)
                w.add(owner, action)

        for n in (*allows, *denies):
            base = n.strip().rstrip(".").lower().removeprefix("*.")
            if "*" in base:
                continue
            for owner in owners(base, "subtree"):
                d = decide(f"{PROBE}.{base}" if owner.startswith("*.") else base)
                if not d.blocked and d.exempt:
                    put(owner, PASSTHRU)
                elif d.blocked and d.reason.kind == "deny":
                    put(owner, exp.default)
        for f in feeds:
            for r in exp.rules(f):
                action = exp.action(r, f.kind == "allow")
                for owner in owners(r.name, r.scope):
                    d = decide(f"{PROBE}.{r.name}" if owner.startswith("*.") else r.name)
                    if action.kind == "passthru":
                        if not d.blocked:
                            put(owner, action)
                    elif d.blocked and d.reason.feed == f.name and d.reason.rule == r.name:
                        put(owner, action)
    exp.closed(w)

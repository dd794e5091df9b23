"""Policy: what a profile allows right now, and why.

Precedence, highest first (ARCHITECTURE.md §3; docs/profiles.md has it as a table):
1. authority lists — for every client, always (EDE 16 Censored);
1b. expiring allows/blocks of the device, then of its profile (`overrides.py`, in the TimeState);
2. the profile's own allow/deny plus the household `[filter]` rules: the most specific
   entry wins, `allow` on a tie;
3. `[protection].always_allow` — never blocked by anything below;
4. pause, then schedules (`all` or listed categories/services), then spent budgets — the
   time-dependent `TimeState` the caller passes in;
5. `allow_only` (everything else is blocked), blocked services, the bypass list, blocked
   categories (un-blocked by allowlist feeds);
then safe search rewrites, and the counting of names toward daily budgets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from dnsfilter.core.model import (
    ALLOW_DEFAULT,
    AUTHORITY_CATEGORY,
    Decision,
    Ede,
    Reason,
    authority_text,
    ede_for_category,
)
from dnsfilter.core.policy.matcher import ClientKeys, Keys, Matcher, Verdict
from dnsfilter.core.policy.netset import NetSet, address_text
from dnsfilter.core.policy.overrides import OverrideSet
from dnsfilter.core.policy.rulesets import AnyRule, RuleSet, ServiceIndex

__all__ = ["FeedInfo", "Policy", "ProfileRules", "RuleSet", "TimeState", "NO_TIME_STATE"]


@dataclass(frozen=True, slots=True)
class FeedInfo:
    name: str
    category: str
    kind: str = "block"  # block | allow
    hashed: bool = False  # sha256 feeds: the matched name is never written anywhere
    ede: Ede | None = None  # overrides the category's EDE code
    version: str = ""  # authority lists: the version in force, named in EDE 16's text
    legal_basis: str = ""  # authority lists: why it is enforced, in EDE 16's text


@dataclass(frozen=True, slots=True)
class ProfileRules:
    name: str
    block_feeds: tuple[str, ...]
    allow: RuleSet[str]
    deny: RuleSet[str]
    services: frozenset[str] = frozenset()  # blocked service ids
    bypass: bool = False  # block the bypass list and bypass-category feeds
    allow_only: bool = False
    safe_search: Mapping[bytes, bytes] | None = None  # wire name -> wire CNAME target
    budget_items: tuple[str, ...] = ()  # categories/services whose use is counted
    # Categories this profile asks for (blocked, scheduled or budgeted) with no list in force:
    # the promise is not kept, and a name allowed for want of a list says so in its reason.
    unenforced: tuple[str, ...] = ()
    fallback: Decision = ALLOW_DEFAULT  # the verdict for a name nothing matched (Policy sets it)


@dataclass(frozen=True, slots=True)
class TimeState:
    """What time-dependent rules hold for one device right now. `key` names the state
    (answers are shared between devices in the same state); `items` are the categories and
    services blocked by a schedule or a spent budget, with the reason for each."""

    key: str = ""
    paused: Reason | None = None
    block_all: Reason | None = None
    items: tuple[tuple[str, Reason], ...] = ()
    overrides: OverrideSet | None = None  # expiring allows/blocks that hold (policy/overrides.py)


NO_TIME_STATE: Final = TimeState()


def _fallback(unenforced: tuple[str, ...]) -> Decision:
    """"Not on any list", and which chosen categories have no list to be on."""
    which = (f"category {unenforced[0]}" if len(unenforced) == 1
             else f"categories {', '.join(unenforced)}")
    return Decision(False, Reason(f"not on any list; not enforced: no list of {which} is active"))


_ALLOW_PER_CLIENT: Final = replace(ALLOW_DEFAULT, per_client=True)
_FILTERED: Final = Ede.FILTERED


class Policy:
    def __init__(self, matcher: Matcher, feeds: Iterable[FeedInfo], profiles: Iterable[ProfileRules],
                 always_allow: Iterable[str] = (), services: ServiceIndex | None = None,
                 bypass: Iterable[str] = ()) -> None:
        self.matcher = matcher
        self._per_client = bool(matcher.client_rules)  # some feed has a $client rule: see _decide_per_client
        self.feeds = {f.name: f for f in feeds}
        blocking = [f for f in self.feeds.values() if f.kind == "block"]
        self.authority = tuple(f.name for f in blocking if f.category == AUTHORITY_CATEGORY)
        self.allow_feeds = tuple(f.name for f in self.feeds.values() if f.kind == "allow")
        self.by_category: dict[str, tuple[str, ...]] = {}
        for f in blocking:
            if f.category != AUTHORITY_CATEGORY:
                self.by_category[f.category] = (*self.by_category.get(f.category, ()), f.name)
        self.profiles = {p.name: replace(p, fallback=_fallback(p.unenforced)) if p.unenforced else p
                         for p in profiles}
        self.always_allow: RuleSet[str] = RuleSet(always_allow)
        self.services = services or ServiceIndex({})
        self.bypass: RuleSet[str] = RuleSet(bypass)
        self._by_feed: dict[str, Decision] = {}
        # feeds whose every block is the feed's one decision (no policy zone actions): `_feed_block`
        # hands it out without looking further
        self._plain_blocks = {n: self._feed_decision(n) for n, f in self.feeds.items()
                              if f.kind == "block" and n in matcher.sets and matcher.sets[n].rpz is None}
        # Response-IP rules (netset.py): the feeds with networks each profile answers to, the
        # authority ones first. `has_nets` keeps the whole check off answers when none has any.
        nets = {n: s.nets for n, s in matcher.sets.items()
                if s.nets is not None and n in self.feeds and self.feeds[n].kind == "block"}
        self.ip_authority = tuple((n, nets[n]) for n in self.authority if n in nets)
        self.ip_feeds: dict[str, tuple[tuple[str, NetSet], ...]] = {
            p.name: self.ip_authority + tuple((n, nets[n]) for n in p.block_feeds if n in nets)
            for p in self.profiles.values()}
        self.has_nets = bool(nets)
        self._has_services = bool(self.services)
        self._maybe = {p.name: AnyRule([p.allow, p.deny, self.always_allow, self.services.rules]
                                       + ([self.bypass] if p.bypass else [])).might_match
                       for p in self.profiles.values()}

    def decide(self, profile: str, qname: bytes, explain: bool = False, qtype: int = 0,
               client: str | None = None, authority_only: bool = False,
               state: TimeState = NO_TIME_STATE, keys: Keys | None = None) -> Decision:
        """The verdict for `qname`. Feed blocks are shared per feed; with `explain` they also
        name the listed suffix that matched (never for hashed feeds). `authority_only` checks
        the authority lists alone (for the CNAME targets of an explicitly allowed name).
        `keys`: the name's Keys when the caller has them (made here on first need otherwise)."""
        if self._per_client:
            return self._decide_per_client(profile, qname, explain, qtype, client, authority_only, state, keys)
        return self._decide(profile, qname, explain, qtype, client, authority_only, state, keys)

    def _decide(self, profile: str, qname: bytes, explain: bool, qtype: int, client: str | None,
                authority_only: bool, state: TimeState, keys: Keys | None) -> Decision:
        p = self.profiles[profile]
        if self.authority:
            keys = keys or Keys(qname)
            hit = self.matcher.block(keys, self.authority, qtype, client)
            if hit is not None:
                return self._feed_block(hit[0], keys, hit[1], explain)
        if authority_only:
            return ALLOW_DEFAULT
        if state.overrides is not None:  # a parent's "allow/block this for now": above all but authority
            o = state.overrides.match(qname)
            if o is not None:
                return (self._safe(p, qname) or o) if not o.blocked else o
        # One walk of the name through every small rule set this profile consults says whether
        # any of them can match; for nearly every name none can, and none is walked on its own.
        rules = self._maybe[profile](qname, None if keys is None else keys.starts)
        allow, deny = (p.allow.match(qname), p.deny.match(qname)) if rules else (None, None)
        if deny is not None and (allow is None or deny[0] < allow[0]):
            return Decision(True, Reason(f"denied by the rule {deny[1]}", category="custom", rule=deny[1],
                                         kind="deny"), Ede.BLOCKED)
        if allow is not None:
            return self._safe(p, qname) or Decision(
                False, Reason(f"allowed by the rule {allow[1]}", rule=allow[1], kind="allow"), exempt=True)
        protected = self.always_allow.match(qname) if rules else None
        if protected is not None:
            return Decision(False, Reason("always allowed: protected resource", rule=protected[1],
                                          kind="always_allow"), exempt=True)
        if state.paused is not None:
            return Decision(True, state.paused, _FILTERED)
        if state.block_all is not None:
            return Decision(True, state.block_all, _FILTERED)
        if p.allow_only:
            return Decision(True, Reason("only allowed sites: not on this profile's allow list",
                                         kind="allow_only"), _FILTERED)
        service = self.services.service_of(qname) if rules and self._has_services else None
        for item, reason in state.items:
            if self._is_item(item, service, qname, keys, qtype, client):
                return Decision(True, reason, _FILTERED, per_client=False)
        if service is not None and (service in p.services or self.services.group.get(service) in p.services):
            return Decision(True, Reason(f"service {service} is blocked", category=self.services.group.get(service),
                                         kind="service", service=service), _FILTERED)
        if p.bypass and rules:
            hit_b = self.bypass.match(qname)
            if hit_b is not None:
                return Decision(True, Reason("filter bypass (encrypted DNS, VPN, proxy or relay)", category="bypass",
                                             rule=hit_b[1], kind="bypass"), _FILTERED)
        if p.block_feeds:
            keys = keys or Keys(qname)
            hit = self.matcher.block(keys, p.block_feeds, qtype, client)
            if hit is not None:
                if self.allow_feeds:
                    ok = self.matcher.allows(keys, self.allow_feeds, qtype, client)
                    if ok is not None:
                        return Decision(False, Reason("on an allowlist feed", kind="allowlist"),
                                        per_client=ok.per_client, exempt=True)
                return self._feed_block(hit[0], keys, hit[1], explain)
        rewritten = self._safe(p, qname)
        counted = tuple(i for i in p.budget_items if self._is_item(i, service, qname, keys, qtype, client)) \
            if p.budget_items else ()
        if rewritten is not None:  # safe-search YouTube still counts toward a YouTube budget
            return replace(rewritten, count=counted) if counted else rewritten
        if counted:
            return Decision(False, Reason(f"counted toward the daily limit for {', '.join(counted)}",
                                          kind="budget"), count=counted)
        return p.fallback

    def answer_block(self, profile: str, addrs: Iterable[bytes], exempt: bool = False) -> Decision | None:
        """The block of an answer whose A/AAAA address (record data) lies in a network listed
        by a feed this profile applies (only authority feeds when the name was `exempt`), or
        None. The reason is the feed's, as for a listed name; its rule is the address."""
        feeds = self.ip_authority if exempt else self.ip_feeds.get(profile, self.ip_authority)
        if not feeds:
            return None
        for addr in addrs:
            for name, nets in feeds:
                if nets.has(addr):
                    r = self._feed_decision(name)
                    s = self.matcher.sets.get(name)
                    act = s.rpz.ip if s is not None and s.rpz is not None else None  # a policy zone's rpz-ip
                    return Decision(True, Reason(r.reason.text, r.reason.category, name, address_text(addr),
                                                 kind=r.reason.kind), r.ede, action=act)
        return None

    def _decide_per_client(self, profile: str, qname: bytes, explain: bool = False, qtype: int = 0,
                           client: str | None = None, authority_only: bool = False,
                           state: TimeState = NO_TIME_STATE, keys: Keys | None = None) -> Decision:
        """`decide` when some feed has a $client rule: a decision that consulted such a rule is
        `per_client`, an allowed one too, since the next client of the profile may get another
        answer."""
        ck = keys if isinstance(keys, ClientKeys) else ClientKeys(qname)
        d = self._decide(profile, qname, explain, qtype, client, authority_only, state, ck)
        if d.per_client or not ck.per_client:
            return d
        return _ALLOW_PER_CLIENT if d is ALLOW_DEFAULT else replace(d, per_client=True)

    def is_item(self, item: str, qname: bytes, qtype: int = 0, client: str | None = None) -> bool:
        """Whether `qname` belongs to a category or service id (for schedules and budgets)."""
        service = self.services.service_of(qname) if self.services else None
        return self._is_item(item, service, qname, None, qtype, client)

    def _is_item(self, item: str, service: str | None, qname: bytes, keys: Keys | None, qtype: int,
                 client: str | None) -> bool:
        if service is not None and (service == item or self.services.group.get(service) == item):
            return True
        feeds = self.by_category.get(item)
        if feeds:
            return self.matcher.block(keys or Keys(qname), feeds, qtype, client) is not None
        return False

    def _safe(self, p: ProfileRules, qname: bytes) -> Decision | None:
        if p.safe_search:
            target = p.safe_search.get(qname)
            if target is not None:
                return Decision(False, Reason("safe search enforced", kind="safe_search"), rewrite=target)
        return None

    def _feed_decision(self, feed: str) -> Decision:
        """The block a feed gives (shared by all its names)."""
        d = self._by_feed.get(feed)
        if d is None:
            info = self.feeds[feed]
            if info.category == AUTHORITY_CATEGORY:
                text, kind = authority_text(feed, info.version, info.legal_basis), "authority"
            else:
                text, kind = f"{info.category}: on the list {feed}", "category"
            d = self._by_feed[feed] = Decision(True, Reason(text, category=info.category, feed=feed, kind=kind),
                                               info.ede or ede_for_category(info.category))
        return d

    def _feed_block(self, feed: str, keys: Keys, v: Verdict, explain: bool) -> Decision:
        if not explain and not v.per_client:  # nearly every block: the feed's shared decision
            d = self._plain_blocks.get(feed)
            if d is not None:
                return d
        d = self._feed_decision(feed)
        s = self.matcher.sets.get(feed)
        if s is not None and s.rpz is not None:  # a policy zone: the trigger's own action
            key = next(h for depth, h in keys.for_set(s) if depth == v.depth)
            act = s.rpz.of(key, v.depth > 0)
            if act is not None:
                d = replace(d, action=act)
        hashed = self.feeds[feed].hashed
        if (explain and not hashed) or v.per_client:
            rule = keys.suffix(v.depth) if explain and not hashed else None
            r = d.reason
            return Decision(True, Reason(r.text, r.category, feed, rule, kind=r.kind), d.ede, per_client=v.per_client,
                            action=d.action)
        return d


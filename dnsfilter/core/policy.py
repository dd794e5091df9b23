"""Policy: which names a profile blocks, and why.

Precedence, highest first (ARCHITECTURE.md §3):
1. authority lists — for every client, always (EDE 16 Censored);
2. the profile's own allow/deny plus the household `[filter]` rules: the most specific
   entry wins, `allow` on a tie;
3. `[protection].always_allow` — never blocked by the categories below;
4. blocked categories: the profile's block feeds, unless an allowlist feed covers the name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dnsfilter.core import wire
from dnsfilter.core.matcher import Keys, Matcher, Verdict
from dnsfilter.model import ALLOW_DEFAULT, AUTHORITY_CATEGORY, Decision, Ede, Reason, ede_for_category


class RuleSet:
    """A small in-memory list of names with subtree semantics (allow/deny rules)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._d: dict[bytes, str] = {}
        for n in names:
            self._d[wire.text_to_wire(n)] = n

    def __len__(self) -> int:
        return len(self._d)

    def match(self, qname: bytes) -> tuple[int, str] | None:
        """(offset of the most specific listed suffix, the rule) or None."""
        if not self._d:
            return None
        i = 0
        while qname[i]:
            rule = self._d.get(qname[i:])
            if rule is not None:
                return i, rule
            i += qname[i] + 1
        return None


@dataclass(frozen=True, slots=True)
class FeedInfo:
    name: str
    category: str
    kind: str = "block"  # block | allow
    hashed: bool = False  # sha256 feeds: the matched name is never written anywhere
    ede: Ede | None = None  # overrides the category's EDE code


@dataclass(frozen=True, slots=True)
class ProfileRules:
    name: str
    block_feeds: tuple[str, ...]
    allow: RuleSet
    deny: RuleSet


class Policy:
    def __init__(self, matcher: Matcher, feeds: Iterable[FeedInfo], profiles: Iterable[ProfileRules],
                 always_allow: Iterable[str] = ()) -> None:
        self.matcher = matcher
        self.feeds = {f.name: f for f in feeds}
        self.authority = tuple(f.name for f in self.feeds.values()
                               if f.category == AUTHORITY_CATEGORY and f.kind == "block")
        self.allow_feeds = tuple(f.name for f in self.feeds.values() if f.kind == "allow")
        self.profiles = {p.name: p for p in profiles}
        self.always_allow = RuleSet(always_allow)
        self._by_feed: dict[str, Decision] = {}

    def decide(self, profile: str, qname: bytes, explain: bool = False, qtype: int = 0,
               client: str | None = None, authority_only: bool = False) -> Decision:
        """The verdict for `qname`. Feed blocks are shared per feed; with `explain` they also
        name the listed suffix that matched (never for hashed feeds). `authority_only` checks
        the authority lists alone (for the CNAME targets of an explicitly allowed name)."""
        p = self.profiles[profile]
        keys: Keys | None = None
        if self.authority:
            keys = Keys(qname)
            hit = self.matcher.block(keys, self.authority, qtype, client)
            if hit is not None:
                return self._feed_block(hit[0], keys, hit[1], explain)
        if authority_only:
            return ALLOW_DEFAULT
        allow, deny = p.allow.match(qname), p.deny.match(qname)
        if deny is not None and (allow is None or deny[0] < allow[0]):
            return Decision(True, Reason(f"denied by the rule {deny[1]}", category="custom", rule=deny[1]), Ede.BLOCKED)
        if allow is not None:
            return Decision(False, Reason(f"allowed by the rule {allow[1]}", rule=allow[1]), exempt=True)
        protected = self.always_allow.match(qname)
        if protected is not None:
            return Decision(False, Reason("always allowed: protected resource", rule=protected[1]), exempt=True)
        if p.block_feeds:
            keys = keys or Keys(qname)
            hit = self.matcher.block(keys, p.block_feeds, qtype, client)
            if hit is not None:
                if self.allow_feeds:
                    ok = self.matcher.allows(keys, self.allow_feeds, qtype, client)
                    if ok is not None:
                        return Decision(False, Reason("on an allowlist feed"), per_client=ok.per_client, exempt=True)
                return self._feed_block(hit[0], keys, hit[1], explain)
        return ALLOW_DEFAULT

    def _feed_block(self, feed: str, keys: Keys, v: Verdict, explain: bool) -> Decision:
        d = self._by_feed.get(feed)
        if d is None:
            info = self.feeds[feed]
            if info.category == AUTHORITY_CATEGORY:
                text = f"blocked by the authority list {feed}"
            else:
                text = f"{info.category}: on the list {feed}"
            d = self._by_feed[feed] = Decision(True, Reason(text, category=info.category, feed=feed),
                                               info.ede or ede_for_category(info.category))
        hashed = self.feeds[feed].hashed
        if (explain and not hashed) or v.per_client:
            rule = keys.suffix(v.depth) if explain and not hashed else None
            return Decision(True, Reason(d.reason.text, d.reason.category, feed, rule), d.ede, per_client=v.per_client)
        return d

"""The compiled feeds in force, looked up together for one query.

A query name's suffixes are hashed once (blake2b-64, and sha256 only when a hashed feed is
loaded) and every consulted feed bisects for them. Feeds are independent: a feed's own
exceptions only lift that feed's blocks. Swapped as a whole on reload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from dnsfilter.core.feedset import FeedSet, FeedSetError, Verdict, sha_hash
from dnsfilter.core.wire import name_to_text

MatcherError = FeedSetError  # the name other layers catch
_PLAIN = bytes(b for b in range(0x21, 0x7F) if b != 0x5C)  # printable, no backslash

__all__ = ["FeedSet", "Keys", "Matcher", "MatcherError", "Verdict"]


class Keys:
    """A query name's dotted text and its suffix hashes, computed once per query."""

    __slots__ = ("_sha", "dotted", "plain", "raw")

    def __init__(self, qname: bytes) -> None:
        # Straight from the wire labels (already lower-case): slices of one dotted bytes string.
        labels = []
        i = 0
        while qname[i]:
            ln = qname[i]
            labels.append(qname[i + 1 : i + 1 + ln])
            i += ln + 1
        whole = b".".join(labels)
        if whole.translate(None, _PLAIN) or whole.count(b".") != len(labels) - 1:
            # A label holding a dot, a backslash or an odd byte: hash its escaped text instead,
            # so that one label can never pass for two.
            whole = name_to_text(labels).encode("ascii")
            labels = whole.split(b".")  # escapes never hold a bare dot
        raw = []
        pos = 0
        for depth, lab in enumerate(labels):
            raw.append((depth, whole[pos:]))
            pos += len(lab) + 1
        b2, from_bytes = hashlib.blake2b, int.from_bytes
        self.raw = raw
        self.plain = [(d, from_bytes(b2(x, digest_size=8).digest(), "little")) for d, x in raw]
        self.dotted = whole.decode("ascii")
        self._sha: list[tuple[int, int]] | None = None

    def for_set(self, s: FeedSet) -> list[tuple[int, int]]:
        if not s.hashed:
            return self.plain
        if self._sha is None:
            self._sha = [(d, sha_hash(x)) for d, x in self.raw]
        return self._sha

    def suffix(self, depth: int) -> str:
        return self.raw[depth][1].decode("ascii")


class Matcher:
    """An immutable, ordered group of named compiled feeds."""

    __slots__ = ("_chosen", "_items", "_sets")

    def __init__(self, sets: Mapping[str, FeedSet] | None = None) -> None:
        self._sets: Mapping[str, FeedSet] = MappingProxyType(dict(sets or {}))
        self._items = tuple(self._sets.items())
        self._chosen: dict[tuple[str, ...] | None, tuple[tuple[str, FeedSet], ...]] = {}

    @property
    def sets(self) -> Mapping[str, FeedSet]:
        return self._sets

    def __len__(self) -> int:
        return len(self._sets)

    def names(self) -> int:
        return sum(len(s) for s in self._sets.values())

    def _pick(self, names: Iterable[str] | None) -> tuple[tuple[str, FeedSet], ...]:
        key = names if names is None or isinstance(names, tuple) else tuple(names)
        chosen = self._chosen.get(key)
        if chosen is None:  # which feeds a profile consults is worked out once, not per query
            wanted = None if key is None else set(key)
            chosen = tuple(i for i in self._items if (wanted is None or i[0] in wanted) and (len(i[1]) or i[1].regex or i[1].regex_any or i[1].regex_at))
            if len(self._chosen) < 1024:
                self._chosen[key] = chosen
        return chosen

    def block(self, keys: Keys, names: Iterable[str] | None = None, qtype: int = 0,
              client: str | None = None) -> tuple[str, Verdict] | None:
        """The most specific block among the chosen feeds (first feed on a tie), or None.
        A feed whose own exception covers the name does not block it."""
        best: tuple[str, Verdict] | None = None
        per_client = False
        for name, s in self._pick(names):
            v = s.evaluate(keys.for_set(s), qtype, client, keys.dotted)
            if v is None:
                continue
            per_client = per_client or v.per_client
            if v.blocked and (best is None or v.depth < best[1].depth):
                best = (name, v)
        if best is not None and per_client and not best[1].per_client:
            best = (best[0], Verdict(True, best[1].depth, True))
        return best

    def allows(self, keys: Keys, names: Iterable[str], qtype: int = 0, client: str | None = None) -> Verdict | None:
        """The first allowing verdict among allowlist feeds (their entries are allow rules)."""
        for _name, s in self._pick(names):
            v = s.evaluate(keys.for_set(s), qtype, client, keys.dotted)
            if v is not None and not v.blocked:
                return v
        return None

"""The compiled feeds in force, looked up together for one query.

A query name's suffixes are hashed once (blake2b-64, and sha256 only when a hashed feed is
loaded) and every consulted feed bisects for them. Feeds are independent: a feed's own
exceptions only lift that feed's blocks. Swapped as a whole on reload.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left as _bisect
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from dnsfilter.core.feedset import FeedSet, FeedSetError, Verdict, blake_hash, sha_hash
from dnsfilter.core.wire import name_to_text

MatcherError = FeedSetError  # the name other layers catch
_PLAIN = bytes(b for b in range(0x21, 0x7F) if b not in b"\\.")  # printable, no backslash or dot
_TO_DOT = bytes(b if b in _PLAIN else 0x2E for b in range(256))
_b2_copy, _from_bytes = hashlib.blake2b(digest_size=8).copy, int.from_bytes

__all__ = ["FeedSet", "Keys", "Matcher", "MatcherError", "Verdict"]


class Keys:
    """A query name's dotted text and its suffix hashes, each computed at most once per query
    and only for the suffixes some consulted feed can hold (see FeedSet.min_labels)."""

    __slots__ = ("_dotted", "_hb", "_hs", "starts", "whole")

    def __init__(self, qname: bytes) -> None:
        # Straight from the wire labels (already lower-case). In the dotted bytes each suffix
        # starts where its length byte sits in the wire form, so only the offsets are walked.
        starts = []
        i = m = 0
        ln = qname[0]
        while ln:
            starts.append(i)
            m |= ln
            i += ln + 1
            ln = qname[i]
        # Length bytes below 32 all become dots; any other dot means an odd byte in a label.
        whole = qname[1:i].translate(_TO_DOT)
        if m >= 32 or whole.count(b".") != len(starts) - 1:
            whole, starts = _escaped(qname)
        self.whole, self.starts = whole, starts
        self._dotted: str | None = None
        # Suffix keys by depth, hashed on first use and shared by every feed consulted.
        self._hb: list[int | None] = [None] * len(starts)
        self._hs: list[int | None] | None = None

    @property
    def dotted(self) -> str:
        if self._dotted is None:
            self._dotted = self.whole.decode("ascii")
        return self._dotted

    def _hashes(self, hashed: bool) -> list[int | None]:
        if not hashed:
            return self._hb
        if self._hs is None:
            self._hs = [None] * len(self.starts)
        return self._hs

    def for_set(self, s: FeedSet) -> list[tuple[int, int]]:
        """(depth, key) of the suffixes `s` can hold, most specific first."""
        n, hl = len(self.starts), self._hashes(s.hashed)
        out = []
        for d in range(max(0, n - s.max_labels), n + 1 - s.min_labels):
            h = hl[d]
            if h is None:
                raw = self.whole[self.starts[d] :]
                h = hl[d] = sha_hash(raw) if s.hashed else blake_hash(raw)
            out.append((d, h))
        return out

    def listed_depth(self, s: FeedSet) -> int:
        """For a plain feed (`s.plain`): the depth of the most specific listed suffix, or -1.
        Suffixes are hashed one at a time, most specific first, until one is listed."""
        hs, idx, shift = s.table
        whole, starts = self.whole, self.starts
        hl = self._hashes(True) if s.hashed else self._hb
        n = len(starts)
        lo = n - s.max_labels
        for d in range(lo if lo > 0 else 0, n + 1 - s.min_labels):
            h = hl[d]
            if h is None:
                if s.hashed:
                    h = sha_hash(whole[starts[d] :])
                else:  # blake_hash, inlined (a copy of a keyed-up state skips argument parsing)
                    c = _b2_copy()
                    c.update(whole[starts[d] :])
                    h = _from_bytes(c.digest(), "little")
                hl[d] = h
            b = h >> shift
            hi = idx[b + 1]
            i = _bisect(hs, h, idx[b], hi)
            if i < hi and hs[i] == h:
                return d
        return -1

    @property
    def raw(self) -> list[tuple[int, bytes]]:
        """(depth, dotted bytes) of the name and each parent, most specific first."""
        return [(d, self.whole[p:]) for d, p in enumerate(self.starts)]

    @property
    def plain(self) -> list[tuple[int, int]]:
        """(depth, blake2b-64 key) of every suffix (what a feed with unknown label range uses)."""
        return [(d, blake_hash(x)) for d, x in self.raw]

    def suffix(self, depth: int) -> str:
        return self.whole[self.starts[depth] :].decode("ascii")


def _escaped(qname: bytes) -> tuple[bytes, list[int]]:
    """Dotted bytes and suffix offsets of a name with an odd label (a dot, a backslash, a byte
    outside printable ASCII, a long label) or of the root: its escaped text is hashed instead,
    so that one label can never pass for two."""
    labels = []
    i = 0
    while qname[i]:
        labels.append(qname[i + 1 : i + 1 + qname[i]])
        i += qname[i] + 1
    whole = name_to_text(labels).encode("ascii")
    starts, pos = [], 0
    for lab in whole.split(b"."):  # escapes never hold a bare dot
        starts.append(pos)
        pos += len(lab) + 1
    return whole, starts


class Matcher:
    """An immutable, ordered group of named compiled feeds."""

    __slots__ = ("_all", "_chosen", "_items", "_sets")

    def __init__(self, sets: Mapping[str, FeedSet] | None = None) -> None:
        self._sets: Mapping[str, FeedSet] = MappingProxyType(dict(sets or {}))
        self._items = tuple(self._sets.items())
        self._chosen: dict[tuple[str, ...] | None, tuple[tuple[str, FeedSet], ...]] = {}
        self._all = self._pick(None)

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
        for name, s in self._all if names is None else self._pick(names):
            if s.plain:  # decided by its most specific listed suffix: hash only as far as needed
                d = keys.listed_depth(s)
                if d < 0:
                    continue
                v = s.verdicts[d]
            else:
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
            if s.plain:
                d = keys.listed_depth(s)
                v = s.verdicts[d] if d >= 0 else None
            else:
                v = s.evaluate(keys.for_set(s), qtype, client, keys.dotted)
            if v is not None and not v.blocked:
                return v
        return None

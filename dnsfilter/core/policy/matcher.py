"""The compiled feeds in force, looked up together for one query.

A plain list of names (one kind of entry, not hashed) is probed with the wire form of each
wanted suffix, most specific first, until one is listed: its CRC-32 tests the set's filter,
and only a suffix that passes computes its whole key and bisects for it (see the feedset
module doc). Other feeds get whole keys (name_key, or sha256 of the dotted text for a hashed
feed), computed once per query and shared. Feeds are independent: a feed's own exceptions
only lift that feed's blocks. Swapped as a whole on reload.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from dnsfilter.core.dns.wire import name_to_text
from dnsfilter.core.policy.feedset import P30, FeedSet, FeedSetError, Verdict, name_key, sha_hash, u32_at

MatcherError = FeedSetError  # the name other layers catch
_PLAIN: Final = bytes(b for b in range(0x21, 0x7F) if b not in b"\\.")  # printable, no backslash or dot
_TO_DOT: Final = bytes(b if b in _PLAIN else 0x2E for b in range(256))
# Final: compiled (make native), held in C statics, not looked up in the module's dict per call
_from_bytes: Final = int.from_bytes
_crc32: Final = zlib.crc32
_bisect: Final = bisect.bisect_left

__all__ = ["ClientKeys", "FeedSet", "Keys", "Matcher", "MatcherError", "Verdict"]


class Keys:
    """A query name's label offsets, and what is derived from them on first use only: its
    dotted text (regex and hashed feeds, block reasons) and whole suffix keys, shared by
    every feed consulted and only for the suffixes some feed can hold (FeedSet.min_labels)."""

    __slots__ = ("_dotted", "_hb", "_hs", "_text", "starts", "wire")
    # These slots are set on first use only (an unset slot raises AttributeError).
    _text: tuple[bytes, list[int]]  # dotted bytes, label offsets in them
    _dotted: str
    _hb: list[int | None]  # name_key keys by depth
    _hs: list[int | None]  # sha256 keys by depth
    wire: bytes
    starts: list[int]

    def __init__(self, qname: bytes, starts: list[int] | None = None) -> None:
        # qname: exactly one wire name (already lower-case), as Query.qname holds it. A suffix
        # is the slice from its label's length byte to the end, so only the offsets are walked
        # (unless the caller walked them already: `starts`, the offset of each label).
        if starts is None:
            starts = []
            i = 0
            ln = qname[0]
            while ln:
                starts.append(i)
                i += ln + 1
                ln = qname[i]
        self.wire = qname
        self.starts = starts

    def _texts(self) -> tuple[bytes, list[int]]:
        try:
            return self._text
        except AttributeError:
            wire, starts = self.wire, self.starts
            # Length bytes below 32 all become dots; any other dot means an odd byte in a label.
            whole = wire[1:-1].translate(_TO_DOT)
            if not starts:
                self._text = (b"", [])  # the root: no label, so no suffix
            elif max(map(wire.__getitem__, starts)) >= 32 or whole.count(b".") != len(starts) - 1:
                self._text = _escaped(wire)
            else:
                self._text = (whole, starts)
            return self._text

    @property
    def whole(self) -> bytes:
        """The dotted text as bytes (escaped as \\DDD where a label holds an odd byte)."""
        return self._texts()[0]

    @property
    def dotted(self) -> str:
        try:
            return self._dotted
        except AttributeError:
            self._dotted = self._texts()[0].decode("ascii")
            return self._dotted

    def _hashes(self, hashed: bool) -> list[int | None]:
        try:
            return self._hs if hashed else self._hb
        except AttributeError:
            keys: list[int | None] = [None] * len(self.starts)
            if hashed:
                self._hs = keys
            else:
                self._hb = keys
            return keys

    def for_set(self, s: FeedSet) -> list[tuple[int, int]]:
        """(depth, key) of the suffixes `s` can hold, most specific first."""
        n, hl = len(self.starts), self._hashes(s.hashed)
        out = []
        for d in range(max(0, n - s.max_labels), n + 1 - s.min_labels):
            h = hl[d]
            if h is None:
                if s.hashed:
                    whole, at = self._texts()
                    h = hl[d] = sha_hash(whole[at[d] :])
                else:
                    h = hl[d] = name_key(self.wire[self.starts[d] :])
            out.append((d, h))
        return out

    def listed_depth(self, s: FeedSet) -> int:
        """For a plain feed (`s.plain`): the depth of the most specific listed suffix, or -1.
        Suffixes are tried one at a time, most specific first, until one is listed (a plain
        list holds no name under another listed name, so the first found is the only one)."""
        if s.hashed:
            return self._listed_hashed(s)
        wire, starts = self.wire, self.starts
        hs, ib, shift, bm, bshift = s.probe
        # The locals' types let a compiled build (make native) work on machine ints: the
        # mapped keys' items are Any to it. ib: the bucket index as bytes (feedset.u32_at).
        for p in starts[s.window]:  # Matcher.block holds a copy of this loop (a call costs a probe)
            raw = wire[p:]
            c: int = _crc32(raw)
            if bm[c >> bshift] >> (c & 7) & 1:  # most unlisted suffixes stop at the filter
                j = (c >> shift) * 4
                lo: int = ib[j] | ib[j + 1] << 8 | ib[j + 2] << 16 | ib[j + 3] << 24
                hi: int = ib[j + 4] | ib[j + 5] << 8 | ib[j + 6] << 16 | ib[j + 7] << 24
                c = c << 32 | _from_bytes(raw) % P30
                i: int = _bisect(hs, c, lo, hi)
                if i < hi and hs[i] == c:
                    return starts.index(p)
        return -1

    def _listed_hashed(self, s: FeedSet) -> int:
        hs, ib, shift, _bm, _bs = s.probe
        shift += 32  # a sha256 key has no CRC half: its own top bits pick the bucket
        hl = self._hashes(True)
        n = len(self.starts)
        lo = n - s.max_labels
        for d in range(lo if lo > 0 else 0, n + 1 - s.min_labels):
            h = hl[d]
            if h is None:
                whole, at = self._texts()
                h = hl[d] = sha_hash(whole[at[d] :])
            b = h >> shift
            hi = u32_at(ib, b + 1)
            i = _bisect(hs, h, u32_at(ib, b), hi)
            if i < hi and hs[i] == h:
                return d
        return -1

    @property
    def raw(self) -> list[tuple[int, bytes]]:
        """(depth, dotted bytes) of the name and each parent, most specific first."""
        whole, at = self._texts()
        return [(d, whole[p:]) for d, p in enumerate(at)]

    @property
    def plain(self) -> list[tuple[int, int]]:
        """(depth, name key) of every suffix (what a feed with unknown label range uses)."""
        return [(d, name_key(self.wire[p:])) for d, p in enumerate(self.starts)]

    def suffix(self, depth: int) -> str:
        """The listed suffix a verdict's depth names; `*` for an accept-all rule's (EVERY)."""
        whole, at = self._texts()
        return whole[at[depth] :].decode("ascii") if depth < len(at) else "*"


class ClientKeys(Keys):
    """Keys that also note whether a lookup consulted a $client rule (`per_client`), for a
    policy whose feeds hold such rules. A slot of its own: Keys, made for every query, stay
    as small as they were (one more slot cost ~120-600 instructions a decision)."""

    __slots__ = ("per_client",)

    def __init__(self, qname: bytes) -> None:
        super().__init__(qname)
        self.per_client = False


def _client_dependent(keys: Keys) -> None:
    """Note on `keys` that a $client rule took part (plain Keys have nowhere to note it)."""
    if isinstance(keys, ClientKeys):
        keys.per_client = True


def _escaped(qname: bytes) -> tuple[bytes, list[int]]:
    """Dotted bytes and suffix offsets of a name with an odd label (a dot, a backslash, a byte
    outside printable ASCII, a long label) or of the root: its escaped text is used instead,
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

    __slots__ = ("_all", "_chosen", "_items", "_sets", "client_rules")

    def __init__(self, sets: Mapping[str, FeedSet] | None = None) -> None:
        self._sets: Mapping[str, FeedSet] = MappingProxyType(dict(sets or {}))
        self._items = tuple(self._sets.items())
        self._chosen: dict[tuple[str, ...] | None, tuple[tuple[str, FeedSet], ...]] = {}
        self._all = self._pick(None)
        # Some rule depends on the client's address: a lookup may then mark ClientKeys per_client.
        self.client_rules = any(s.per_client for s in self._sets.values())

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
            chosen = tuple(i for i in self._items if (wanted is None or i[0] in wanted) and not i[1].empty)
            if len(self._chosen) < 1024:
                self._chosen[key] = chosen
        return chosen

    def block(self, keys: Keys, names: Iterable[str] | None = None, qtype: int = 0,
              client: str | None = None) -> tuple[str, Verdict] | None:
        """The most specific block among the chosen feeds (first feed on a tie), or None.
        A feed whose own exception covers the name does not block it. When a $client rule
        was consulted, the verdict depends on the client: `keys.per_client` is set (even when
        nothing blocks, so that an allowed answer is not shared by the whole profile) when
        `keys` are ClientKeys."""
        best: tuple[str, Verdict] | None = None
        per_client = False
        wire, starts = keys.wire, keys.starts
        v: Verdict | None  # None only from evaluate, and then the feed is skipped
        # _pick's lookup inlined for the tuples the policy passes (a call per query less)
        chosen = self._all if names is None else self._chosen.get(names) if type(names) is tuple else None
        for name, s in self._pick(names) if chosen is None else chosen:
            if s.names:  # Keys.listed_depth, inlined: the most specific listed suffix decides
                hs, ib, shift, bm, bshift = s.probe
                for p in starts[s.window]:
                    raw = wire[p:]
                    c: int = _crc32(raw)
                    if bm[c >> bshift] >> (c & 7) & 1:
                        j = (c >> shift) * 4
                        lo: int = ib[j] | ib[j + 1] << 8 | ib[j + 2] << 16 | ib[j + 3] << 24
                        hi: int = ib[j + 4] | ib[j + 5] << 8 | ib[j + 6] << 16 | ib[j + 7] << 24
                        c = c << 32 | _from_bytes(raw) % P30
                        i: int = _bisect(hs, c, lo, hi)
                        if i < hi and hs[i] == c:
                            v = s.verdicts[starts.index(p)]
                            break
                else:
                    continue
            elif s.plain:
                d = keys.listed_depth(s)
                if d < 0:
                    continue
                v = s.verdicts[d]
            else:
                v = (s.any_verdict(wire, starts, qtype, client) if s.only_any
                     else s.evaluate(keys.for_set(s), qtype, client, keys.dotted))
                if v is None:
                    continue
            per_client = per_client or v.per_client
            if v.blocked and (best is None or v.depth < best[1].depth):
                best = (name, v)
        if per_client:
            _client_dependent(keys)
            if best is not None and not best[1].per_client:
                best = (best[0], Verdict(True, best[1].depth, True))
        return best

    def allows(self, keys: Keys, names: Iterable[str], qtype: int = 0, client: str | None = None) -> Verdict | None:
        """The first allowing verdict among allowlist feeds (their entries are allow rules)."""
        for _name, s in self._pick(names):
            if s.plain:
                d = keys.listed_depth(s)
                v = s.verdicts[d] if d >= 0 else None
            else:
                v = (s.any_verdict(keys.wire, keys.starts, qtype, client) if s.only_any
                     else s.evaluate(keys.for_set(s), qtype, client, keys.dotted))
                if v is not None and v.per_client:
                    _client_dependent(keys)
            if v is not None and not v.blocked and v.depth >= 0:  # depth -1: no rule applied
                return v
        return None

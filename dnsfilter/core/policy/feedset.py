"""Compiled feeds: sorted 64-bit name keys with a rule-flags byte each, a bucket index over the
keys' top bits, and a small side table for the few rules that depend on the query (type,
client, denyallow), are regexes or match every name.

File format "DNSFRUL", version 4 (little-endian)::

    offset  size   field
         0     8   magic b"DNSFRUL\\x00"
         8     2   version 4 (1: blake2b keys, no index; 2: a draft of 3 with 32-bit moduli; 3: no
                   accept-all rules, compiled by a parser that left `*$denyallow=…` dead; all refused)
        10     2   flags: bit 0 = names hashed with sha256 (a hashed feed), bit 1 = a networks
                   section follows the side table (F_NETS), others reserved
        12     1   fewest labels of a name in the table (0 = unknown: look every suffix up)
        13     1   most labels of a name in the table (0 = unknown)
        14     1   index bits b: keys whose top b bits are t lie in keys[index[t]:index[t + 1]]
        15     1   filter bits f: bit t of the filter is set when some key's top f bits are t
        16     8   count of keys
        24     8   side-table length in bytes
        32    32   blake2b-256 digest of everything after the header
        64   8*n   sorted unique u64 keys
         .     n   one rule-flags byte per key (bits below), then zero padding to 8 bytes
         .  4*(2^b+1)  the bucket index (u32 offsets into the keys), then zero padding to 8 bytes
         .  2^f/8  the filter (bit t is byte t >> 3, bit t & 7)
         .     s   side table: UTF-8 JSON {"cond": {key: [rule, ...]}, "regex": [rule, ...],
                   "any": [rule, ...], (accept-all rules: `*$denyallow=…`, `*$client=…`, `$dnstype=…`)
                   "rpz": {"default": code, "keys": [...], "codes": [...], "local": {...}}}
                   ("rpz": a list compiled from a policy zone: its actions, see rpzactions.py)
         .         with F_NETS only: zero padding to 8, then the networks section (netset.py):
                   the feed's response-IP rules, covered by the digest like the rest

A name's key (`name_key`) is built from its lower-case wire form (length-prefixed labels and
the root's zero byte): CRC-32 in the top 32 bits, and the bytes read as a big-endian
integer modulo the largest prime below 2^30 in the low 32 bits. The wire form is exact (a label
holding a dot or any odd byte is still one label, no escaping needed), a query's parents are
plain slices of its wire name, and both halves are single C calls, so a lookup neither
converts the name to text nor runs a cryptographic hash. A lookup computes the CRC alone
first. Its top f bits test the filter (8-16 bits per key, so ~6-12 % of unlisted names pass):
most unlisted suffixes stop there, after one memory access. A name that passes computes its
whole key and bisects its bucket for it. So a name is never blocked for sharing its CRC-32
with a listed name, and a false block needs both unrelated functions to agree (a 62-bit
coincidence: about once in 10^12 lookups against a 1M-name list). A hashed feed's key
is the first 8 bytes (little-endian) of the sha256 of the name's dotted text (what such
feeds publish). About 10.5-11.5 bytes per listed name; the daemon maps the file and builds
no table at start-up: it only copies the bucket index and the filter into `bytes` (FeedSet's
`probe`; about 1.3 MB for a 1M-name list), whose items compiled code reads directly.
The label counts let a lookup skip the suffixes no entry can be: a list of 2-5-label names
never hashes a TLD.

Rule semantics (AdGuard's): an important allow beats an important block, which beats any
allow (exception), which beats any block. Scopes: subtree (the name and below), exact (the
name only), below (only names under it).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import struct
import sys
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from dnsfilter.core.policy.feedrules import KEY, KEY_END, SideRule, index_regexes
from dnsfilter.core.policy.netset import NetSet, NetSetError
from dnsfilter.core.policy.rpzactions import RpzActions

MAGIC: Final = b"DNSFRUL\x00"
VERSION: Final = 4
F_HASHED: Final = 1
F_NETS: Final = 2
_HEADER: Final = struct.Struct("<8sHHBBBBQQ32s")
MAX_LABELS: Final = 127  # a name of 255 wire bytes has at most 127 labels
HEADER_SIZE: Final = _HEADER.size  # 64

B_SUB: Final = 1
B_EXACT: Final = 2
B_BELOW: Final = 4
A_SUB: Final = 8
A_EXACT: Final = 16
A_BELOW: Final = 32
IMP_B: Final = 64
IMP_A: Final = 128
BLOCK_SELF, BLOCK_PARENT = B_SUB | B_EXACT, B_SUB | B_BELOW
ALLOW_SELF, ALLOW_PARENT = A_SUB | A_EXACT, A_SUB | A_BELOW
SCOPE_BITS: Final = {("block", "subtree"): B_SUB, ("block", "exact"): B_EXACT, ("block", "below"): B_BELOW,
              ("allow", "subtree"): A_SUB, ("allow", "exact"): A_EXACT, ("allow", "below"): A_BELOW}


class FeedSetError(ValueError):
    """A compiled feed that cannot be used: wrong magic or version, truncated, or corrupt."""


P30: Final = 1073741789  # the largest prime below 2**30: one CPython digit, so `%` takes the fast path


LENGTH: Final = tuple(bytes((n,)) for n in range(256))


def name_key(wire: bytes) -> int:
    """The key of a name in wire form: CRC-32 in the top half, the bytes as a big-endian
    integer mod P30 below (see the module doc; the compiler inlines this in its loops)."""
    return zlib.crc32(wire) << 32 | int.from_bytes(wire) % P30


def wire_of(dotted: bytes) -> bytes:
    """The wire form of a name as the parsers give it (lower-case labels of 1-63 octets)."""
    if not dotted:
        return b"\x00"
    return b"".join([LENGTH[len(x)] + x for x in dotted.split(b".")]) + b"\x00"


def text_key(dotted: bytes) -> int:
    """The key of a name given as dotted text."""
    return name_key(wire_of(dotted))



def sha_hash(dotted: bytes) -> int:
    return int.from_bytes(hashlib.sha256(dotted).digest()[:8], "little")


def hex_digest_key(hexdigest: str) -> int:
    """The table key of a sha256 feed entry given as a 64-hex-digit digest."""
    return int.from_bytes(bytes.fromhex(hexdigest)[:8], "little")


def suffixes(dotted: str) -> list[tuple[int, bytes]]:
    """(label index, ascii) of the name and each parent, most specific first, root excluded."""
    raw = dotted.encode("ascii", "replace")
    out = [(0, raw)]
    i = 0
    pos = raw.find(b".")
    while pos >= 0:
        i += 1
        out.append((i, raw[pos + 1 :]))
        pos = raw.find(b".", pos + 1)
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    blocked: bool
    depth: int  # labels stripped from the query name to reach the deciding entry (0 = itself)
    per_client: bool = False  # a client-conditional rule took part: not shareable per profile


# The verdicts of a plain list (one kind of entry, no side rules): shared, never rebuilt.
_BLOCKED: Final = tuple(Verdict(True, d) for d in range(MAX_LABELS + 1))
_ALLOWED: Final = tuple(Verdict(False, d) for d in range(MAX_LABELS + 1))
EVERY: Final = MAX_LABELS  # the depth an accept-all rule decides at: less specific than any listed name
_EVERY: Final = {(b, c): Verdict(b, EVERY, c) for b in (False, True) for c in (False, True)}
# No rule of the feed applied, but one for listed clients was consulted: the answer depends
# on the client, not only on its profile (never a decision: depth -1).
UNDECIDED_PER_CLIENT: Final = Verdict(False, -1, True)


def index_bits(count: int) -> int:
    """Bits of the bucket index for `count` keys: about 8-16 keys a bucket, so a probe bisects
    3-4 entries instead of ~20, for an index of 4 bytes per ~11 keys."""
    return max(0, min(24, count.bit_length() - 4))


def filter_bits(count: int) -> int:
    """Bits of the filter's address for `count` keys: 8-16 filter bits per key."""
    return max(6, min(32, count.bit_length() + 3))


def bucket_index(hs: Any, count: int) -> tuple[Any, int]:
    """(starts, shift): the keys whose top bits are b lie in hs[starts[b]:starts[b + 1]]."""
    from array import array

    shift = 64 - index_bits(count)
    bl = bisect.bisect_left
    starts = array("I", (bl(hs, b << shift) for b in range(1 << (64 - shift))))  # no list: 64k ints cost 2.5 MB
    starts.append(count)
    return starts, shift


class FeedSet:
    """A read-only compiled feed over a buffer (bytes or an mmap)."""

    __slots__ = ("_buf", "_flags", "_hashes", "_idx", "_shift", "any", "cond", "count", "digest", "empty",
                 "hashed", "max_labels", "min_labels", "names", "nets", "only_any", "plain", "probe", "regex",
                 "regex_any", "regex_at", "rpz", "verdicts", "window")

    def __init__(self, buf: Any, hashes: Any, flags: Any, count: int, digest: bytes, hashed: bool,
                 cond: dict[int, tuple[SideRule, ...]], regex: tuple[SideRule, ...], labels: tuple[int, int],
                 index: tuple[Any, int], filt: tuple[Any, int], nets: NetSet | None = None,
                 every: tuple[SideRule, ...] = (), rpz: RpzActions | None = None) -> None:
        self._buf, self._hashes, self._flags = buf, hashes, flags
        self.nets = nets  # response-IP rules (netset.py), None when the feed lists no network
        self.rpz = rpz  # a policy zone's actions: read as a DNS zone (evaluate), each trigger's own
        self.count, self.digest, self.hashed = count, digest, hashed
        self.cond = cond
        self.any = every  # accept-all rules, tried for every name after the keys and regexes
        self.regex, self.regex_any, self.regex_at = index_regexes(regex)
        self.empty = not count and not cond and not regex and not every  # nothing can ever apply
        # Accept-all rules and nothing else: decided by any_verdict, without keys or the name's text.
        self.only_any = bool(every) and not count and not cond and not regex
        self.min_labels, self.max_labels = labels[0] or 1, labels[1] or MAX_LABELS
        if not count and not cond:
            self.min_labels = MAX_LABELS + 1  # no key to look up: no suffix is ever hashed
        self._idx, self._shift = index
        # For plain lookups by CRC-32 (the keys' top half): its bucket is crc >> [2], and it
        # tests bit crc & 7 of filter byte crc >> [4] (the filter's address: top bits, low 3).
        # The index and filter as bytes, private copies (about 1.3 MB for a 1M-name list): a
        # compiled build (make native) reads a bytes item in a few instructions, a view's item
        # through the generic protocol (a boxed int each, ~300).
        self.probe: tuple[Any, bytes, int, bytes, int] = (
            hashes, _little_u32(self._idx), self._shift - 32, bytes(filt[0]), filt[1] - 32 + 3)
        # The suffixes a lookup tries (Keys.starts[window]): those with min-max labels.
        self.window = slice(-self.max_labels, 1 - self.min_labels or None)
        # A plain block- or allowlist (every entry the same subtree rule, nothing on the side)
        # is decided by its most specific listed suffix alone.
        first = flags[0] if count else 0
        self.plain = (first in (B_SUB, A_SUB) and not cond and not regex and not every
                      and bytes(flags).count(first) == count)
        self.verdicts = _BLOCKED if first == B_SUB else _ALLOWED  # by depth, for a plain list
        self.names = self.plain and not hashed  # looked up by CRC-32 first (see Matcher.block)

    def __len__(self) -> int:
        return self.count

    @property
    def per_client(self) -> bool:
        """Whether some rule depends on the client's address ($client)."""
        return any(r.per_client for rules in (*self.cond.values(), self.regex, self.any) for r in rules)

    @classmethod
    def from_buffer(cls, buf: Any, *, verify: bool = True) -> FeedSet:
        mv = memoryview(buf).cast("B")
        if len(mv) < HEADER_SIZE:
            raise FeedSetError(f"compiled feed truncated: {len(mv)} bytes")
        magic, version, flags, min_l, max_l, bits, fbits, count, side_len, digest = _HEADER.unpack_from(mv)
        if magic != MAGIC:
            raise FeedSetError(f"not a compiled feed (magic {bytes(magic)!r})")
        if version != VERSION:
            raise FeedSetError(f"compiled feed format version {version}, this dnsfilter reads version {VERSION} only: "
                               "recompile it (`dnsfilter feeds sync` does, and so does the daemon's next sync)")
        if flags & ~(F_HASHED | F_NETS):
            raise FeedSetError(f"compiled feed has unknown flags {flags:#06x}")
        if (min_l > max_l and max_l) or max_l > MAX_LABELS:
            raise FeedSetError(f"compiled feed has a bad label range {min_l}-{max_l} (corrupt)")
        if bits != index_bits(count) or fbits != filter_bits(count):
            raise FeedSetError(f"compiled feed has a {bits}-bit index and a {fbits}-bit filter for {count} keys "
                               "(corrupt)")
        flags_end, index_at, index_end, filter_at, side_at, side_end, nets_at = layout(count, bits, fbits, side_len)
        end = side_end
        nets = None
        little = struct.pack("=H", 1) == b"\x01\x00"
        if flags & F_NETS:
            try:
                nets, size = NetSet.from_view(mv[nets_at:], little)
            except NetSetError as e:
                raise FeedSetError(f"compiled feed: {e}") from None
            end = nets_at + size
        if len(mv) != end:
            raise FeedSetError(f"compiled feed size {len(mv)} does not match its header (truncated?)")
        if verify and hashlib.blake2b(mv[HEADER_SIZE:], digest_size=32).digest() != digest:
            raise FeedSetError("compiled feed checksum mismatch (corrupt)")
        hashes: Any = mv[HEADER_SIZE : HEADER_SIZE + 8 * count]
        idx: Any = mv[index_at:index_end]
        if little:
            hashes, idx = hashes.cast("Q"), idx.cast("I")
        else:  # big-endian routers: private, byteswapped copies
            hashes, idx = _swapped("Q", hashes), _swapped("I", idx)
        if idx[0] != 0 or idx[-1] != count or max(idx) > count:
            raise FeedSetError("compiled feed has a bad bucket index (corrupt)")
        fl = mv[HEADER_SIZE + 8 * count : flags_end]
        try:
            side = json.loads(bytes(mv[side_at:side_end]).decode("utf-8")) if side_len else {}
            cond = {int(k): tuple(SideRule.from_json(r) for r in v) for k, v in side.get("cond", {}).items()}
            regex = tuple(SideRule.from_json(r) for r in side.get("regex", ()))
            every = tuple(SideRule.from_json(r) for r in side.get("any", ()))
            rpz = RpzActions.from_json(side["rpz"]) if "rpz" in side else None
        except (ValueError, KeyError, TypeError, re.error) as e:
            raise FeedSetError(f"compiled feed side table unreadable: {e}") from None
        return cls(buf, hashes, fl, count, bytes(digest), bool(flags & F_HASHED), cond, regex, (min_l, max_l),
                   (idx, 64 - bits), (mv[filter_at:side_at], 64 - fbits), nets, every, rpz)

    def index(self) -> tuple[Any, int]:
        """(starts, shift) of the bucket index, as `bucket_index` returns them."""
        return self._idx, self._shift

    def keys(self) -> Any:
        """The sorted hashes (a zero-copy view, or the private copy on big-endian hosts)."""
        return self._hashes

    def flags_of(self, h: int) -> int:
        b = h >> self._shift
        hi = self._idx[b + 1]
        i = bisect.bisect_left(self._hashes, h, self._idx[b], hi)
        return self._flags[i] if i < hi and self._hashes[i] == h else 0

    def any_verdict(self, wire: bytes, starts: list[int], qtype: int, client: str | None) -> Verdict | None:
        """The verdict of a feed of accept-all rules only (`only_any`), as `evaluate` gives it."""
        block = allow = imp_b = imp_a = per_client = False
        for r in self.any:
            per_client = per_client or r.per_client
            if r.applies_wire(qtype, client, wire, starts):
                if r.bits & 7:
                    block, imp_b = True, imp_b or r.important
                else:
                    allow, imp_a = True, imp_a or r.important
        if imp_a or imp_b:
            return _EVERY[(not imp_a, per_client)]
        if allow or block:
            return _EVERY[(not allow, per_client)]
        return UNDECIDED_PER_CLIENT if per_client else None

    def evaluate(self, keys: list[tuple[int, int]], qtype: int = 0, client: str | None = None,
                 dotted: str = "") -> Verdict | None:
        """The feed's verdict on a name given the hash keys of its suffixes ((depth, key),
        most specific first; see `suffixes`), or None when no rule of the feed applies
        (UNDECIDED_PER_CLIENT when a $client rule was consulted and did not apply)."""
        hs, idx, shift, bl = self._hashes, self._idx, self._shift, bisect.bisect_left
        if self.plain:  # the most specific listed suffix decides (see also Keys.listed_depth)
            for depth, h in keys:
                b = h >> shift
                hi = idx[b + 1]
                i = bl(hs, h, idx[b], hi)
                if i < hi and hs[i] == h:
                    return self.verdicts[depth]
            return None
        fl, cond = self._flags, self.cond
        if self.rpz is not None:
            # A policy zone, looked up as a DNS zone (RFC 4592, as BIND and Unbound do): the
            # closest node that exists decides, by its own trigger for the name itself or its
            # wildcard for a name below it; a node without one (an owner of another kind, or an
            # empty node: compile_rpz.py) shields the name from the wildcards above it.
            for depth, h in keys:
                b = h >> shift
                hi = idx[b + 1]
                i = bl(hs, h, idx[b], hi)
                if i < hi and hs[i] == h:
                    f = fl[i] & ((BLOCK_SELF | ALLOW_SELF) if depth == 0 else (BLOCK_PARENT | ALLOW_PARENT))
                    return Verdict(not f & (ALLOW_SELF | ALLOW_PARENT), depth) if f else None
            return None
        block = allow = -1
        imp_b = imp_a = per_client = False
        for depth, h in keys:
            b = h >> shift
            hi = idx[b + 1]
            i = bl(hs, h, idx[b], hi)
            f = fl[i] if i < hi and hs[i] == h else 0
            rules = cond.get(h) if cond else None
            if rules:
                for r in rules:
                    if r.applies(qtype, client, dotted):
                        f |= r.bits | ((IMP_B if r.bits & 7 else IMP_A) if r.important else 0)
                    per_client = per_client or r.per_client
            if not f:
                continue
            b = f & (BLOCK_SELF if depth == 0 else BLOCK_PARENT)
            a = f & (ALLOW_SELF if depth == 0 else ALLOW_PARENT)
            if b:
                if block < 0:
                    block = depth
                imp_b = imp_b or bool(f & IMP_B)
            if a:
                if allow < 0:
                    allow = depth
                imp_a = imp_a or bool(f & IMP_A)
        hits: list[tuple[int, bool]] = []
        if self.regex_at:
            # Label-anchored patterns, found by the first characters at each label start.
            at, pos = self.regex_at, 0
            while pos >= 0:
                for rx, bits, important in at.get(dotted[pos : pos + KEY], ()):
                    if rx.match(dotted, pos):
                        hits.append((bits, important))
                pos = dotted.find(".", pos)
                pos = pos + 1 if pos >= 0 else -1
            for rx, bits, important in at.get("$" + dotted[-KEY_END:], ()):
                if rx.search(dotted):
                    hits.append((bits, important))
        hits += [(bits, important) for find, bits, important in self.regex_any if find(dotted)]
        for bits, important in hits:
            if bits & 7:
                block, imp_b = 0 if block < 0 else block, imp_b or important
            else:
                allow, imp_a = 0 if allow < 0 else allow, imp_a or important
        for r in self.regex:
            if r.regex is not None and r.regex.search(dotted):
                per_client = per_client or r.per_client  # whether it applies or not: it was asked
                if r.applies(qtype, client, dotted):
                    if r.bits & 7:
                        block, imp_b = 0 if block < 0 else block, imp_b or r.important
                    else:
                        allow, imp_a = 0 if allow < 0 else allow, imp_a or r.important
        if self.any:  # accept-all rules: every name, least specific (a test, not a loop, for the rest)
            for r in self.any:
                per_client = per_client or r.per_client
                if r.applies(qtype, client, dotted):
                    if r.bits & 7:
                        block, imp_b = EVERY if block < 0 else block, imp_b or r.important
                    else:
                        allow, imp_a = EVERY if allow < 0 else allow, imp_a or r.important
        if imp_a:
            return Verdict(False, allow, per_client)
        if imp_b:
            return Verdict(True, block, per_client)
        if allow >= 0:
            return Verdict(False, allow, per_client)
        if block >= 0:
            return Verdict(True, block, per_client)
        return UNDECIDED_PER_CLIENT if per_client else None


def layout(count: int, bits: int, fbits: int, side_len: int) -> tuple[int, int, int, int, int, int, int]:
    """File offsets of a compiled set's parts: the end of the flags, the bucket index (start,
    end), the filter, the side table (start, end) and the networks section (start)."""
    flags_end = HEADER_SIZE + 9 * count
    index_at = flags_end + (-flags_end % 8)
    index_end = index_at + 4 * ((1 << bits) + 1)
    filter_at = index_end + (-index_end % 8)
    side_at = filter_at + (1 << (fbits - 3))
    side_end = side_at + side_len
    return flags_end, index_at, index_end, filter_at, side_at, side_end, side_end + (-side_end % 8)


def raw_parts(buf: Any) -> tuple[Any, Any, bytes, bytes]:
    """(keys, flags, side table JSON, networks section) of a compiled set, as stored (the keys
    in the file's byte order); the caller has checked it (FeedSet.from_buffer)."""
    mv = memoryview(buf).cast("B")
    _, _, flags, _, _, bits, fbits, count, side_len, _ = _HEADER.unpack_from(mv)
    flags_end, _, _, _, side_at, side_end, nets_at = layout(count, bits, fbits, side_len)
    nets = bytes(mv[nets_at:]) if flags & F_NETS else b""
    return mv[HEADER_SIZE : HEADER_SIZE + 8 * count], mv[HEADER_SIZE + 8 * count : flags_end], \
        bytes(mv[side_at:side_end]), nets


def _little_u32(a: Any) -> bytes:
    """An array of uint32 (native order) as little-endian bytes: entry b is bytes 4b..4b+3."""
    if sys.byteorder == "little":
        return bytes(a)
    from array import array

    c = array("I", a)
    c.byteswap()
    return c.tobytes()


def u32_at(b: bytes, i: int) -> int:
    """Entry i of `_little_u32`'s bytes (the lookups hold a copy inline: a call costs as much)."""
    j = i * 4
    return b[j] | b[j + 1] << 8 | b[j + 2] << 16 | b[j + 3] << 24


def _swapped(code: str, view: Any) -> Any:
    from array import array

    arr = array(code)
    arr.frombytes(view)
    arr.byteswap()
    return arr


# ---------------------------------------------------------------- building


def build(entries: Iterable[tuple[int, int]], side: dict[str, Any] | None = None, hashed: bool = False,
          labels: tuple[int, int] = (0, 0), nets: bytes = b"") -> list[bytes]:
    """The file image, in pieces, of (key, flag bits) entries (any order; repeats OR-merged).
    `labels`: the fewest and most labels of the names hashed, (0, 0) when unknown; `nets`: a
    networks section (netset.image), or b"" for none."""
    keys_out, flags_out = sort_entries(entries)
    return image(keys_out, flags_out, side, hashed, labels, nets)


def sort_entries(entries: Iterable[tuple[int, int]]) -> tuple[Any, Any]:
    """Sorted unique keys (array 'Q') and their OR-merged flags (array 'B'). Entries are
    bucketed by their top byte so that only ~1/256 of them is ever held as Python ints."""
    from array import array

    hb = [array("Q") for _ in range(256)]
    fb = [array("B") for _ in range(256)]
    for h, bits in entries:
        hb[h >> 56].append(h)
        fb[h >> 56].append(bits)
    keys_out, flags_out = array("Q"), array("B")
    for i in range(256):
        if not hb[i]:
            continue
        hs, fs = hb[i], fb[i]
        hb[i] = array("Q")  # free the bucket before the next
        if fs.count(fs[0]) == len(fs):  # the common case: one kind of rule (a plain list)
            keys = sorted(set(hs))
            keys_out.extend(keys)
            flags_out.frombytes(bytes((fs[0],)) * len(keys))
            continue
        merged: dict[int, int] = {}
        for h, bits in zip(hs, fs, strict=True):
            merged[h] = merged.get(h, 0) | bits
        for h in sorted(merged):
            keys_out.append(h)
            flags_out.append(merged[h])
    return keys_out, flags_out


def image(keys: Any, flags: Any, side: dict[str, Any] | None = None, hashed: bool = False,
          labels: tuple[int, int] = (0, 0), nets: bytes = b"") -> list[bytes]:
    """The file image, in pieces, of sorted unique keys (array('Q')) and their flag bytes."""
    count = len(keys)
    index = index_image(keys, count)
    if struct.pack("=H", 1) != b"\x01\x00":
        keys = keys[:]  # the caller's array keeps native order
        keys.byteswap()
    side_bytes = json.dumps(side, separators=(",", ":")).encode() if side else b""
    body = [keys.tobytes(), bytes(flags), *index, side_bytes]
    body += nets_part(HEADER_SIZE + sum(map(len, body)), nets)
    digest = hashlib.blake2b(digest_size=32)
    for part in body:
        digest.update(part)
    return [header(count, len(side_bytes), digest.digest(), hashed, labels, bool(nets)), *body]


def nets_part(at: int, nets: bytes) -> list[bytes]:
    """What follows the side table, which ends at file offset `at`: padding to 8 bytes and the
    networks section, or nothing."""
    return [bytes(-at % 8), nets] if nets else []


def index_image(keys: Any, count: int) -> list[bytes]:
    """What goes between the flags and the side table, for the sorted `keys` (native order, as
    the caller holds them): padding, the bucket index, padding and the filter."""
    starts, _ = bucket_index(keys, count)
    if struct.pack("=H", 1) != b"\x01\x00":
        starts.byteswap()
    raw = starts.tobytes()
    shift = 64 - filter_bits(count)
    bm = bytearray(1 << (61 - shift))
    shift += 3  # a key's top bits give the filter byte, bits 32-34 (a CRC-32's low 3) the bit
    for k in keys:
        bm[k >> shift] |= 1 << (k >> 32 & 7)
    return [bytes(-(HEADER_SIZE + 9 * count) % 8), raw, bytes(-len(raw) % 8), bytes(bm)]


def header(count: int, side_len: int, digest: bytes, hashed: bool, labels: tuple[int, int],
           nets: bool = False) -> bytes:
    lo, hi = labels
    if not 0 < lo <= hi <= MAX_LABELS:
        lo = hi = 0  # unknown: every suffix is looked up
    flags = (F_HASHED if hashed else 0) | (F_NETS if nets else 0)
    return _HEADER.pack(MAGIC, VERSION, flags, lo, hi, index_bits(count), filter_bits(count), count, side_len,
                        digest)

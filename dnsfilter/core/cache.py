"""The answer cache: bounded LRU with admission at a second sight once full, TTL clamps,
negative caching (RFC 2308), serve-stale (RFC 8767) and prefetch of popular entries. Pure:
`now` is always a parameter.

Entries keep the upstream records as wire bytes plus the offsets of their TTL fields, so a
hit is replayed by patching TTLs, not by re-encoding records (DNSSEC data passes untouched).
The bytes hold each TTL as stored (clamped), so the reply to the miss that stored it, and any
other within the same second, is the body as it is.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.wire import Response
from dnsfilter.core.doorkeeper import Doorkeeper

_U32: Final = struct.Struct(">I")
_TARGETS: Final = (wire.T_CNAME, wire.T_DNAME)  # answer records whose targets are checked (deep blocking)


@dataclass(init=False, slots=True)
class Entry:
    rcode: int
    flags: int  # AA/AD/TC bits of the upstream answer (TC answers are relayed, never cached)
    body: bytes  # the records after the question, without OPT
    counts: tuple[int, int, int]
    ttl_offs: tuple[int, ...]  # offsets of the TTL fields within body
    ttls: tuple[int, ...]  # the clamped TTL of each record when stored
    stored: float
    expires: float
    ttl: int  # the entry's lifetime in seconds
    targets: tuple[bytes, ...]  # CNAME/DNAME targets in the answer, for deep blocking
    hits: int = 0
    prefetching: bool = False
    addrs: tuple[bytes, ...] | None = None  # A/AAAA data of the answer section, read on first use

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, rcode: int, flags: int, body: bytes, counts: tuple[int, int, int], ttl_offs: tuple[int, ...],
                 ttls: tuple[int, ...], stored: float, expires: float, ttl: int, targets: tuple[bytes, ...],
                 hits: int = 0, prefetching: bool = False, addrs: tuple[bytes, ...] | None = None) -> None:
        self.rcode = rcode
        self.flags = flags
        self.body = body
        self.counts = counts
        self.ttl_offs = ttl_offs
        self.ttls = ttls
        self.stored = stored
        self.expires = expires
        self.ttl = ttl
        self.targets = targets
        self.hits = hits
        self.prefetching = prefetching
        self.addrs = addrs

    def addresses(self) -> tuple[bytes, ...]:
        """The A and AAAA record data of the answer section (for response-IP rules), read from
        the body once and only when asked: no list has networks in most homes."""
        if self.addrs is None:
            body, out = self.body, []
            for off in self.ttl_offs[: self.counts[0]]:  # the answer section's records come first
                rtype = body[off - 4] << 8 | body[off - 3]
                if rtype == wire.T_A or rtype == wire.T_AAAA:
                    n = body[off + 4] << 8 | body[off + 5]
                    out.append(bytes(body[off + 6 : off + 6 + n]))
            self.addrs = tuple(out)
        return self.addrs

    def remaining(self, now: float) -> float:
        return self.expires - now

    def render(self, now: float, fixed_ttl: int | None = None) -> bytes:
        """The body with every TTL counted down to `now` (or set to `fixed_ttl`). The body
        holds the TTLs as stored (clamped): within the first second it is the answer as it is."""
        elapsed = int(now - self.stored)
        if not self.ttl_offs or (elapsed == 0 and fixed_ttl is None):
            return self.body
        buf = bytearray(self.body)
        for off, ttl in zip(self.ttl_offs, self.ttls, strict=True):
            _U32.pack_into(buf, off, fixed_ttl if fixed_ttl is not None else max(0, ttl - elapsed))
        return bytes(buf)


_KEY_TAILS: Final[dict[int, bytes]] = {}  # cache_key's tails by type, class and bits: a home asks a few


def cache_key(qname: bytes, qtype: int, qclass: int, do: bool, cd: bool) -> bytes:
    """DO and CD change what an upstream returns (RRSIGs, unvalidated data), so they key too:
    the name, then (qtype, qclass, DO | CD) as struct.pack(">HHB") writes them, made once per
    combination (a dict lookup costs less than a struct call, compiled or not)."""
    bits = (1 if do else 0) | (2 if cd else 0)
    k = qtype << 18 | qclass << 2 | bits
    tail = _KEY_TAILS.get(k)
    if tail is None:
        if len(_KEY_TAILS) >= 1024:  # bounded: a scan of every type and class comes and goes
            _KEY_TAILS.clear()
        tail = _KEY_TAILS[k] = struct.pack(">HHB", qtype, qclass, bits)
    return qname + tail


class Cache:
    def __init__(self, size: int = 20000, min_ttl: int = 0, max_ttl: int = 86400,
                 negative_max_ttl: int = 3600, stale_max_age: int = 86400, prefetch: bool = True) -> None:
        self.size = size
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.negative_max_ttl = negative_max_ttl
        self.stale_max_age = stale_max_age
        self.prefetch = prefetch
        # Least recently used first. An OrderedDict, not a dict: moving an entry to the end and
        # dropping the first are O(1) here, where a dict's first key sits behind the holes its
        # deletions leave (a full cache spent microseconds per store walking them).
        self._d: OrderedDict[bytes, Entry] = OrderedDict()
        self.hits = self.misses = self.evictions = self.declined = 0
        self.door = Doorkeeper(size)

    def __len__(self) -> int:
        return len(self._d)

    def clear(self) -> None:
        self._d.clear()

    def get(self, key: bytes, now: float) -> Entry | None:
        """A fresh entry, moved to the young end of the LRU."""
        e = self._d.get(key)
        if e is None or e.expires <= now:
            self.misses += 1
            return None
        self._d.move_to_end(key)
        e.hits += 1
        self.hits += 1
        return e

    def get_stale(self, key: bytes, now: float) -> Entry | None:
        """An expired entry still within `stale_max_age` (RFC 8767), for when upstreams fail."""
        e = self._d.get(key)
        if e is None or now - e.expires > self.stale_max_age:
            return None
        return e

    def wants_prefetch(self, e: Entry, now: float) -> bool:
        """Entries still asked for in their last tenth of life are refreshed before they expire."""
        if not self.prefetch or e.prefetching or e.ttl < 10:
            return False
        return e.expires - now < e.ttl / 10

    def make_entry(self, buf: bytes, r: Response, now: float) -> Entry:
        """An entry for an upstream answer; `ttl` is 0 when it must not be cached (TC set,
        SERVFAIL, a negative answer without an SOA, TTL 0)."""
        ttl = 0 if r.flags & wire.F_TC else (self._lifetime(buf, r) or 0)
        qend = r.question_end
        records = r.records
        if r.opt_span and records and records[-1].name_off > r.opt_span[0]:
            # records after an OPT record are dropped: their compression offsets would shift
            records = tuple(rec for rec in records if rec.name_off < r.opt_span[0])
        counts = r.counts
        if records is not r.records:
            n = [0, 0, 0, 0]
            for rec in records:
                n[rec.section] += 1
            counts = (n[1], n[2], n[3])
        offs, ttls, targets = [], [], []
        clamped = False
        # Each record keeps its own TTL, clamped; in a negative answer none outlives the entry.
        lo, cap = self.min_ttl, self.max_ttl if r.counts[0] else ttl
        for rec in records:
            offs.append(rec.ttl_off - qend)
            t = rec.ttl
            if t < lo or t > cap:
                t = min(max(t, lo), cap)
                clamped = True
            ttls.append(t)
            if rec.section == 1 and rec.rtype in _TARGETS:
                targets.append(wire.rdata_name(buf, rec))
        end = records[-1].rdata_off + records[-1].rdlen if records else qend
        body = buf[qend:end]
        if clamped:  # the body holds the TTLs as stored, so that a reply within a second is the body
            patched = bytearray(body)
            for off, t in zip(offs, ttls, strict=True):
                _U32.pack_into(patched, off, t)
            body = bytes(patched)
        return Entry(r.rcode, r.flags & (wire.F_AA | wire.F_AD | wire.F_TC), body, counts,
                     tuple(offs), tuple(ttls), now, now + ttl, ttl, tuple(targets))

    def store(self, key: bytes, e: Entry) -> bool:
        """Keep `e` under `key` if it may be cached; evicts the least recently used. Once the
        cache is full, a new key gets in only at its second answer within a recent window
        (doorkeeper.py): the long tail of names asked once does not push out the popular ones."""
        if self.size <= 0 or e.ttl <= 0:
            return False
        d = self._d
        if key not in d and len(d) >= self.size:
            if self.door.window != self.size:  # resized by a reload
                self.door = Doorkeeper(self.size)
            if not self.door.seen(key):
                self.declined += 1
                return False
        d[key] = e
        d.move_to_end(key)
        while len(d) > self.size:
            d.popitem(last=False)
            self.evictions += 1
        return True

    def _lifetime(self, buf: bytes, r: Response) -> int | None:
        if r.rcode == wire.RCODE_NOERROR and r.counts[0]:
            # one loop, no list and no min() of it: compiled, these were generic calls
            ttl = -1
            answered = False  # a record of the asked type in the answer section
            qtype = r.qtype
            for rec in r.records:
                section = rec.section
                if section == 1 or section == 2:
                    if ttl < 0 or rec.ttl < ttl:
                        ttl = rec.ttl
                    if section == 1 and rec.rtype == qtype:
                        answered = True
            ttl = min(max(ttl, self.min_ttl), self.max_ttl)
            if qtype != wire.T_CNAME and qtype != wire.T_ANY and not answered:
                # A CNAME chain ending in no data: the end of it is negative (RFC 2308 §2.2).
                neg = self._negative(buf, r)
                if neg is not None:
                    ttl = min(ttl, neg)
            return ttl
        if r.rcode in (wire.RCODE_NXDOMAIN, wire.RCODE_NOERROR):
            return self._negative(buf, r)
        return None

    def _negative(self, buf: bytes, r: Response) -> int | None:
        """RFC 2308: the negative TTL is min(SOA TTL, SOA MINIMUM); without an SOA, don't cache."""
        for rec in r.records:
            if rec.section == 2 and rec.rtype == wire.T_SOA and rec.rdlen >= 20:
                at = rec.rdata_off + rec.rdlen - 4  # not _U32.unpack_from: see wire._read_opt
                minimum = buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3]
                return min(rec.ttl, minimum, self.negative_max_ttl)
        return None

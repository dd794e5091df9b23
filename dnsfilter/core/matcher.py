"""Compiled domain sets: sorted 64-bit name hashes, looked up by suffix.

A blocklist never lives in the daemon as Python strings. It is compiled once into a compact
file that every worker maps read-only and shares; a listed name blocks itself and every name
below it, so a lookup hashes the query name and each of its parents and bisects for them.

File format, version 1 (all integers little-endian)::

    offset size  field
         0    8  magic   b"DNSFSET\\x00"
         8    2  version 1
        10    2  flags   0 (bits are reserved; a v1 reader rejects any it does not know)
        12    4  reserved, 0
        16    8  count   number of hashes
        24   32  blake2b-256 digest of the payload (the bytes after the header)
        56  8*n  payload: `count` sorted, unique u64 name hashes

The header is 56 bytes, a multiple of 8, so the payload stays 8-byte aligned in a mapping.
A name's hash is `blake2b(lower-case wire-format name, digest_size=8)` read as a little-endian
integer: stable across processes, machines and Python versions (unlike `hash()`). Two names
collide with probability ~n/2**64 per lookup, i.e. never in practice for lists of millions.

This module is sans-IO: callers hand in a buffer (bytes, or an mmap opened by feeds/).
"""

from __future__ import annotations

import bisect
import hashlib
import struct
import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

MAGIC = b"DNSFSET\x00"
VERSION = 1
KNOWN_FLAGS = 0
_HEADER = struct.Struct("<8sHHIQ32s")
HEADER_SIZE = _HEADER.size  # 56

# The host byte order, read at load time; a module global so tests can force the big-endian
# path (OpenWrt MIPS routers) on a little-endian machine.
_HOST_ORDER = sys.byteorder


class MatcherError(ValueError):
    """A compiled set that cannot be used: wrong magic or version, truncated, or corrupt."""


def name_hash(wire_name: bytes) -> int:
    """64-bit hash of a lower-case wire-format name (the caller lower-cases; the hot path
    already holds lower-cased qnames)."""
    return int.from_bytes(hashlib.blake2b(wire_name, digest_size=8).digest(), "little")


def _sorted_chunks(hashes: Iterable[int]) -> list[array]:
    """Sort and dedupe u64 hashes with a low peak: bucket by the top byte into compact
    arrays, then sort one bucket at a time. Only one bucket (~1/256 of the input) is ever
    held as Python ints, instead of the whole list (~48 bytes per int and pointer: 95 MB
    for a million names, against 16 MB this way). Chunks come out ascending, native order."""
    buckets = [array("Q") for _ in range(256)]
    for h in hashes:
        buckets[h >> 56].append(h)
    for i, bucket in enumerate(buckets):
        if bucket:
            buckets[i] = array("Q", sorted(set(bucket)))
    return [b for b in buckets if b]


def _to_file_order(chunks: list[array]) -> None:
    if _HOST_ORDER != "little":
        for chunk in chunks:
            chunk.byteswap()


def compiled_parts(hashes: Iterable[int]) -> tuple[bytes, list[array]]:
    """The header and the payload chunks of a compiled set, for writing out piece by piece
    without joining them into one more copy. The chunks are in file (little-endian) order."""
    chunks = _sorted_chunks(hashes)
    _to_file_order(chunks)
    digest = hashlib.blake2b(digest_size=32)
    for chunk in chunks:
        digest.update(chunk)
    count = sum(len(chunk) for chunk in chunks)
    return _HEADER.pack(MAGIC, VERSION, 0, 0, count, digest.digest()), chunks


def compile_hashes(hashes: Iterable[int]) -> bytes:
    """A compiled set (header + payload) of the given u64 name hashes (any order, repeats ok)."""
    head, chunks = compiled_parts(hashes)
    return b"".join([head, *chunks])


def compile_names(wire_names: Iterable[bytes]) -> bytes:
    """A compiled set of wire-format names (lower-cased here; duplicates dropped)."""
    return compile_hashes(name_hash(w.lower()) for w in wire_names)


class DomainSet:
    """A read-only compiled set over a buffer; lookups bisect the payload in place."""

    __slots__ = ("_buf", "_hashes", "_count", "digest", "flags")

    def __init__(self, buf: Any, hashes: Any, count: int, digest: bytes, flags: int) -> None:
        self._buf = buf  # closed by close(); the 'Q' view alone keeps an mmap's pages mapped
        self._hashes = hashes  # memoryview cast to 'Q' (zero copy) or a byteswapped array
        self._count = count
        self.digest = digest
        self.flags = flags

    @classmethod
    def from_buffer(cls, buf: Any, *, verify: bool = True) -> DomainSet:
        """Wrap a compiled set without copying it (except on big-endian hosts, where the
        little-endian payload has to be byteswapped into process memory).

        Magic, version, flags and size are always checked; `verify` also checks the payload
        digest (workers that map a file their parent already verified may skip it)."""
        mv = memoryview(buf).cast("B")
        payload = mv[HEADER_SIZE:]
        try:
            if len(mv) < HEADER_SIZE:
                raise MatcherError(f"compiled set truncated: {len(mv)} bytes, header needs {HEADER_SIZE}")
            magic, version, flags, _reserved, count, digest = _HEADER.unpack_from(mv)
            if magic != MAGIC:
                raise MatcherError(f"not a compiled domain set (magic {magic!r})")
            if version != VERSION:
                raise MatcherError(f"unsupported compiled set version {version} (this reader: {VERSION})")
            if flags & ~KNOWN_FLAGS:
                raise MatcherError(f"compiled set has unknown flags {flags:#06x}")
            want = HEADER_SIZE + 8 * count
            if len(mv) != want:
                raise MatcherError(f"compiled set size {len(mv)} != {want} for {count} entries "
                                   "(truncated or trailing bytes)")
            if verify and hashlib.blake2b(payload, digest_size=32).digest() != digest:
                raise MatcherError("compiled set checksum mismatch (corrupt payload)")
            if _HOST_ORDER == "little":
                hashes: Any = payload.cast("Q")
            else:
                hashes = array("Q")
                hashes.frombytes(payload)
                hashes.byteswap()
        finally:
            # Only the 'Q' view (or the copy) is kept. Release the rest now: a traceback keeps
            # this frame alive, and an mmap with live views cannot be closed by the caller.
            payload.release()
            mv.release()
        return cls(buf, hashes, count, bytes(digest), flags)

    @classmethod
    def from_hashes(cls, hashes: Iterable[int]) -> DomainSet:
        """An in-memory set (e.g. a profile's deny list, or a compile pass) without building a
        file image first: 8 bytes per name plus one sorting bucket at the peak."""
        head, chunks = compiled_parts(hashes)
        chunks.reverse()
        merged = array("Q")
        while chunks:  # each chunk is freed as soon as it is merged
            chunk = chunks.pop()
            if _HOST_ORDER != "little":
                chunk.byteswap()  # back to native order for lookups
            merged.extend(chunk)
        _magic, _version, flags, _reserved, count, digest = _HEADER.unpack(head)
        return cls(None, merged, count, digest, flags)

    @classmethod
    def empty(cls) -> DomainSet:
        return cls.from_buffer(compile_hashes(()))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        """The hashes in ascending order."""
        return iter(self._hashes)

    def __contains__(self, wire_name: object) -> bool:
        return isinstance(wire_name, bytes) and self.contains_hash(name_hash(wire_name))

    def contains_hash(self, h: int) -> bool:
        hashes = self._hashes
        i = bisect.bisect_left(hashes, h)
        return i < self._count and hashes[i] == h

    def match(self, qname: bytes) -> int:
        """Offset into `qname` (lower-case wire form) of the longest listed suffix — 0 for the
        name itself, then each parent in turn — or -1. The root is never matched."""
        count = self._count
        if not count:
            return -1
        hashes, blake2b, from_bytes, bisect_left = self._hashes, hashlib.blake2b, int.from_bytes, bisect.bisect_left
        i, n = 0, len(qname)
        while i < n and qname[i]:
            # name_hash and contains_hash inlined: this runs for every query and label.
            h = from_bytes(blake2b(qname[i:], digest_size=8).digest(), "little")
            j = bisect_left(hashes, h)
            if j < count and hashes[j] == h:
                return i
            i += 1 + qname[i]
        return -1

    def close(self) -> None:
        """Drop the views into the buffer (an mmap cannot be closed while they exist) and
        close the buffer if it can be closed. The set matches nothing afterwards."""
        if isinstance(self._hashes, memoryview):
            self._hashes.release()
        self._hashes = array("Q")
        self._count = 0
        close = getattr(self._buf, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"DomainSet({self._count} names, digest {self.digest.hex()[:16]})"


class Matcher:
    """An immutable, ordered group of named sets. Swapped as a whole on reload."""

    __slots__ = ("_chosen", "_items", "_sets")

    def __init__(self, sets: Mapping[str, DomainSet] | None = None) -> None:
        self._sets: Mapping[str, DomainSet] = MappingProxyType(dict(sets or {}))
        self._items = tuple(self._sets.items())
        self._chosen: dict[tuple[str, ...] | None, tuple[tuple[str, DomainSet], ...]] = {}

    @property
    def sets(self) -> Mapping[str, DomainSet]:
        return self._sets

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, name: str) -> DomainSet:
        return self._sets[name]

    def replace(self, name: str, domain_set: DomainSet) -> Matcher:
        """A new Matcher with one set added or replaced (its position kept)."""
        return Matcher({**self._sets, name: domain_set})

    def without(self, name: str) -> Matcher:
        return Matcher({k: v for k, v in self._items if k != name})

    def first_match(self, qname: bytes, names: Iterable[str] | None = None) -> tuple[str, int] | None:
        """(set name, suffix offset) of the most specific listed suffix across the chosen sets
        (all when `names` is None; unknown names are ignored, e.g. a feed not yet compiled).
        The longest suffix wins; on a tie the set that comes first in this Matcher.
        Each suffix is hashed once however many sets are consulted."""
        key = names if names is None or isinstance(names, tuple) else tuple(names)
        chosen = self._chosen.get(key)
        if chosen is None:  # which sets a profile consults is worked out once, not per query
            wanted = None if key is None else set(key)
            chosen = tuple(item for item in self._items if (wanted is None or item[0] in wanted) and len(item[1]))
            if len(self._chosen) < 1024:
                self._chosen[key] = chosen
        if not chosen:
            return None
        i, n = 0, len(qname)
        while i < n and qname[i]:
            h = name_hash(qname[i:])
            for set_name, domain_set in chosen:
                if domain_set.contains_hash(h):
                    return set_name, i
            i += 1 + qname[i]
        return None

"""Compile a feed file (any format) into a FeedSet file, and map compiled files.

Plain lists (hosts, domains, or rule formats that only hold subtree blocks) keep only names
that no listed parent covers, so the file holds the minimal set. Lists with exceptions, scopes,
important, conditional or regex rules keep every rule (their meaning depends on all of them).
Files are replaced atomically; a failure leaves the old file.

Memory: a rebuild must fit next to the daemon on a small router, so a hosts or domains list is
compiled in one streaming pass that holds only the 8-byte hashes (bucketed by top byte, sorted
one bucket at a time) and spills each (ancestor, name) hash pair to a temporary file beside the
output; the pairs are read back in chunks to drop covered names, and the set is written to disk
in chunks. Peak RSS stays under twice the compiled set (see docs/feeds.md, Performance).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
import time
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from pathlib import Path
from typing import Any

from dnsfilter.core.policy.feedset import (
    A_SUB,
    B_SUB,
    HEADER_SIZE,
    IMP_A,
    IMP_B,
    LENGTH,
    MAX_LABELS,
    P30,
    SCOPE_BITS,
    FeedSet,
    FeedSetError,
    bucket_index,
    header,
    hex_digest_key,
    index_image,
    name_key,
    nets_part,
    sort_entries,
    wire_of,
)
from dnsfilter.core.policy.netset import image as netset_image
from dnsfilter.core.policy.netset import network_range
from dnsfilter.core.policy.rpzactions import CODES
from feeds.compile_rpz import RpzTable
from feeds.formats import parse_file, resolve_format
from feeds.formats import rpz as rpz_format
from feeds.parsers import ParseResult, stream_names
from feeds.rules import Rule, RuleCounts

StrPath = str | os.PathLike[str]
Buffer = bytes | bytearray | memoryview
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
          "SVCB": 64, "HTTPS": 65, "ANY": 255}


@dataclass
class FeedStats:
    format: str
    entries: int = 0  # hashes in the compiled file
    rules: int = 0
    exceptions: int = 0
    regex: int = 0
    conditional: int = 0
    invalid: int = 0
    first_invalid_lines: list[int] = field(default_factory=list)
    skipped: int = 0
    first_skipped_lines: list[int] = field(default_factory=list)
    covered: int = 0  # names dropped because a listed parent already covers them
    urls_skipped: int = 0
    urls_reduced: int = 0
    hashed: bool = False
    size: int = 0
    digest: str = ""
    seconds: float = 0.0
    networks: int = 0  # response-IP rules compiled (addresses and networks as listed)
    version: str = ""  # the version the list declares (a registry dump's updateTime), if any


def _open_text(path: StrPath) -> Any:
    return open(path, encoding="utf-8-sig", errors="replace", newline=None)


@dataclass
class Table:
    """What a compiled file holds, ready to be written: sorted keys, flags, side."""

    count: int
    keys: Any  # array of native u64, in order
    flags: bytes
    side: dict[str, Any] | None = None
    hashed: bool = False
    labels: tuple[int, int] = (0, 0)
    nets: bytes = b""  # the networks section (response-IP rules), b"" for none


class _Nets:
    """The networks a feed lists, collected while it is parsed: IPv4 ranges packed two to a
    64-bit integer (a registry lists hundreds of thousands), IPv6 ones as pairs (few)."""

    def __init__(self) -> None:
        self.v4 = array("Q")
        self.v6: list[tuple[int, int]] = []

    def add(self, text: str) -> None:
        """Raises ValueError for a string that is no address or network."""
        version, (first, last) = network_range(text)
        if version == 4:
            self.v4.append(first << 32 | last)
        else:
            self.v6.append((first, last))

    def __len__(self) -> int:
        return len(self.v4) + len(self.v6)

    def image(self) -> bytes:
        if not self:
            return b""
        v4 = ((x >> 32, x & 0xFFFFFFFF) for x in sorted(self.v4))
        return netset_image(v4, sorted(self.v6), presorted=True)


def compile_feed(src_path: StrPath, fmt: str, out_path: StrPath, *, options: dict[str, Any] | None = None,
                 allow: bool = False) -> FeedStats:
    """Compile `src_path` into `out_path` atomically. `allow=True` compiles an allowlist feed
    (every rule un-blocks). Raises ValueError (format, options) or OSError; on failure the
    previous `out_path` is untouched."""
    started = time.perf_counter()
    opts = dict(options or {})
    fmt = resolve_format(src_path, fmt, **opts)
    out = Path(out_path)
    tmp = out.with_name(out.name + ".tmp")
    try:
        if fmt in ("hosts", "domains"):
            stats, table = _compile_names(src_path, fmt, allow, out.parent)
        else:
            stats, table = _compile_rules(src_path, fmt, opts, allow)
        stats.size = _write_table(tmp, table)
        del table
        fs = load_feed(tmp)  # self-check, mapped as the daemon will map it, before anything is replaced
        stats.entries, stats.digest = len(fs), fs.digest.hex()
        del fs
        _promote(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _write_table(path: Path, t: Table) -> int:
    """Write the file image of `t` (header last: its digest covers what follows); its size.
    The keys are written in chunks so that a big-endian host never copies the whole set."""
    digest = hashlib.blake2b(digest_size=32)
    side = json.dumps(t.side, separators=(",", ":")).encode() if t.side else b""
    big_endian = struct.pack("=H", 1) != b"\x01\x00"
    with open(path, "wb") as f:
        f.write(bytes(HEADER_SIZE))
        for at in range(0, len(t.keys), _CHUNK):
            chunk = t.keys[at : at + _CHUNK]
            if big_endian:
                chunk.byteswap()  # a copy: the caller's array keeps native order
            digest.update(chunk)
            f.write(chunk)
        index = index_image(t.keys, t.count)
        for part in (t.flags, *index, side):
            digest.update(part)
            f.write(part)
        if len(t.keys) != t.count or f.tell() != HEADER_SIZE + 9 * t.count + sum(map(len, index)) + len(side):
            raise ValueError(f"compiled table holds a different number of keys than its count {t.count}")
        for part in nets_part(f.tell(), t.nets):
            digest.update(part)
            f.write(part)
        size = f.tell()
        f.seek(0)
        f.write(header(t.count, len(side), digest.digest(), t.hashed, t.labels, bool(t.nets)))
        f.flush()
        os.fsync(f.fileno())
    return size


_CHUNK = 1 << 16  # u64 values per chunk compacted in place (512 KB)
_PAIRS_EVERY, _HASHES_EVERY = (1 << 15) - 1, (1 << 18) - 1  # masks over the name count: when to spill


def _compile_names(src: StrPath, fmt: str, allow: bool, tmp_dir: Path) -> tuple[FeedStats, Table]:
    """A plain list in one streaming pass. Each name's hash goes into its top-byte bucket; for
    names of three or more labels each (ancestor, name) hash pair is spilled to a temporary
    file, so that names covered by a listed ancestor are dropped afterwards without holding
    the pairs or reading the list again."""
    counts = ParseResult()
    bits = A_SUB if allow else B_SUB
    seen_dots = bytearray(256)  # [d]: a name with d dots (d + 1 labels) was listed
    pairs = array("Q")
    crc, from_bytes, length = zlib.crc32, int.from_bytes, LENGTH  # name_key and wire_of, inlined
    with (tempfile.TemporaryFile(dir=tmp_dir, prefix=".pairs-") as spill,
          tempfile.TemporaryFile(dir=tmp_dir, prefix=".hashes-") as hashes, _open_text(src) as f):
        parts = _Buckets(hashes)
        buckets = parts.held
        for n, name in enumerate(stream_names(f, fmt, counts), 1):
            labels = name.encode().split(b".")
            wire = b"".join([length[len(x)] + x for x in labels]) + b"\x00"
            h = crc(wire) << 32 | from_bytes(wire) % P30
            buckets[h >> 56].append(h)
            seen_dots[len(labels) - 1] = 1
            pos = 0
            for x in labels[:-2]:  # ancestors of two or more labels (single labels are never listed)
                pos += len(x) + 1
                up = wire[pos:]
                pairs.append(crc(up) << 32 | from_bytes(up) % P30)
                pairs.append(h)
            if not n & _PAIRS_EVERY:  # every 32k names the pairs go to disk, every 256k the hashes
                pairs.tofile(spill)
                del pairs[:]
                if not n & _HASHES_EVERY:
                    parts.spill()
        pairs.tofile(spill)
        del pairs
        keys = _sorted_unique(parts, tmp_dir)
        dropped = _covered(keys, spill)
    # Compact the kept keys in place, so that the set is never held twice.
    w = 0
    for i in range(0, len(keys), _CHUNK):
        mask = b"".join(map(_KEEP.__getitem__, dropped[i >> 3 : (i + _CHUNK) >> 3]))
        kept = array("Q", compress(keys[i : i + _CHUNK], mask))
        keys[w : w + len(kept)] = kept
        w += len(kept)
    stats = FeedStats(fmt, rules=counts.lines - counts.skipped - counts.invalid, invalid=counts.invalid,
                      first_invalid_lines=list(counts.first_invalid_lines), skipped=counts.skipped,
                      covered=len(keys) - w)
    del keys[w:], dropped
    return stats, Table(w, keys, bytes((bits,)) * w, labels=_label_range(seen_dots))


class _Buckets:
    """Hashes partitioned by their top byte, held in memory and spilled now and then to a
    temporary file as one segment per bucket."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.held = [array("Q") for _ in range(256)]
        self.segments: list[list[tuple[int, int]]] = [[] for _ in range(256)]

    def spill(self) -> None:
        for i, part in enumerate(self.held):
            if part:
                self.segments[i].append((self.f.tell(), len(part)))
                part.tofile(self.f)
                self.held[i] = array("Q")

    def take(self, i: int) -> array[int]:
        """All of bucket i (read back from its segments), released from memory."""
        part = array("Q")
        for at, n in self.segments[i]:
            self.f.seek(at)
            part.frombytes(self.f.read(8 * n))
        part.extend(self.held[i])
        self.held[i] = array("Q")
        return part


def _sorted_unique(parts: _Buckets, tmp_dir: Path) -> array[int]:
    """The hashes sorted and unique, in one array. Sorted one bucket at a time (only ~1/256 of
    the hashes as Python ints) into a temporary file, so that the buckets and the result are
    never held together."""
    count = 0
    with tempfile.TemporaryFile(dir=tmp_dir, prefix=".keys-") as f:
        for i in range(256):
            part = array("Q", sorted(set(parts.take(i))))
            part.tofile(f)
            count += len(part)
        keys = array("Q", [0]) * count  # allocated once, at its final size
        f.seek(0)
        if f.readinto(memoryview(keys).cast("B")) != 8 * count:
            raise OSError("temporary file of sorted hashes came back short")
    return keys


_KEEP = tuple(bytes(1 - (x >> k & 1) for k in range(8)) for x in range(256))  # a bitmap byte → 8 mask bytes


def _covered(keys: array[int], spill: Any) -> bytearray:
    """A bitmap over `keys`: bit j set when a spilled (ancestor, name) pair shows keys[j]
    covered by a listed ancestor."""
    dropped = bytearray((len(keys) + 7) >> 3)
    idx, shift = bucket_index(keys, len(keys))
    spill.seek(0)
    chunk = array("Q", [0]) * 8192  # read into one small buffer, reused
    view = memoryview(chunk).cast("B")
    while got := spill.readinto(view):
        it = iter(chunk[: got >> 3])
        for a, h in zip(it, it, strict=True):
            b = a >> shift
            hi = idx[b + 1]
            i = bisect_left(keys, a, idx[b], hi)
            if i < hi and keys[i] == a:
                b = h >> shift
                j = bisect_left(keys, h, idx[b], idx[b + 1])  # every name is in keys
                dropped[j >> 3] |= 1 << (j & 7)
    return dropped


def _qtypes(names: frozenset[str] | None) -> list[int] | None:
    if names is None:
        return None
    return sorted({QTYPES.get(n.upper(), int(n) if n.isdigit() else -1) for n in names} - {-1})


def _side_rule(r: Rule, bits: int) -> dict[str, Any]:
    d: dict[str, Any] = {"bits": bits, "important": r.important}
    if r.dnstypes is not None:
        d["dnstypes"] = _qtypes(r.dnstypes)
    if r.exclude_dnstypes is not None:
        d["exclude_dnstypes"] = _qtypes(r.exclude_dnstypes)
    if r.clients is not None:
        d["clients"] = [c for c in r.clients if _is_net(c)]
    if r.exclude_clients is not None:
        d["exclude_clients"] = [c for c in r.exclude_clients if _is_net(c)]
    if r.denyallow:
        d["denyallow"] = list(r.denyallow)
    if r.regex:
        d["regex"] = r.regex
    return d


def _is_net(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False  # client names are not known to the resolver: such a rule never matches


def _label_range(seen_dots: bytearray) -> tuple[int, int]:
    """(fewest, most) labels among the names marked in `seen_dots` (by their number of dots),
    or (0, 0): look up every suffix."""
    present = [d + 1 for d in range(256) if seen_dots[d]]
    return (present[0], present[-1]) if present and present[-1] <= MAX_LABELS else (0, 0)


def _has(keys: array[int], index: tuple[Any, int], h: int) -> bool:
    idx, shift = index
    b = h >> shift
    i = bisect_left(keys, h, idx[b], idx[b + 1])
    return i < idx[b + 1] and keys[i] == h


def _compile_rules(src: StrPath, fmt: str, opts: dict[str, Any], allow: bool) -> tuple[FeedStats, Table]:
    counts = RuleCounts()
    cond: dict[str, list[dict[str, Any]]] = {}
    regex: list[dict[str, Any]] = []
    hashed = False
    plain = True  # only subtree blocks: the covered-name pass applies
    conditional = 0
    seen = bytearray(256)
    nets = _Nets()

    rpz = RpzTable()  # a policy zone's actions and nodes (feeds/compile_rpz.py)

    def rules() -> Iterator[Any]:
        if fmt == "rpz":
            with _open_text(src) as f:
                yield from rpz_format.parse_fast(f, counts)
        else:
            yield from parse_file(src, fmt, counts, **opts)

    def entries() -> Iterator[tuple[int, int]]:
        nonlocal hashed, plain, conditional
        crc, from_bytes, length, scope_bits = zlib.crc32, int.from_bytes, LENGTH, SCOPE_BITS
        for r in rules():
            if type(r) is tuple:  # a policy zone's common line, `name CNAME .` (formats/rpz.py, parse_fast)
                name, scope, action, kind = r
                labels = name.encode().split(b".")
                wire = b"".join([length[len(x)] + x for x in labels]) + b"\x00"
                key = crc(wire) << 32 | from_bytes(wire) % P30  # name_key, inlined
                if not allow:
                    rpz.add_key(key, wire, len(labels), scope == "below", CODES.get(kind, 0))
                seen[len(labels) - 1] = 1
                plain = False
                yield key, scope_bits[("allow" if allow else action, scope)]
                continue
            if r.network:
                if allow or not r.rpz or rpz.add_ip(r, counts):  # a policy zone's: one action (compile_rpz.py)
                    _add_network(nets, r, allow, counts)
                continue
            if r.rpz and not allow:
                rpz.add(r)
            action = "allow" if allow else r.action
            bits = SCOPE_BITS[(action, r.scope)]
            if r.important:
                bits |= IMP_A if action == "allow" else IMP_B
            if (action, r.scope, r.important) != ("block", "subtree", False):
                plain = False
            if r.regex:
                plain = False
                regex.append(_side_rule(r, bits & 63))
                continue
            key = hex_digest_key(r.name) if r.hashed else name_key(wire_of(r.name.encode()))
            hashed = hashed or r.hashed
            if not r.hashed:
                seen[min(r.name.count("."), 255)] = 1
            if r.conditional:
                plain = False
                conditional += 1
                cond.setdefault(str(key), []).append(_side_rule(r, bits & 63))
                continue
            yield key, bits

    keys, flags = sort_entries(entries())  # consumed once; side tables filled meanwhile
    side: dict[str, Any] | None = {"cond": cond, "regex": regex} if cond or regex else None
    if rpz:
        keys, flags, table = rpz.finish(keys, flags, counts, seen)
        side = {**(side or {}), "rpz": table}
        plain = False
    stats = FeedStats(fmt, rules=counts.rules, exceptions=counts.exceptions, regex=len(regex),
                      conditional=conditional, invalid=counts.invalid,
                      first_invalid_lines=list(counts.first_invalid_lines),
                      skipped=counts.skipped + counts.skipped_cosmetic + counts.skipped_unsupported,
                      first_skipped_lines=list(counts.first_unsupported_lines),
                      urls_skipped=counts.urls_skipped, urls_reduced=counts.urls_reduced, hashed=hashed,
                      networks=len(nets), version=counts.version)
    # A hashed feed's names are unknown, so is the label range of its entries.
    labels = (0, 0) if hashed else _label_range(seen)
    if plain and not hashed:
        # A rule format holding only subtree blocks: drop names covered by a listed parent too.
        index = bucket_index(keys, len(keys))
        covered = 0

        def keep() -> Iterator[tuple[int, int]]:
            nonlocal covered
            for r in parse_file(src, fmt, RuleCounts(), **opts):
                if r.network:
                    continue
                raw = r.name.encode()
                wire = wire_of(raw)
                pos = 0
                for x in raw.split(b".")[:-2]:  # ancestors of two or more labels
                    pos += len(x) + 1
                    if _has(keys, index, name_key(wire[pos:])):
                        covered += 1
                        break
                else:
                    yield name_key(wire), B_SUB

        kept, flags = sort_entries(keep())
        del keys, index
        keys = kept
        stats.covered = covered
    return stats, Table(len(keys), keys, bytes(flags), side, hashed, labels, nets.image())


def _add_network(nets: _Nets, r: Rule, allow: bool, counts: RuleCounts) -> None:
    """A response-IP rule: only blocks are kept (an allowlist's or an exception's network is
    counted as unsupported: nothing un-blocks an answer by its address yet)."""
    if allow or r.action != "block":
        counts.note_unsupported(r.line)
        return
    try:
        nets.add(r.name)
    except ValueError:
        counts.note_invalid(r.line)


def _promote(tmp: Path, path: Path) -> None:
    """Rename a complete, fsynced `tmp` over `path`, then make the rename itself durable."""
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_atomic(path: StrPath, data: Buffer | Iterable[Buffer]) -> None:
    """Replace `path` with `data` (bytes, or buffers written one after another) so that readers
    see the old file or the new one, never a mix, even across a power cut (routers lose power
    more often than servers)."""
    path = Path(path)
    parts = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        _promote(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_feed(path: StrPath, *, verify: bool = True) -> FeedSet:
    """Map a compiled feed read-only (pages shared by every worker). Raises FeedSetError for a
    missing, unreadable or corrupt file, so the caller keeps its last good set."""
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        raise FeedSetError(f"cannot map compiled feed {os.fspath(path)!r}: {e}") from e
    try:
        return FeedSet.from_buffer(mapped, verify=verify)
    except FeedSetError as e:
        raise FeedSetError(f"{Path(path).name}: {e}") from e

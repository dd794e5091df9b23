"""Compile a feed file (any format) into a FeedSet file, and map compiled files.

Plain lists (hosts, domains, or rule formats that only hold subtree blocks) keep only names
that no listed parent covers, so the file holds the minimal set. The rule formats are turned
into a Table by feeds.table (their meaning depends on all their rules). Files are replaced
atomically; a failure leaves the old file.

Memory: a rebuild must fit next to the daemon on a small router, so a hosts or domains list is
compiled in one streaming pass that holds only the 8-byte hashes (bucketed by top byte, sorted
one bucket at a time) and spills each (ancestor, name) hash pair to a temporary file beside the
output; the pairs are read back in chunks to drop covered names, and the set is written to disk
in chunks. Peak RSS stays under twice the compiled set (see docs/feeds.md, Performance).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import time
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from itertools import compress
from pathlib import Path
from typing import Any

from dnsfilter.core.policy.feedset import (
    A_SUB,
    B_SUB,
    HEADER_SIZE,
    LENGTH,
    P30,
    bucket_index,
    header,
    index_image,
    nets_part,
)
from feeds.files import load_feed
from feeds.formats import resolve_format
from feeds.parsers import ParseResult, stream_names
from feeds.table import FeedStats, Table, label_range, rule_table

__all__ = ["FeedStats", "compile_feed", "load_feed", "write_atomic", "write_set"]

StrPath = str | os.PathLike[str]
Buffer = bytes | bytearray | memoryview
def _open_text(path: StrPath) -> Any:
    return open(path, encoding="utf-8-sig", errors="replace", newline=None)


def compile_feed(src_path: StrPath, fmt: str, out_path: StrPath, *, options: dict[str, Any] | None = None,
                 allow: bool = False) -> FeedStats:
    """Compile `src_path` into `out_path` atomically. `allow=True` compiles an allowlist feed
    (every rule un-blocks). Raises ValueError (format, options) or OSError; on failure the
    previous `out_path` is untouched."""
    started = time.perf_counter()
    opts = dict(options or {})
    fmt = resolve_format(src_path, fmt, **opts)
    out = Path(out_path)
    if fmt in ("hosts", "domains"):
        stats, table = _compile_names(src_path, fmt, allow, out.parent)
    else:
        stats, table = rule_table(src_path, fmt, opts, allow)
    write_set(table, stats, out)
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def write_set(table: Table, stats: FeedStats, out: Path) -> None:
    """Write `table` to `out` atomically, checked as the daemon will map it first; its size,
    entries and digest into `stats`."""
    tmp = out.with_name(out.name + ".tmp")
    try:
        stats.size = _write_table(tmp, table)
        del table
        fs = load_feed(tmp)  # self-check, mapped as the daemon will map it, before anything is replaced
        stats.entries, stats.digest = len(fs), fs.digest.hex()
        del fs
        _promote(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
        n = 0  # names read (a hosts line can hold several; its localhost preamble is skipped)
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
    stats = FeedStats(fmt, rules=n, invalid=counts.invalid,
                      first_invalid_lines=list(counts.first_invalid_lines), skipped=counts.skipped,
                      covered=len(keys) - w)
    del keys[w:], dropped
    return stats, Table(w, keys, bytes((bits,)) * w, labels=label_range(seen_dots))


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



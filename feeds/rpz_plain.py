"""A plain hosts or domains list exported alone in its zone (most of a big export: a national
list, an ad list of a million names): each name the compiled set holds, as `name` and `*.name`,
once, in the order of the set's keys. A name under a listed parent is not held (the compiled set
keeps none: the parent's `*.` trigger covers it), so no wildcard shields one and nothing is
filled.

Written in key order, the zone's entries line up with the set's sorted keys, so a new version
can be made from the last one (`patch`) instead of from every name of the list: the difference
of the two sets' keys (a merge of two sorted arrays), the names of the added keys found in the
lines the list gained (the list as last exported is kept beside the zone: `record`), and the
old file's entries copied in runs. Anything it cannot account for exactly (a key added by no new
line: a name uncovered when its listed parent went away) makes it give up, and the zone is
written in full; both ways give the same bytes (tests/unit/feeds/test_rpz_plain.py).
"""

from __future__ import annotations

import hashlib
import os
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, islice
from pathlib import Path
from typing import Any
from zlib import crc32

from dnsfilter.core.policy.feedset import P30, FeedSet, name_key, wire_of
from dnsfilter.core.policy.matcher import MatcherError
from feeds.compile_rules import load_feed
from feeds.parsers import ParseResult, stream_names
from feeds.rpz_zone import Action, ZoneWriter, stamp_of
from feeds.sync import keep_source

_BATCH = 4096  # names a write
HEAD_LINES = 5  # of a zone file ZoneWriter writes: the comment, $ORIGIN, $TTL, SOA, NS


def _listed(lines: Iterator[str], fs: FeedSet, fmt: str) -> Iterator[tuple[int, str]]:
    """(position of its key in the set, name) of each name of `lines` that the plain set `fs`
    holds, once a key, in the list's order. Only the whole name is looked up
    (Keys.listed_depth at depth 0, inlined): in a plain set a key has no listed parent."""
    hs, _ib, shift, bm, bshift = fs.probe
    idx, _ = fs.index()
    done = bytearray((len(hs) >> 3) + 1)
    from_bytes = int.from_bytes
    for name in stream_names(lines, fmt, ParseResult()):
        raw = wire_of(name.encode())  # the parsers give valid lower-case names
        c = crc32(raw)
        if not bm[c >> bshift] >> (c & 7) & 1:
            continue
        b = c >> shift
        hi = idx[b + 1]
        c = c << 32 | from_bytes(raw) % P30
        i = bisect_left(hs, c, idx[b], hi)
        if i >= hi or hs[i] != c or done[i >> 3] & (1 << (i & 7)):
            continue
        done[i >> 3] |= 1 << (i & 7)
        yield i, name


def _open(source: Path) -> Any:
    return open(source, encoding="utf-8-sig", errors="replace")  # as the compiler reads it


def plain_names(source: Path, fs: FeedSet, fmt: str) -> Iterator[str]:
    """The names of the list `source` (format `fmt`) its plain compiled set holds, once each,
    in the list's order."""
    with _open(source) as lines:
        for _, name in _listed(lines, fs, fmt):
            yield name


def entry_maker(action: Action) -> tuple[Any, int]:
    """(name -> its lines, lines a name): `name` then `*.name`, each with every record of
    `action`, exactly as ZoneWriter.add writes them."""
    rdata = [r.replace("{", "{{").replace("}", "}}") for r in action.rdata()]
    return ("".join(f"{{0}} {r}\n" for r in rdata) + "".join(f"*.{{0}} {r}\n" for r in rdata)).format, 2 * len(rdata)


def plain_zone(w: ZoneWriter, shape: str, source: Path, fs: FeedSet, fmt: str, action: Action) -> array[int]:
    """The zone of the plain list `source` (compiled into `fs`) alone into `w`: patched from its
    last version when that was exported with the same `shape` (rpz_export's inputs) from the
    list and set its Record holds, else in full. The byte length of each entry, for the next."""
    rec = Record.of(w.path)
    old = stamp_of(w.path)
    if old is not None and old[0].startswith(shape) and rec.source.exists() and rec.set.exists():
        old_fs: FeedSet | None = None
        sizes: array[int] | None = None
        try:
            old_fs, sizes = load_feed(rec.set), rec.sizes(old[0])
        except (MatcherError, OSError, ValueError):
            pass
        if (old_fs is not None and sizes is not None and old_fs.names
                and old[0] == shape + content_digest([(old_fs, rec.source)])):
            patched = patch(w, old_fs, sizes, rec.source, source, fs, fmt, action)
            if patched is not None:
                return patched
    return write_plain(w, source, fs, fmt, action)


def keep_record(zone_file: Path, stamp: str, source: Path, set_file: Path, sizes: array[int]) -> None:
    """After a plain zone's file was written (or found current): remember what it was computed
    from, for the next `patch`. A file still stamped otherwise (its UPDATE was refused) keeps
    the record of what it holds."""
    got = stamp_of(zone_file)
    if got is not None and got[0] == stamp:
        Record.of(zone_file).keep(source, set_file, stamp, sizes)


def content_digest(parts: list[tuple[FeedSet, Path]]) -> str:
    """The digest of lists' compiled sets and sources (what their zones' records come from)."""
    h = hashlib.blake2b(digest_size=16)
    for fs, source in parts:
        h.update(fs.digest)
        with open(source, "rb") as f:
            h.update(hashlib.file_digest(f, "blake2b").digest())
    return h.hexdigest()


def write_plain(w: ZoneWriter, source: Path, fs: FeedSet, fmt: str, action: Action) -> array[int]:
    """The zone of the plain list `source` alone, in the order of its set's keys, into `w`; the
    byte length of each entry."""
    # the names by key position, packed (one blob and an offset a key, not a str object a name:
    # a third of the memory at a million names)
    blob = bytearray()
    at = array("q", [-1]) * len(fs.keys())
    with _open(source) as lines:
        for i, name in _listed(lines, fs, fmt):
            at[i] = len(blob)
            blob += name.encode() + b"\n"
    one, per = entry_maker(action)
    names = (blob[o : blob.index(10, o)].decode() for o in at if o >= 0)
    sizes = array("I")
    while batch := [one(n).encode() for n in islice(names, _BATCH)]:
        sizes.extend(map(len, batch))
        w.add_bytes(b"".join(batch), per * len(batch))
    return sizes


# ------------------------------------------------------------------ from the last version


@dataclass
class Record:
    """What a plain zone was last exported from, beside it: the list (`ZONE.zone.list`), its
    compiled set (`ZONE.zone.set`), both hard links to the feed's own files where the file
    system allows, and the byte length of each of the zone's entries (`ZONE.zone.sizes`, after
    the zone's stamp: a line of its own)."""

    source: Path
    set: Path
    lengths: Path

    @classmethod
    def of(cls, zone_file: Path) -> Record:
        return cls(*(zone_file.with_name(f"{zone_file.name}.{x}") for x in ("list", "set", "sizes")))

    def sizes(self, stamp: str) -> array[int] | None:
        """The entry lengths kept with `stamp`; None when kept with another."""
        data = self.lengths.read_bytes()
        head, _, rest = data.partition(b"\n")
        if head.decode("ascii", "replace") != stamp or len(rest) % 4:
            return None
        out = array("I")
        out.frombytes(rest)
        return out

    def keep(self, source: Path, set_file: Path, stamp: str, sizes: array[int]) -> None:
        """Remember `source` and `set_file` as what the zone now holds (both are replaced by
        rename when the feed syncs, never written in place: a link keeps this version)."""
        keep_source(source, self.source)
        keep_source(set_file, self.set)
        tmp = self.lengths.with_name(self.lengths.name + ".tmp")
        tmp.write_bytes(stamp.encode() + b"\n" + sizes.tobytes())
        os.replace(tmp, self.lengths)

    def drop(self) -> None:
        for p in (self.source, self.set, self.lengths):
            p.unlink(missing_ok=True)


def key_difference(old: Any, new: Any) -> tuple[list[int], list[int]]:
    """(keys only in `old`, keys only in `new`) of two sorted arrays of distinct keys: equal
    runs are skipped by comparing slices (a memcmp), a mismatch found by halving the run."""
    gone: list[int] = []
    added: list[int] = []
    i = j = 0
    na, nb = len(old), len(new)
    step = 1024
    while i < na and j < nb:
        n = min(step, na - i, nb - j)
        if old[i : i + n] == new[j : j + n]:
            i, j, step = i + n, j + n, min(step * 2, 1 << 16)
            continue
        lo, hi = 0, n  # the first `lo` keys agree, the first `hi` do not
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if old[i : i + mid] == new[j : j + mid]:
                lo = mid
            else:
                hi = mid
        i, j = i + lo, j + lo
        if old[i] < new[j]:
            gone.append(old[i])
            i += 1
        else:
            added.append(new[j])
            j += 1
        step = max(64, lo * 2)
    gone.extend(old[i:])
    added.extend(new[j:])
    return gone, added


def _fresh_lines(old_source: Path, source: Path) -> set[str]:
    """The lines of `source` that `old_source` does not have, as the compiler reads them."""
    old, new = old_source.read_bytes(), source.read_bytes()
    if b"\r" in old or b"\r" in new:  # universal newlines: leave the splitting to the text reader
        with _open(old_source) as f:
            had = set(f.read().split("\n"))
        with _open(source) as f:
            return set(f.read().split("\n")).difference(had)
    had = set(old.removeprefix(b"\xef\xbb\xbf").split(b"\n"))  # utf-8-sig
    del old
    fresh = {line for line in new.removeprefix(b"\xef\xbb\xbf").split(b"\n") if line not in had}
    return {line.decode("utf-8", "replace") for line in fresh}


def patch(w: ZoneWriter, old_fs: FeedSet, sizes: array[int], old_source: Path, source: Path, fs: FeedSet,
          fmt: str, action: Action) -> array[int] | None:
    """Write the zone of the plain list `source` (set `fs`) into `w` from its last version
    (`w.path`, exported from `old_source` and `old_fs` with the same action; `sizes`: the byte
    length of each of its entries), and tell `w` the difference (ZoneWriter.known); the new
    entries' lengths. None, with nothing written, when that cannot be done exactly (the caller
    then writes the zone in full)."""
    old_keys, keys = old_fs.keys(), fs.keys()
    if len(sizes) != len(old_keys):
        return None
    gone, added = key_difference(old_keys, keys)
    one, per = entry_maker(action)
    # the names of the added keys: from the lines the list gained, checked against the set
    want = set(added)
    named: dict[int, str] = {}
    for name in stream_names(_fresh_lines(old_source, source), fmt, ParseResult()):
        k = name_key(wire_of(name.encode()))
        if k in want and named.setdefault(k, name) != name:
            return None  # two names, one key: leave the choice to the full export
    if len(named) != len(want):
        return None  # a key no new line holds (a name its removed parent no longer covers)
    data = w.path.read_bytes()
    start = 0
    for _ in range(HEAD_LINES):
        start = data.find(b"\n", start) + 1
    if not start or not data[:start].endswith(b"\n@ NS localhost.\n") or len(data) - start != sum(sizes):
        return None  # not the file those entries were written into
    at = array("q", accumulate(sizes, initial=start))  # at[i]: where entry i starts; at[-1]: the end
    # in the old file's order: (position, 0, key) drops entry `position`, (position, 1, key)
    # puts the added key's entry before it
    events = sorted([(bisect_left(old_keys, k), 0, k) for k in gone]
                    + [(bisect_left(old_keys, k), 1, k) for k in added])
    parts: list[bytes | memoryview] = []  # views of the old file: not copied before they are written
    view = memoryview(data)
    new_sizes = array("I")
    deleted: list[str] = []
    new_lines: list[str] = []
    done = 0  # the next old entry not yet copied
    for pos, kind, k in events:
        if data[at[pos] - 1] != 10:  # b"\n": each cut falls between entries, or the sizes are not these
            return None
        if pos > done:
            parts.append(view[at[done] : at[pos]])
            new_sizes.extend(sizes[done:pos])
            done = pos
        if kind == 0:
            entry = data[at[pos] : at[pos + 1]].decode().splitlines()
            if len(entry) != per or name_key(wire_of(entry[0].split(" ", 1)[0].encode())) != k:
                return None  # not the entry of the key it goes with
            deleted.extend(entry)
            done = pos + 1
        else:
            text = one(named[k]).encode()
            new_lines.extend(text.decode().splitlines())
            parts.append(text)
            new_sizes.append(len(text))
    parts.append(view[at[done] : at[-1]])
    new_sizes.extend(sizes[done:])
    for part in parts:
        w.add_bytes(part, 0)
    w.records += per * len(keys)
    w.known = (sorted(deleted), new_lines)
    return new_sizes

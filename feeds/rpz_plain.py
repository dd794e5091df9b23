"""A plain hosts or domains list exported alone in its zone (most of a big export: a national
list, an ad list of a million names): each name the compiled set holds, as `name` and `*.name`,
once, in the list's order. A name under a listed parent is not held (the compiled set keeps
none: the parent's `*.` trigger covers it), so no wildcard shields one and nothing is filled.

The per-name work is kept small (one hash, one probe, no Keys, lines written in batches): it
was most of `rpz export`'s time at a million names."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from zlib import crc32

from dnsfilter.core.policy.feedset import P30, FeedSet, wire_of
from feeds.parsers import ParseResult, stream_names
from feeds.rpz_zone import Action, ZoneWriter

_BATCH = 4096  # names a write


def plain_names(source: Path, fs: FeedSet, fmt: str) -> Iterator[str]:
    """The names of the list `source` (format `fmt`) its plain compiled set `fs` holds, once
    each, in the list's order. Only the whole name is looked up (Keys.listed_depth at depth 0,
    inlined): in a plain set a name that is a key has no listed parent; the key's position
    remembers that it was written."""
    hs, idx, shift, bm, bshift = fs.probe
    done = bytearray((len(hs) >> 3) + 1)
    from_bytes = int.from_bytes
    with open(source, encoding="utf-8-sig", errors="replace") as lines:
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
            yield name


def write_plain(w: ZoneWriter, names: Iterator[str], action: Action) -> None:
    """`name` and `*.name` of each of `names` into `w`, each with every record of `action`,
    exactly as ZoneWriter.add writes them."""
    rdata = [r.replace("{", "{{").replace("}", "}}") for r in action.rdata()]
    one = ("".join(f"{{0}} {r}\n" for r in rdata) + "".join(f"*.{{0}} {r}\n" for r in rdata)).format
    while batch := [one(n) for n in islice(names, _BATCH)]:
        w.add_text("".join(batch), 2 * len(rdata) * len(batch))

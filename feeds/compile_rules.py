"""Compile a feed file (any format) into a FeedSet file, and map compiled files.

Plain lists (hosts, domains, or rule formats that only hold subtree blocks) are compiled in two
streaming passes: the first hashes every name, the second keeps only names that no listed
parent covers, so the file holds the minimal set and no list of names is ever held. Lists with
exceptions, scopes, important, conditional or regex rules keep every rule (their meaning
depends on all of them). Files are replaced atomically; a failure leaves the old file.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnsfilter.core.feedset import (
    A_SUB,
    B_SUB,
    IMP_A,
    IMP_B,
    SCOPE_BITS,
    FeedSet,
    FeedSetError,
    blake_hash,
    build,
    hex_digest_key,
    image,
)
from feeds.formats import parse_file, resolve_format
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
    if fmt in ("hosts", "domains"):
        stats, parts = _compile_names(src_path, fmt, allow)
    else:
        stats, parts = _compile_rules(src_path, fmt, opts, allow)
    fs = FeedSet.from_buffer(b"".join(parts))  # self-check before anything is replaced
    size = sum(len(p) for p in parts)
    write_atomic(out_path, parts)
    stats.entries, stats.size, stats.digest = len(fs), size, fs.digest.hex()
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _compile_names(src: StrPath, fmt: str, allow: bool) -> tuple[FeedStats, list[bytes]]:
    """One streaming pass over a plain list. Each name's hash goes into the set; for names of
    three or more labels, (name, ancestor) hash pairs are kept aside, so that names covered by
    a listed ancestor can be dropped afterwards without reading the list again."""
    counts = ParseResult()
    bits = A_SUB if allow else B_SUB
    pair_name, pair_anc = array("Q"), array("Q")

    def hashes() -> Iterator[tuple[int, int]]:
        b2, from_bytes = hashlib.blake2b, int.from_bytes  # blake_hash, inlined: the loop runs per line
        with _open_text(src) as f:
            for name in stream_names(f, fmt, counts):
                raw = name.encode()
                h = from_bytes(b2(raw, digest_size=8).digest(), "little")
                pos = raw.find(b".")
                nxt = raw.find(b".", pos + 1)
                while nxt >= 0:  # ancestors of two or more labels (single labels are never listed)
                    pair_name.append(h)
                    pair_anc.append(from_bytes(b2(raw[pos + 1 :], digest_size=8).digest(), "little"))
                    pos, nxt = nxt, raw.find(b".", nxt + 1)
                yield h, bits

    first = FeedSet.from_buffer(b"".join(build(hashes())), verify=False)
    flags_of = first.flags_of
    # The covered names, sorted and unique through the same bucketed sort (no big Python set).
    dropped = FeedSet.from_buffer(b"".join(build((h, 0) for h, a in zip(pair_name, pair_anc, strict=True)
                                                 if flags_of(a))), verify=False).keys()
    del pair_name[:], pair_anc[:]
    keys = first.keys()
    kept = array("Q")
    j, nd = 0, len(dropped)
    for h in keys:  # both sorted: one merge walk
        while j < nd and dropped[j] < h:
            j += 1
        if j < nd and dropped[j] == h:
            continue
        kept.append(h)
    stats = FeedStats(fmt, rules=counts.lines - counts.skipped - counts.invalid, invalid=counts.invalid,
                      first_invalid_lines=list(counts.first_invalid_lines), skipped=counts.skipped,
                      covered=len(keys) - len(kept))
    return stats, image(kept, bytes((bits,)) * len(kept))


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


def _compile_rules(src: StrPath, fmt: str, opts: dict[str, Any], allow: bool) -> tuple[FeedStats, list[bytes]]:
    counts = RuleCounts()
    cond: dict[str, list[dict[str, Any]]] = {}
    regex: list[dict[str, Any]] = []
    hashed = False
    plain = True  # only subtree blocks: the covered-name pass applies
    conditional = 0

    def entries() -> Iterator[tuple[int, int]]:
        nonlocal hashed, plain, conditional
        for r in parse_file(src, fmt, counts, **opts):
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
            key = hex_digest_key(r.name) if r.hashed else blake_hash(r.name.encode())
            hashed = hashed or r.hashed
            if r.conditional:
                plain = False
                conditional += 1
                cond.setdefault(str(key), []).append(_side_rule(r, bits & 63))
                continue
            yield key, bits

    parts = build(entries(), None, False)  # consumed once; side tables filled meanwhile
    side = {"cond": cond, "regex": regex} if cond or regex else None
    if side or hashed:
        # rebuild with the side table and header flags (the entries are already sorted bytes)
        fs = FeedSet.from_buffer(b"".join(parts), verify=False)
        parts = image(array("Q", fs.keys()), fs.flag_bytes(), side, hashed)
    stats = FeedStats(fmt, rules=counts.rules, exceptions=counts.exceptions, regex=len(regex),
                      conditional=conditional, invalid=counts.invalid,
                      first_invalid_lines=list(counts.first_invalid_lines),
                      skipped=counts.skipped + counts.skipped_cosmetic + counts.skipped_unsupported,
                      first_skipped_lines=list(counts.first_unsupported_lines),
                      urls_skipped=counts.urls_skipped, urls_reduced=counts.urls_reduced, hashed=hashed)
    if plain and not hashed:
        # A rule format holding only subtree blocks: drop names covered by a listed parent too.
        fs = FeedSet.from_buffer(b"".join(parts), verify=False)
        covered = 0

        def keep() -> Iterator[tuple[int, int]]:
            nonlocal covered
            for r in parse_file(src, fmt, RuleCounts(), **opts):
                raw = r.name.encode()
                pos = raw.find(b".")
                while pos >= 0 and raw.find(b".", pos + 1) >= 0:
                    if fs.flags_of(blake_hash(raw[pos + 1 :])):
                        covered += 1
                        break
                    pos = raw.find(b".", pos + 1)
                else:
                    yield blake_hash(raw), B_SUB

        parts = build(keep())
        stats.covered = covered
    return stats, parts


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
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # makes the rename itself durable
    finally:
        os.close(dir_fd)


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

"""What compiling a feed yields (FeedStats for its status, the Table to write) and the
compile of the rule formats (adblock, dnsmasq, RPZ, CSV, sha256) into a Table: a key and a
flags byte per listed name, and the side table for conditional, regex and accept-all rules.

Lists with exceptions, scopes, important, conditional or regex rules keep every rule (their
meaning depends on all of them); a rule format holding only subtree blocks drops the names a
listed parent covers, as plain lists do.
"""

from __future__ import annotations

import os
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dnsfilter.core.dns.rrtypes import RR_TYPES
from dnsfilter.core.policy.feedset import (
    B_SUB,
    IMP_A,
    IMP_B,
    LENGTH,
    MAX_LABELS,
    P30,
    SCOPE_BITS,
    bucket_index,
    hex_digest_key,
    name_key,
    sort_entries,
    wire_of,
)
from dnsfilter.core.policy.netset import image as netset_image
from dnsfilter.core.policy.netset import network_range
from dnsfilter.core.policy.rpzactions import CODES
from feeds.compile_rpz import RpzTable
from feeds.formats import parse_file
from feeds.formats import rpz as rpz_format
from feeds.rules import Rule, RuleCounts

MAX_CLIENT_NETS = 64  # client networks kept for the "no rule can apply" check (feeds.report)


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
    not_applied: int = 0  # of the skipped: DNS-level rules AdGuard would apply ($dnsrewrite, $ctag…)
    badfilter_unused: int = 0  # $badfilter rules that disabled nothing
    first_badfilter_unused_lines: list[int] = field(default_factory=list)
    # Set when every rule is for listed clients only ($client, no exclusion): their networks
    # (at most MAX_CLIENT_NETS); empty otherwise.
    client_nets: list[str] = field(default_factory=list)
    covered: int = 0  # names dropped because a listed parent already covers them
    urls_skipped: int = 0
    urls_reduced: int = 0
    hashed: bool = False
    size: int = 0
    digest: str = ""
    seconds: float = 0.0
    networks: int = 0  # response-IP rules compiled (addresses and networks as listed)
    version: str = ""  # the version the list declares (a registry dump's updateTime), if any


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


def _add_network(ipnets: _Nets, r: Rule, allow: bool, counts: RuleCounts) -> None:
    """A response-IP rule: only blocks are kept (an allowlist's or an exception's network is
    counted as unsupported: nothing un-blocks an answer by its address yet)."""
    if allow or r.action != "block":
        counts.note_unsupported(r.line)
        return
    try:
        ipnets.add(r.name)
    except ValueError:
        counts.note_invalid(r.line)


def _qtypes(names: frozenset[str] | None) -> list[int] | None:
    if names is None:
        return None
    return sorted(RR_TYPES[n] for n in names)  # the parser admits real type names only


def _side_rule(r: Rule, bits: int) -> dict[str, Any]:
    d: dict[str, Any] = {"bits": bits, "important": r.important}
    if r.dnstypes is not None:
        d["dnstypes"] = _qtypes(r.dnstypes)
    if r.exclude_dnstypes is not None:
        d["exclude_dnstypes"] = _qtypes(r.exclude_dnstypes)
    if r.clients is not None:
        d["clients"] = list(r.clients)  # networks: the parser skips client names
    if r.exclude_clients is not None:
        d["exclude_clients"] = list(r.exclude_clients)
    if r.denyallow:
        d["denyallow"] = list(r.denyallow)
    if r.regex:
        d["regex"] = r.regex
    return d


def label_range(seen_dots: bytearray) -> tuple[int, int]:
    """(fewest, most) labels among the names marked in `seen_dots` (by their number of dots),
    or (0, 0): look up every suffix."""
    present = [d + 1 for d in range(256) if seen_dots[d]]
    return (present[0], present[-1]) if present and present[-1] <= MAX_LABELS else (0, 0)


def _has(keys: array[int], index: tuple[Any, int], h: int) -> bool:
    idx, shift = index
    b = h >> shift
    i = bisect_left(keys, h, idx[b], idx[b + 1])
    return i < idx[b + 1] and keys[i] == h


def rule_table(src: str | os.PathLike[str], fmt: str, opts: dict[str, Any], allow: bool) -> tuple[FeedStats, Table]:
    """A rule-format feed (any but hosts and domains) as stats and the Table to write."""
    counts = RuleCounts()
    cond: dict[str, list[dict[str, Any]]] = {}
    regex: list[dict[str, Any]] = []
    every: list[dict[str, Any]] = []  # accept-all rules (`*$denyallow=…`, `$dnstype=AAAA`)
    nets: set[str] | None = set()  # the clients every rule is limited to; None once one is not
    hashed = False
    plain = True  # only subtree blocks: the covered-name pass applies
    conditional = 0
    seen = bytearray(256)
    ipnets = _Nets()  # response-IP rules

    rpz = RpzTable()  # a policy zone's actions and nodes (feeds/compile_rpz.py)

    def rules() -> Iterator[Any]:
        if fmt == "rpz":
            with open(src, encoding="utf-8-sig", errors="replace", newline=None) as f:
                yield from rpz_format.parse_fast(f, counts)
        else:
            yield from parse_file(src, fmt, counts, **opts)

    def entries() -> Iterator[tuple[int, int]]:
        nonlocal hashed, plain, conditional, nets
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
                nets = None
                yield key, scope_bits[("allow" if allow else action, scope)]
                continue
            if r.network:
                if allow or not r.rpz or rpz.add_ip(r, counts):  # a policy zone's: one action (compile_rpz.py)
                    _add_network(ipnets, r, allow, counts)
                continue
            if r.rpz and not allow:
                rpz.add(r)
            action = "allow" if allow else r.action
            bits = SCOPE_BITS[(action, r.scope)]
            if r.important:
                bits |= IMP_A if action == "allow" else IMP_B
            if (action, r.scope, r.important) != ("block", "subtree", False):
                plain = False
            if nets is not None:
                if r.clients and not r.exclude_clients:
                    nets.update(r.clients)
                else:
                    nets = None
            if r.any_name:
                plain = False
                conditional += r.conditional
                every.append(_side_rule(r, bits & 63))
                continue
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
    side: dict[str, Any] | None = {"cond": cond, "regex": regex, "any": every} if cond or regex or every else None
    if rpz:
        keys, flags, table = rpz.finish(keys, flags, counts, seen)
        side = {**(side or {}), "rpz": table}
        plain = False
    stats = FeedStats(fmt, rules=counts.rules, exceptions=counts.exceptions, regex=len(regex),
                      conditional=conditional, invalid=counts.invalid,
                      first_invalid_lines=list(counts.first_invalid_lines),
                      skipped=counts.skipped + counts.skipped_cosmetic + counts.skipped_unsupported,
                      first_skipped_lines=list(counts.first_unsupported_lines), not_applied=counts.not_applied,
                      badfilter_unused=counts.badfilter_unused,
                      first_badfilter_unused_lines=list(counts.first_badfilter_unused_lines),
                      client_nets=sorted(nets)[:MAX_CLIENT_NETS] if nets and counts.rules else [],
                      urls_skipped=counts.urls_skipped, urls_reduced=counts.urls_reduced, hashed=hashed,
                      networks=len(ipnets), version=counts.version)
    # A hashed feed's names are unknown, so is the label range of its entries.
    labels = (0, 0) if hashed else label_range(seen)
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
    return stats, Table(len(keys), keys, bytes(flags), side, hashed, labels, ipnets.image())

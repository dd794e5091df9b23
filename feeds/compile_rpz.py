"""Compiling a Response Policy Zone: its actions and the nodes that shield names from wildcards.

Actions (dnsfilter/core/policy/rpzactions.py): one code byte per key (the name's own trigger
in the low half, `*.name`'s in the high half), stored as the commonest code plus the keys that
differ, and the local data aside; the action of the zone's rpz-ip triggers (its networks are the
set's response-IP rules, dnsfilter/core/policy/netset.py).

Nodes: a policy zone is a DNS zone, and BIND and Unbound match its triggers as a name is looked
up in a zone (RFC 4592): a wildcard `*.c` answers for `x.c` and `a.x.c` only while no node
closer to them exists. An owner `d.c` shields `x.d.c` (whatever `d.c` says); `a.b.c` makes `b.c`
a node (an "empty non-terminal") that shields `x.b.c`. The compiled set holds such empty nodes
too, as keys without rule flags, but only where they shield something: below a wildcard of the
zone. `FeedSet.evaluate` then walks up to the closest node that exists and applies its own
trigger or its wildcard, or nothing.
"""

from __future__ import annotations

import zlib
from array import array
from bisect import bisect_left
from itertools import chain
from typing import Any

from dnsfilter.core.policy.feedset import (
    A_BELOW,
    A_EXACT,
    A_SUB,
    B_BELOW,
    B_EXACT,
    B_SUB,
    BLOCK_PARENT,
    P30,
    name_key,
    sort_entries,
    wire_of,
)
from dnsfilter.core.policy.rpzactions import CODES, LOCAL, NONE
from feeds.rules import Rule, RuleCounts

# `name` and `*.name` together are the name's subtree: one flag, so a zone of such pairs with one
# action compiles to a plain set (looked up by CRC-32 first, like a hosts list)
_FLAGS = bytes(B_SUB if f == B_EXACT | B_BELOW else A_SUB if f == A_EXACT | A_BELOW else f for f in range(256))
_BELOW = BLOCK_PARENT | A_SUB | A_BELOW  # a wildcard below the key's name (block or passthru)


class RpzTable:
    """A policy zone while it compiles: one (key, code) pair per trigger in two arrays (9 bytes
    each), the local data aside, and for names of three labels or more the keys of their
    ancestors (0-separated), to find the empty nodes below a wildcard."""

    def __init__(self) -> None:
        self.keys = array("Q")
        self.codes = array("B")
        self.local: dict[int, dict[str, list[list[Any]]]] = {}
        self.chains = array("Q")  # per name: the ancestors' keys, parent first, then 0
        self.ip: list[Any] | None = None  # the action of the zone's rpz-ip triggers: [code, local data]
        # Triggers by number of dots, and the dots of the empty nodes: what the label range comes
        # from, kept in the side table so that an IXFR's differences can be applied (rpz_delta.py)
        self.depths = [0] * 256
        self.nodes: set[int] = set()
        self.deep: dict[int, int] = {}  # per name two labels or more above a trigger: how many triggers

    def __bool__(self) -> bool:
        return bool(self.keys) or self.ip is not None

    def add_ip(self, r: Rule, counts: RuleCounts) -> bool:
        """Whether an rpz-ip trigger goes into the set's networks: those of a zone share one
        action (the networks are merged ranges, looked up in one bisection), the first trigger's.
        A trigger with another action, or a passthru (nothing un-blocks an answer by its address
        yet), is counted as unsupported."""
        code = CODES.get(r.rpz, NONE)
        action = [code, [[t, d.hex()] for t, d in r.data]]
        if self.ip is None and code != NONE:
            self.ip = action
        if code == NONE or action != self.ip:
            counts.note_unsupported(r.line)
            return False
        return True

    def add(self, r: Rule) -> None:
        raw = r.name.encode()
        wire = wire_of(raw)
        key = name_key(wire)
        code = CODES.get(r.rpz, NONE)
        self.add_key(key, wire, raw.count(b".") + 1, r.scope == "below", code)
        if code == LOCAL:
            part = self.local.setdefault(key, {}).setdefault("below" if r.scope == "below" else "self", [])
            part.extend(x for x in ([t, data.hex()] for t, data in r.data) if x not in part)

    def add_key(self, key: int, wire: bytes, labels: int, below: bool, code: int) -> None:
        """A trigger: its key, action code (passthru: none, the allow flag says it), and the keys
        of its name's ancestors when it has three labels or more."""
        self.keys.append(key)
        self.codes.append(code << 4 if below else code)
        self.depths[min(labels - 1, 255)] += 1
        if labels > 2:
            chains, crc, from_bytes = self.chains, zlib.crc32, int.from_bytes
            pos = wire[0] + 1
            while wire[pos]:
                up = wire[pos:]
                chains.append(crc(up) << 32 | from_bytes(up) % P30)  # name_key, inlined
                pos += wire[pos] + 1
            chains.append(0)

    def finish(self, keys: Any, flags: Any, counts: RuleCounts, seen: bytearray) -> tuple[Any, bytes, dict[str, Any]]:
        """The set's keys and flags with the shielding empty nodes added (`seen` marks their
        label counts), and the side table of the actions."""
        flags = bytes(flags).translate(_FLAGS)
        if not keys:
            return keys, flags, self._table(keys, counts)
        empty = self._empty_nodes(keys, flags, seen)
        if empty:
            keys, merged = sort_entries(chain(zip(keys, flags, strict=True), ((k, 0) for k in empty)))
            flags = bytes(merged)
        return keys, flags, self._table(keys, counts)

    def _empty_nodes(self, keys: Any, flags: bytes, seen: bytearray) -> set[int]:
        """Ancestors of triggers that are no trigger themselves and lie below a wildcard."""
        def flag(k: int) -> int | None:
            i = bisect_left(keys, k)
            return flags[i] if i < len(keys) and keys[i] == k else None

        empty: set[int] = set()
        chain_: list[int] = []
        deep = self.deep
        for k in self.chains:
            if k:
                chain_.append(k)
                continue
            for up in chain_[1:]:
                deep[up] = deep.get(up, 0) + 1
            under = False  # walking down from the top: below a wildcard yet?
            for depth in range(len(chain_) - 1, -1, -1):
                f = flag(chain_[depth])
                if f is None:
                    if under:
                        empty.add(chain_[depth])
                        seen[len(chain_) - 1 - depth] = 1  # its number of dots, for the label range
                        self.nodes.add(len(chain_) - 1 - depth)
                elif f & _BELOW:
                    under = True
            chain_.clear()
        self.chains = array("Q")
        return empty

    def _table(self, keys: Any, counts: RuleCounts) -> dict[str, Any]:
        """The side table for the sorted `keys`: the commonest code and the keys that differ."""
        codes = bytearray(len(keys))
        for k, c in zip(self.keys, self.codes, strict=True):
            i = bisect_left(keys, k)
            half = 0xF0 if c > 15 else 0x0F
            if codes[i] & half and codes[i] & half != c:
                counts.invalid += 1  # two actions for one trigger: the first stays
                continue
            codes[i] |= c
        self.keys, self.codes = array("Q"), array("B")
        default = max(range(256), key=codes.count) if codes else 0
        differ = [i for i, c in enumerate(codes) if c != default]
        table = {"default": default, "keys": [keys[i] for i in differ], "codes": [codes[i] for i in differ],
                 "local": {str(k): v for k, v in self.local.items()}}
        if self.ip is not None:
            table["ip"] = self.ip
        last = max((d for d in range(256) if self.depths[d]), default=-1)
        table["depths"], table["nodes"] = self.depths[: last + 1], sorted(self.nodes)
        table["deep"] = [sorted(self.deep), [self.deep[k] for k in sorted(self.deep)]]
        return table

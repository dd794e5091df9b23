"""An IXFR's differences applied to the compiled set of a policy zone, instead of compiling the
whole zone again (docs/rpz.md, "Following a zone").

A 1 % change of a 1M-name zone is 20k records; compiling the 2M triggers again takes seconds,
patching the set takes a fraction of one. The result must be exactly the set a full compile of
the new zone gives (tests/unit/feeds/test_rpz_delta.py compares them byte for byte), so this
applies only what it can apply exactly, and says `NotIncremental` (the caller compiles in full)
for anything else:

- every deleted and added record is a plain QNAME trigger with a CNAME action (`name CNAME .`,
  `*.name CNAME rpz-passthru.`…): local data, rpz-ip and other triggers go the long way;
- no touched name lies below a wildcard of the zone, and a name whose wildcard comes or goes
  has no trigger two labels or more below it: only then are the empty nodes that shield names
  from wildcards (compile_rpz.py) unchanged;
- a deletion finds its trigger in the set with the same action, an addition finds the trigger
  free or holding the same action (two actions for one trigger: the full compile counts it);
- the set in force compiled the zone cleanly (no invalid or unsupported line: their line
  numbers in the status would move).

The label range, the commonest action and the keys that differ from it are recomputed from what
the side table keeps (`depths`, `nodes`, the codes), as the full compile computes them.
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnsfilter.core.policy.feedset import (
    A_BELOW,
    A_EXACT,
    A_SUB,
    B_BELOW,
    B_EXACT,
    B_SUB,
    SCOPE_BITS,
    FeedSet,
    name_key,
    raw_parts,
    wire_of,
)
from dnsfilter.core.policy.rpzactions import CODES
from feeds.compile_rpz import _BELOW, _FLAGS
from feeds.compile_rules import write_set
from feeds.formats import rpz as rpz_format
from feeds.rules import RuleCounts
from feeds.table import FeedStats, Table, label_range

MAX_SHARE = 0.25  # more changed triggers than this share of the set: the full compile is as quick


class NotIncremental(Exception):
    """Why these differences are not applied to the set (the caller compiles the zone in full)."""


@dataclass
class Delta:
    """An IXFR's net differences: record lines (`owner [TTL] [IN] TYPE rdata`, owners relative
    to `origin`)."""

    origin: str
    deleted: list[str]
    added: list[str]


@dataclass
class Previous:
    """What the status says of the set in force (its counts carry over)."""

    rules: int
    exceptions: int
    invalid: int
    skipped: int
    not_applied: int
    networks: int
    examples: bool  # it lists invalid or unsupported lines (by line number)


def _raw(f: int) -> int:
    """A key's flags as its triggers set them (undoing compile_rpz's `name` + `*.name` merge)."""
    if f & B_SUB:
        f = f & ~B_SUB | B_EXACT | B_BELOW
    if f & A_SUB:
        f = f & ~A_SUB | A_EXACT | A_BELOW
    return f


def _triggers(origin: str, lines: list[str]) -> list[tuple[str, str, str, str]]:
    """The lines as (name, scope, action, rpz), read by the zone parser the full compile uses."""
    counts = RuleCounts()
    text = [f"$ORIGIN {origin}\n"]
    for line in lines:
        owner = line.split(" ", 1)[0]
        if owner != owner.lower():  # one owner in two spellings: the full compile sees two lines
            raise NotIncremental(f"owner {owner!r} is not in lower case")
        text.append(line + "\n")
    got = list(rpz_format.parse_fast(text, counts))
    if len(got) != len(lines) or any(type(x) is not tuple for x in got):
        raise NotIncremental("a record other than a QNAME trigger with a CNAME action")
    return got  # type: ignore[return-value]


def apply_delta(old_path: Path, delta: Delta, prev: Previous, out: Path) -> FeedStats:
    """Write to `out` the set of the zone after `delta`, from the set at `old_path` (the zone
    before it). Raises NotIncremental when that cannot be done exactly; OSError, MatcherError."""
    if prev.invalid or prev.examples:
        raise NotIncremental("the set in force counted invalid or unsupported lines")
    gone, new = _triggers(delta.origin, delta.deleted), _triggers(delta.origin, delta.added)
    data = old_path.read_bytes()
    fs = FeedSet.from_buffer(data)
    if fs.rpz is None or fs.hashed or fs.cond or fs.regex or fs.any:
        raise NotIncremental("the set in force is not a policy zone's")
    _, flags_view, side_raw, nets = raw_parts(data)
    count = len(fs)
    if len(gone) + len(new) > MAX_SHARE * max(count, 1):
        raise NotIncremental("the differences are a large part of the zone")
    side = json.loads(side_raw)
    table = side["rpz"]
    if set(side) != {"rpz"} or "deep" not in table:
        raise NotIncremental("the set in force was compiled by an older dnsfilter")
    keys = fs.keys()
    default = table["default"]
    differ = dict(zip(table["keys"], table["codes"], strict=True))

    state: dict[int, list[int]] = {}  # key -> [raw flags, code] of each touched key
    old_below: dict[int, bool] = {}
    wires: dict[int, bytes] = {}

    def at(key: int) -> list[int]:
        if key not in state:
            f = fs.flags_of(key)
            present = f != 0 or _has(keys, key)
            if present and not f:  # an empty node: below a wildcard, the full compile decides
                raise NotIncremental("a touched name is an empty node below a wildcard")
            state[key] = [_raw(f), differ.get(key, default) if present else 0]
            old_below[key] = bool(f & _BELOW)
        return state[key]

    depths = array("q", table["depths"] + [0] * (256 - len(table["depths"])))
    deep = dict(zip(*table["deep"], strict=True))  # names two labels or more above triggers: how many
    was_deep = set(deep)
    exceptions = prev.exceptions
    for sign, triggers in ((-1, gone), (1, new)):
        for name, scope, action, rpz in triggers:
            wire = wire_of(name.encode())
            key = name_key(wire)
            wires[key] = wire
            st = at(key)
            bit = SCOPE_BITS[(action, scope)]
            both = (B_BELOW | A_BELOW) if scope == "below" else (B_EXACT | A_EXACT)
            shift = 4 if scope == "below" else 0
            code = CODES.get(rpz, 0)
            held = st[1] >> shift & 15
            if sign < 0:
                if st[0] & both != bit or held != code:
                    raise NotIncremental(f"a deleted trigger {name} is not in the set as the zone had it")
                st[0] &= ~bit
                st[1] &= ~(15 << shift)
            elif st[0] & both:
                if st[0] & both != bit or held != code:
                    raise NotIncremental(f"two actions for one trigger ({name})")
            else:
                st[0] |= bit
                st[1] |= code << shift
            depths[name.count(".")] += sign
            for up in _ancestors(wire)[1:]:
                deep[up] = deep.get(up, 0) + sign
            exceptions += sign * (action == "allow")
    if min(depths) < 0 or min(deep.values(), default=0) < 0:
        raise NotIncremental("the differences delete more names than the zone held")
    for key, wire in wires.items():
        for up in _ancestors(wire):
            f = _FLAGS[state[up][0]] if up in state else fs.flags_of(up)
            if f & _BELOW or (up in state and old_below[up]):
                raise NotIncremental("a touched name lies below a wildcard of the zone")
        if bool(_FLAGS[state[key][0]] & _BELOW) != old_below[key] and (key in was_deep or deep.get(key)):
            raise NotIncremental("a wildcard comes or goes above names two labels or more below it")
    deep = {k: n for k, n in deep.items() if n}

    # the new keys and flags: the old ones with the touched keys taken out or put in
    old_keys = array("Q", keys)
    old_flags = bytes(flags_view)
    new_keys, new_flags = array("Q"), bytearray()
    codes = Counter({default: count - len(differ)}) + Counter(differ.values())
    pos = 0
    for key in sorted(state):
        i = bisect_left(old_keys, key, pos)
        new_keys.extend(old_keys[pos:i])
        new_flags += old_flags[pos:i]
        if i < count and old_keys[i] == key:
            codes[differ.get(key, default)] -= 1
            i += 1
        raw, code = state[key]
        if raw:
            new_keys.append(key)
            new_flags.append(_FLAGS[raw])
            codes[code] += 1
        pos = i
    new_keys.extend(old_keys[pos:])
    new_flags += old_flags[pos:]
    del old_keys, old_flags, flags_view
    if not new_keys and "ip" not in table:  # nothing left: the full compile writes no action table
        raise NotIncremental("the zone has no trigger left")

    top = max(range(256), key=lambda c: codes.get(c, 0)) if new_keys else 0
    if top == default:
        for key, (raw, code) in state.items():
            differ.pop(key, None)
            if raw and code != default:
                differ[key] = code
        changed = sorted(differ)
        ordered = [differ[k] for k in changed]
    else:  # the commonest action changed: every key's code is read again
        touched = {k: c for k, (raw, c) in state.items() if raw}
        changed, ordered = [], []
        for k in new_keys:
            c = touched[k] if k in touched else differ.get(k, default)
            if c != top:
                changed.append(k)
                ordered.append(c)
    table = {"default": top, "keys": changed, "codes": ordered, "local": table["local"],
             **({"ip": table["ip"]} if "ip" in table else {}),
             "depths": depths[: max((d for d in range(256) if depths[d]), default=-1) + 1].tolist(),
             "nodes": table["nodes"], "deep": [sorted(deep), [deep[k] for k in sorted(deep)]]}
    seen = bytearray(256)
    for d in range(256):
        seen[d] = depths[d] > 0
    for d in table["nodes"]:
        seen[d] = 1
    stats = FeedStats("rpz", rules=prev.rules - len(gone) + len(new), exceptions=exceptions, skipped=prev.skipped,
                      not_applied=prev.not_applied, networks=prev.networks)
    write_set(Table(len(new_keys), new_keys, bytes(new_flags), {"rpz": table}, False, label_range(seen), nets),
              stats, out)
    return stats


def _has(keys: Any, key: int) -> bool:
    i = bisect_left(keys, key)
    return i < len(keys) and keys[i] == key


def _ancestors(wire: bytes) -> list[int]:
    """The keys of a name's ancestors (wire form), its parent first, the top-level label last."""
    out, pos = [], wire[0] + 1
    while wire[pos]:
        out.append(name_key(wire[pos:]))
        pos += wire[pos] + 1
    return out

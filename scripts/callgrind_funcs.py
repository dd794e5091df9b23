#!/usr/bin/env python3
"""Read a callgrind dump per function: where a window's instructions went.

    callgrind_funcs.py DUMP [--per N] [--top K] [--fn SUBSTRING ...] [--callers]

With no --fn: the K functions of most self cost and of most inclusive cost. With --fn: each
function whose name holds the substring, its self and inclusive cost and its callees' inclusive
costs (--callers: who called it, and what those calls cost). --per divides every count (the
queries of the window, as bench_instructions.py --keep sent them).

Reads the format valgrind writes (name and position compression included). An unnamed
function (`0x...`: a PLT slot or mypyc's export-table trampoline) that calls exactly one
function is shown as `0x... -> that function`, so a compiled module's calls through its export
table can be followed.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


@dataclass
class Fn:
    self_cost: int = 0
    callees: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    callers: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def inclusive(self) -> int:
        return self.self_cost + sum(self.callees.values())


def read(path: Path) -> dict[str, Fn]:
    names: dict[str, dict[str, str]] = defaultdict(dict)  # per kind (fn, cfn...): id -> name

    def name(kind: str, value: str) -> str:
        m = _NAMED.match(value)
        if not m:
            return value
        table = names["fn" if kind in ("fn", "cfn") else kind]
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), value)

    fns: dict[str, Fn] = defaultdict(Fn)
    cur = ""
    callee: str | None = None  # set by calls=: the next cost line is that call's inclusive cost
    cfn = ""
    count = 0
    for line in path.read_text(errors="replace").splitlines():
        if not line:
            continue
        c = line[0]
        if c.isdigit() or c in "+-*":
            parts = line.split()
            if len(parts) < 2:
                continue
            cost = int(parts[1])
            if callee is not None:
                fns[cur].callees[callee] += cost
                fns[cur].calls[callee] += count
                fns[callee].callers[cur] += cost
                callee = None
            else:
                fns[cur].self_cost += cost
            continue
        key, _, value = line.partition("=")
        if key == "fn":
            cur = name("fn", value)
        elif key == "cfn":
            cfn = name("cfn", value)
        elif key in ("fl", "fi", "fe", "cfi", "cfl", "ob", "cob"):
            name(key if key in ("ob", "cob") else "fl", value)  # define ids, names unused
        elif key == "calls":
            callee = cfn
            count = int(value.split()[0])
    return fns


def shown(fns: dict[str, Fn], n: str) -> str:
    f = fns.get(n)
    if n.startswith("0x") and f is not None and len(f.callees) == 1:
        return f"{n} -> {next(iter(f.callees))}"
    return n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dump", type=Path)
    ap.add_argument("--per", type=float, default=1.0, help="divide counts by this (queries in the window)")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--fn", nargs="*", default=[])
    ap.add_argument("--callers", action="store_true")
    a = ap.parse_args()
    fns = read(a.dump)
    per = a.per
    total = sum(f.self_cost for f in fns.values())
    print(f"total {total / per:,.0f}")
    if not a.fn:
        for title, key in (("self", lambda f: f.self_cost), ("inclusive", lambda f: f.inclusive)):
            print(f"\n-- top {a.top} by {title} --")
            for n, f in sorted(fns.items(), key=lambda kv: -key(kv[1]))[: a.top]:
                print(f"{key(f) / per:12,.0f}  {shown(fns, n)}")
        return 0
    for want in a.fn:
        for n, f in sorted(fns.items(), key=lambda kv: -kv[1].inclusive):
            if want not in n:
                continue
            print(f"\n{n}: self {f.self_cost / per:,.0f}, inclusive {f.inclusive / per:,.0f}")
            rows = f.callers if a.callers else f.callees
            for m, cost in sorted(rows.items(), key=lambda kv: -kv[1]):
                if cost / per >= 1:
                    calls = f.calls.get(m, 0) if not a.callers else fns[m].calls.get(n, 0)
                    print(f"  {cost / per:10,.0f}  ({calls / per:,.2f} calls)  {shown(fns, m)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

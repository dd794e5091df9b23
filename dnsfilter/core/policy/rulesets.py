"""Small in-memory name lists with subtree semantics: allow/deny rules, always_allow, the
services catalog and the bypass list. Thousands of names at most, so plain dicts keyed by
the wire form of each suffix; `*` wildcards become label-anchored regexes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from dnsfilter.core.dns import wire


def _pattern(rule: str) -> re.Pattern[str]:
    """`ads*.example.com` or `*.cdn-*.net`: `*` spans any characters within labels (as in
    AdGuard Home); the rule still covers every name below it."""
    body = ".".join(".*" if lab == "*" else re.escape(lab).replace(r"\*", "[^.]*") for lab in rule.split("."))
    return re.compile(rf"(?:^|\.){body}$" if rule.startswith("*") else rf"(?:^|\.)(?:{body})$")


class RuleSet:
    """Names (each covering its subtree) mapped to a value, by default the rule text itself.
    `match` returns the most specific listed suffix: (its offset in the wire name, value)."""

    __slots__ = ("_d", "_wild")

    def __init__(self, names: Iterable[str] | Mapping[str, str] = ()) -> None:
        items = names.items() if isinstance(names, Mapping) else ((n, n) for n in names)
        self._d: dict[bytes, str] = {}
        self._wild: list[tuple[re.Pattern[str], int, str]] = []
        for name, value in items:
            n = name.strip().rstrip(".").lower()
            if n.startswith("*.") and "*" not in n[2:]:
                n = n[2:]  # `*.x` is x's subtree, which x already covers
            if "*" in n:
                self._wild.append((_pattern(n), n.count(".") + 1, value))
            else:
                self._d.setdefault(wire.text_to_wire(n), value)

    def __len__(self) -> int:
        return len(self._d) + len(self._wild)

    def __bool__(self) -> bool:
        return bool(self._d or self._wild)

    def match(self, qname: bytes) -> tuple[int, str] | None:
        """(offset of the most specific listed suffix, its value) or None."""
        d = self._d
        if d:
            i = 0
            while qname[i]:
                value = d.get(qname[i:])
                if value is not None:
                    best = (i, value)
                    break
                i += qname[i] + 1
            else:
                best = None
        else:
            best = None
        if self._wild:
            text = wire.wire_to_text(qname)
            for rx, nlabels, value in self._wild:
                if rx.search(text):
                    # A wildcard rule is as specific as its label count.
                    off = _offset_of_suffix(qname, nlabels)
                    if best is None or off < best[0]:
                        best = (off, value)
        return best


def _offset_of_suffix(qname: bytes, nlabels: int) -> int:
    offs = []
    i = 0
    while qname[i]:
        offs.append(i)
        i += qname[i] + 1
    return offs[max(0, len(offs) - nlabels)] if offs else 0


class ServiceIndex:
    """Which catalog service a name belongs to (its most specific listed domain wins), and
    each service's group, so a profile can block or budget a service or a whole group."""

    def __init__(self, services: Mapping[str, tuple[str, Iterable[str]]]) -> None:
        """`services`: id -> (group, domains)."""
        self.group = {sid: group for sid, (group, _d) in services.items()}
        self._rules = RuleSet({d: sid for sid, (_g, domains) in services.items() for d in domains})

    def __bool__(self) -> bool:
        return bool(self._rules)

    def service_of(self, qname: bytes) -> str | None:
        hit = self._rules.match(qname)
        return None if hit is None else hit[1]

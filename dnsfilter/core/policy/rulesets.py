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

    __slots__ = ("_d", "_keys", "_wild")

    def __init__(self, names: Iterable[str] | Mapping[str, str] = ()) -> None:
        items = names.items() if isinstance(names, Mapping) else ((n, n) for n in names)
        self._d: dict[bytes, str] = {}
        self._wild: list[tuple[re.Pattern[str], int, str]] = []
        # Per wildcard rule, what every name it covers holds in its wire form: the literal labels
        # after its last `*` when there are two or more (a suffix), else its longest literal run
        # (inside one label). One C-level test each turns away nearly every name before any text
        # is made or any regex runs.
        self._keys: list[tuple[bytes | None, bytes]] = []
        for name, value in items:
            n = name.strip().rstrip(".").lower()
            if n.startswith("*.") and "*" not in n[2:]:
                n = n[2:]  # `*.x` is x's subtree, which x already covers
            if "*" in n:
                self._wild.append((_pattern(n), n.count(".") + 1, value))
                labels = n.split(".")
                tail = labels[max(i for i, lab in enumerate(labels) if "*" in lab) + 1 :]
                suffix = wire.text_to_wire(".".join(tail)) if len(tail) >= 2 else None
                self._keys.append((suffix, max(re.split(r"[*.]", n), key=len).encode("ascii", "replace")))
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
            text = None
            for (rx, nlabels, value), (suffix, needle) in zip(self._wild, self._keys, strict=True):
                if not qname.endswith(suffix) if suffix is not None else needle not in qname:
                    continue
                if text is None:
                    text = wire.wire_to_text(qname)
                if rx.search(text):
                    # A wildcard rule is as specific as its label count.
                    off = _offset_of_suffix(qname, nlabels)
                    if best is None or off < best[0]:
                        best = (off, value)
        return best


class AnyRule:
    """Whether any of several rule sets could match a name: one walk of its suffixes through
    the union of their names and their wildcard rules' literal suffixes, and a test of the
    literal run of each wildcard rule without one (see RuleSet). False for nearly every name,
    which then skips the sets one by one."""

    __slots__ = ("_d", "_needles")

    def __init__(self, sets: Iterable[RuleSet]) -> None:
        sets = list(sets)
        self._d = frozenset([k for s in sets for k in s._d] + [x for s in sets for x, _n in s._keys if x])
        self._needles = tuple(sorted({n for s in sets for x, n in s._keys if x is None}))

    def __call__(self, qname: bytes) -> bool:
        for needle in self._needles:
            if needle in qname:
                return True
        d = self._d
        if d:
            i = 0
            while qname[i]:
                if qname[i:] in d:
                    return True
                i += qname[i] + 1
        return False


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
        self.rules = RuleSet({d: sid for sid, (_g, domains) in services.items() for d in domains})

    def __bool__(self) -> bool:
        return bool(self.rules)

    def service_of(self, qname: bytes) -> str | None:
        hit = self.rules.match(qname)
        return None if hit is None else hit[1]

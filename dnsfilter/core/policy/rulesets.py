"""Small in-memory name lists with subtree semantics: allow/deny rules, always_allow, the
services catalog and the bypass list. Thousands of names at most, so plain dicts keyed by
the wire form of each suffix; `*` wildcards become label-anchored regexes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from dnsfilter.core.dns import wire

V = TypeVar("V")


def _pattern(rule: str) -> re.Pattern[str]:
    """`ads*.example.com` or `*.cdn-*.net`: `*` spans any characters within labels (as in
    AdGuard Home); the rule still covers every name below it."""
    body = ".".join(".*" if lab == "*" else re.escape(lab).replace(r"\*", "[^.]*") for lab in rule.split("."))
    return re.compile(rf"(?:^|\.){body}$" if rule.startswith("*") else rf"(?:^|\.)(?:{body})$")


class RuleSet(Generic[V]):
    """Names (each covering its subtree) mapped to a value, by default the rule text itself
    (a RuleSet[str]; overrides map names to Decisions). `match` returns the most specific
    listed suffix: (its offset in the wire name, value)."""

    __slots__ = ("_d", "_keys", "_wild")

    def __init__(self, names: Iterable[str] | Mapping[str, V] = ()) -> None:
        items: Iterable[tuple[str, Any]] = names.items() if isinstance(names, Mapping) else ((n, n) for n in names)
        self._d: dict[bytes, V] = {}
        self._wild: list[tuple[re.Pattern[str], int, V]] = []
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

    def match(self, qname: bytes) -> tuple[int, V] | None:
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
    """Whether any of several rule sets could match a name: the union of their names and their
    wildcard rules' literal suffixes, and a test of the literal run of each wildcard rule
    without one (see RuleSet). False for nearly every name, which then skips the sets one by
    one. A name's last two labels are looked up first, among the last two labels of every
    listed suffix: nearly every name stops there, after one lookup however many labels it has
    (a household's service catalog made the walk of every suffix a tenth of a first sight)."""

    __slots__ = ("_d", "_needles", "_one", "_two")

    def __init__(self, sets: Iterable[RuleSet[Any]]) -> None:
        sets = list(sets)
        self._d = frozenset([k for s in sets for k in s._d] + [x for s in sets for x, _n in s._keys if x])
        needles = sorted({n for s in sets for x, n in s._keys if x is None})
        # one C call for all of them (`needle in name` went through the buffer protocol: 2.5x slower)
        self._needles = re.compile(b"|".join(map(re.escape, needles))).search if needles else None
        self._one = frozenset(k for k in self._d if k[0] and not k[k[0] + 1])  # one-label suffixes (a TLD)
        self._two = frozenset(_last_two(k) for k in self._d if k[0] and k[k[0] + 1])

    def might_match(self, qname: bytes, starts: list[int] | None = None) -> bool:
        """`starts`: the offsets of the name's labels, when the caller has them. (Held as a
        bound method by Policy: calling the instance itself costs a slot lookup more.)"""
        if self._needles is not None and self._needles(qname) is not None:
            return True
        if not self._d:
            return False
        if starts is None:
            starts = _label_starts(qname)
        n = len(starts)
        if not n:
            return False  # the root: no rule names it
        if self._one and qname[starts[-1] :] in self._one:
            return True
        if n < 2 or qname[starts[-2] :] not in self._two:
            return False
        d = self._d
        for p in starts[:-1]:
            if qname[p:] in d:
                return True
        return False

    def __call__(self, qname: bytes, starts: list[int] | None = None) -> bool:
        # a method, not `__call__ = might_match`: a compiled class (make native) takes no alias
        return self.might_match(qname, starts)


def _label_starts(qname: bytes) -> list[int]:
    starts = []
    i = 0
    while qname[i]:
        starts.append(i)
        i += qname[i] + 1
    return starts


def _last_two(key: bytes) -> bytes:
    """The last two labels of a wire name of two or more labels."""
    return key[_label_starts(key)[-2] :]


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
        self.rules: RuleSet[str] = RuleSet({d: sid for sid, (_g, domains) in services.items() for d in domains})

    def __bool__(self) -> bool:
        return bool(self.rules)

    def service_of(self, qname: bytes) -> str | None:
        hit = self.rules.match(qname)
        return None if hit is None else hit[1]

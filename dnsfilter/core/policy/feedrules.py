"""The side rules of a compiled feed: rules that depend on the query (type, client,
denyallow), regexes and accept-all rules (`*$denyallow=…`), few per feed and evaluated in
Python; and the index that lets a query try only the regexes that can match it."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SideRule:
    """A conditional or regex rule, evaluated in Python (there are few of them)."""

    bits: int  # scope/action bits as in the flags byte
    important: bool
    dnstypes: frozenset[int] | None
    exclude_dnstypes: frozenset[int] | None
    clients: tuple[Any, ...] | None  # ip networks
    exclude_clients: tuple[Any, ...] | None
    denyallow: frozenset[str]  # names whose subtrees the rule leaves alone
    regex: re.Pattern[str] | None
    per_client: bool  # depends on the client's address ($client)
    deny_wire: frozenset[bytes]  # the denyallow names in wire form (accept-all rules: see applies_wire)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SideRule:
        nets = lambda v: None if v is None else tuple(ipaddress.ip_network(x, strict=False) for x in v)  # noqa: E731
        types = lambda v: None if v is None else frozenset(v)  # noqa: E731
        clients, exclude = nets(d.get("clients")), nets(d.get("exclude_clients"))
        deny = frozenset(d.get("denyallow", ()))
        return cls(d["bits"], d.get("important", False), types(d.get("dnstypes")), types(d.get("exclude_dnstypes")),
                   clients, exclude, deny, re.compile(d["regex"]) if d.get("regex") else None,
                   clients is not None or exclude is not None, frozenset(map(_wire, deny)))

    def _client_ok(self, client: str | None) -> bool:
        ip = _ip(client)
        if self.clients is not None and (ip is None or not any(ip in n for n in self.clients)):
            return False
        return not (self.exclude_clients is not None and ip is not None and any(ip in n for n in self.exclude_clients))

    def _when(self, qtype: int, client: str | None) -> bool:
        """Whether the query's type and client are ones the rule is for."""
        if self.dnstypes is not None and qtype not in self.dnstypes:
            return False
        if self.exclude_dnstypes is not None and qtype in self.exclude_dnstypes:
            return False
        return not self.per_client or self._client_ok(client)

    def applies_wire(self, qtype: int, client: str | None, wire: bytes, starts: list[int]) -> bool:
        """`applies`, given the name as its wire form and label offsets (Keys.wire, Keys.starts):
        what accept-all rules use, so that a feed of them never needs the name as text."""
        if not self._when(qtype, client):
            return False
        if self.deny_wire:  # the name or a parent listed: one set lookup per label
            deny = self.deny_wire
            for p in starts:
                if wire[p:] in deny:
                    return False
        return True

    def applies(self, qtype: int, client: str | None, dotted: str) -> bool:
        if not self._when(qtype, client):
            return False
        if self.denyallow:  # the name or a parent listed: one set lookup per label, whatever the list's size
            deny = self.denyallow
            if dotted in deny:
                return False
            pos = dotted.find(".")
            while pos >= 0:
                if dotted[pos + 1 :] in deny and not _escaped(dotted, pos):
                    return False
                pos = dotted.find(".", pos + 1)
        return True


def _wire(name: str) -> bytes:
    """The wire form of a normalised name (lower-case ASCII labels of 1-63 octets)."""
    return b"".join(bytes((len(x),)) + x for x in name.encode("ascii").split(b".")) + b"\x00"


def _escaped(dotted: str, i: int) -> bool:
    """Whether the dot at `i` is inside a label (`\\.` in the escaped text), not between two."""
    n = 0
    while i - n - 1 >= 0 and dotted[i - n - 1] == "\\":
        n += 1
    return n % 2 == 1


@functools.lru_cache(maxsize=256)  # a household's or a CPE's clients: parsed once, not per query
def _ip(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


KEY_END = 6  # characters of a pattern's fixed ending used to index it
_TAIL_LITERAL = re.compile(r"(?<!\\)((?:[a-z0-9_]|\\[-.])+)\$\)*$")
KEY = 3  # characters of a label-anchored pattern's literal prefix used to index it
_LABEL_START = "(?:^|\\.)"
_LITERAL = re.compile(r"(?:[a-z0-9_]|\\[-.])+")

RegexIndex = dict[str, list[tuple[re.Pattern[str], int, bool]]]


def index_regexes(rules: tuple[SideRule, ...]) -> tuple[tuple[SideRule, ...], tuple[Any, ...], RegexIndex]:
    r"""Split a feed's regex rules three ways, so that a query costs a few dict lookups and
    regex matches instead of hundreds of searches:
    - unconditional patterns of the form `(?:^|\.)literal...` (what adblock wildcards become)
      are indexed by the literal's first characters and matched only at label starts;
    - other unconditional patterns are joined into one alternation per (action, important,
      anchored at the start);
    - conditional ones (type, client, denyallow) stay as they are."""
    index: RegexIndex = {}
    groups: dict[tuple[int, bool, bool], list[str]] = {}  # (action bits, important, anchored at ^)
    rest = []
    for r in rules:
        if r.regex is None:
            continue
        unconditional = (r.dnstypes is None and r.exclude_dnstypes is None and r.clients is None
                         and r.exclude_clients is None and not r.denyallow)
        if not unconditional:
            rest.append(r)
            continue
        pat = r.regex.pattern
        if pat.startswith(_LABEL_START):
            tail = pat[len(_LABEL_START):]
            lit = _LITERAL.match(tail)
            literal = ""
            if lit:
                literal = lit.group(0)
                if tail[lit.end() : lit.end() + 1] in ("?", "*", "{"):  # the last char is optional
                    literal = literal[:-2] if literal.endswith(("\\-", "\\.")) else literal[:-1]
                literal = literal.replace("\\", "")
            if len(literal) >= KEY:
                index.setdefault(literal[:KEY], []).append((re.compile(tail), r.bits, r.important))
                continue
        tail_lit = _TAIL_LITERAL.search(pat)
        if tail_lit is not None:
            literal = tail_lit.group(1).replace("\\", "")
            if len(literal) >= KEY_END:  # ends in a fixed text: indexed by the name's last characters
                index.setdefault("$" + literal[-KEY_END:], []).append((re.compile(pat), r.bits, r.important))
                continue
        # Patterns anchored at the start are tried once (match), the rest at every position.
        groups.setdefault((r.bits, r.important, pat.startswith("^")), []).append(pat)
    combined = tuple((re.compile("|".join(f"(?:{p})" for p in pats)).match if anchored
                      else re.compile("|".join(f"(?:{p})" for p in pats)).search, bits, imp)
                     for (bits, imp, anchored), pats in groups.items())
    return tuple(rest), combined, index

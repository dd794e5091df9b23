"""dnsmasq configuration lines used as blocklists.

  address=/a.example/b.example/0.0.0.0   block each name (also `::`, `127.0.0.1`, `#`, or no
                                         address at all, which answers NXDOMAIN)
  server=/a.example/                     no upstream: answered locally (NXDOMAIN), so a block
  local=/a.example/                      the same as server=/a.example/
  server=/a.example/#                    "use the standard servers": dnsmasq's way to exempt a
                                         name below a blocked parent, so an allow rule

A dnsmasq domain covers the name and everything below it; `*.name` (dnsmasq 2.86+) covers only
the names below it. An address that is not a sink (`address=/x/192.0.2.1`) is a rewrite and
`server=/x/192.0.2.53` a forward: both are skipped and counted, as is every other option.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from feeds.parsers import normalise_name
from feeds.rules import Rule, RuleCounts

SINKS = frozenset({"", "#", "0.0.0.0", "::", "127.0.0.1", "::1"})
_KEYS = ("address", "server", "local")


def _domains(spec: str) -> tuple[list[str], str] | None:
    """(domains, value) of `/d1/d2/value`, or None when the slashes are missing."""
    if not spec.startswith("/"):
        return None
    *domains, value = spec[1:].split("/")
    if not domains:
        return None
    return domains, value


def parse(lines: Iterable[str], counts: RuleCounts, **_options: object) -> Iterator[Rule]:
    for lineno, raw in enumerate(lines, 1):
        counts.lines += 1
        line = raw.strip()
        if not line or line[0] == "#":
            counts.skipped += 1
            continue
        key, eq, spec = line.partition("=")
        key = key.strip().lower()
        if not eq or key not in _KEYS:
            counts.note_unsupported(lineno)  # another dnsmasq option: no filtering meaning here
            continue
        parsed = _domains(spec.strip())
        if parsed is None:
            counts.note_invalid(lineno)
            continue
        domains, value = parsed
        value = value.strip()
        if key == "address" and value.lower() not in SINKS:
            counts.note_unsupported(lineno)
            continue
        if key == "local" and value:
            counts.note_invalid(lineno)
            continue
        if key == "server" and value not in ("", "#"):
            counts.note_unsupported(lineno)  # forwarding to a chosen upstream
            continue
        action = "allow" if key == "server" and value == "#" else "block"
        rules: list[Rule] = []
        for domain in domains:
            scope = "subtree"
            if domain.startswith("*."):
                scope, domain = "below", domain[2:]
            elif domain.startswith("."):  # older dnsmasq lists write `/.example.com/` for the subtree
                domain = domain[1:]
            name = normalise_name(domain)
            if name is None:  # `#` (every domain) and bare TLDs are refused: far too broad
                rules = []  # the whole line is refused, not just this domain
                break
            rules.append(Rule(name, action, scope, line=lineno))
        if not rules:
            counts.note_invalid(lineno)
            continue
        for rule in rules:
            yield counts.note_rule(rule)


def looks_like(line: str) -> bool:
    key, eq, spec = line.partition("=")
    return bool(eq) and key.strip().lower() in _KEYS and spec.strip().startswith("/")

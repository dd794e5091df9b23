"""Response Policy Zone files (the QNAME triggers of BIND's RPZ).

  name CNAME .              NXDOMAIN for exactly `name`               block, scope "exact"
  *.name CNAME .            NXDOMAIN for every name below `name`      block, scope "below"
  name CNAME *.             NODATA: also a block
  name CNAME rpz-drop.      drop the query: a block
  name CNAME rpz-passthru.  the exception                             allow
  name A 0.0.0.0            local data pointing at a sink: a block

Owner names are relative to $ORIGIN; the policy zone's apex (the first $ORIGIN, or the SOA
owner when it is absolute) is removed from absolute names, as a resolver strips the zone name
to get the trigger. A line that starts with blanks reuses the previous owner. $TTL, SOA (also
over several lines in parentheses) and NS records are skipped. Other triggers (rpz-ip,
rpz-nsdname, rpz-client-ip…), CNAMEs to other names (rewrites) and other records are skipped
and counted as unsupported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from feeds.parsers import normalise_name
from feeds.rules import Rule, RuleCounts

_CLASSES = frozenset({"IN", "CH", "HS", "CS"})
_SKIP_TYPES = frozenset({"SOA", "NS"})
_SINK_ADDRESSES = frozenset({"0.0.0.0", "::", "127.0.0.1", "::1"})
_OTHER_TRIGGERS = (".rpz-ip", ".rpz-nsdname", ".rpz-nsip", ".rpz-client-ip")
_ACTIONS = {".": "block", "*.": "block", "rpz-drop.": "block", "rpz-passthru.": "allow"}


def _ttl_like(token: str) -> bool:
    return token[:1].isdigit() and token.rstrip("smhdwSMHDW").isdigit()


def _absolute(owner: str, origin: str) -> str:
    """The owner as an absolute name without the final dot ("" for the root)."""
    if owner == "@":
        return origin
    if owner.endswith("."):
        return owner[:-1]
    return f"{owner}.{origin}" if origin else owner


def _trigger(full: str, apex: str) -> str:
    if apex and full.endswith("." + apex):
        return full[: -len(apex) - 1]
    return "" if full == apex else full


def parse(lines: Iterable[str], counts: RuleCounts, **_options: object) -> Iterator[Rule]:
    origin = apex = ""
    owner = ""
    in_parens = False
    for lineno, raw in enumerate(lines, 1):
        counts.lines += 1
        text = raw.split(";", 1)[0]  # a ';' never occurs in these names or rdata
        if in_parens:
            in_parens = ")" not in text
            counts.skipped += 1
            continue
        tokens = text.split()
        if not tokens:
            counts.skipped += 1
            continue
        if tokens[0].upper() == "$ORIGIN" and len(tokens) >= 2:
            origin = tokens[1].rstrip(".").lower() if tokens[1] != "." else ""
            apex = apex or origin
            counts.skipped += 1
            continue
        if tokens[0].startswith("$"):  # $TTL, $INCLUDE (never followed), $GENERATE
            counts.skipped += 1
            continue
        if not text[0].isspace():
            owner = tokens.pop(0).lower()
        while tokens and (_ttl_like(tokens[0]) or tokens[0].upper() in _CLASSES):
            tokens.pop(0)
        if not tokens or not owner:
            counts.note_invalid(lineno)
            continue
        rtype = tokens[0].upper()
        if rtype in _SKIP_TYPES:
            if rtype == "SOA":
                if not apex and owner.endswith("."):
                    apex = owner.rstrip(".")
                in_parens = "(" in text and ")" not in text
            counts.skipped += 1
            continue
        rule = _rule(owner, rtype, tokens[1:], origin, apex, lineno, counts)
        if rule is not None:
            yield counts.note_rule(rule)


def _rule(owner: str, rtype: str, rdata: list[str], origin: str, apex: str, lineno: int,
          counts: RuleCounts) -> Rule | None:
    if rtype == "CNAME" and len(rdata) == 1:
        action = _ACTIONS.get(rdata[0].lower())
    elif rtype in ("A", "AAAA") and len(rdata) == 1:
        action = "block" if rdata[0] in _SINK_ADDRESSES else None
    else:
        action = None
    trigger = _trigger(_absolute(owner, origin), apex)
    if action is None or trigger.endswith(_OTHER_TRIGGERS) or trigger.startswith("rpz-"):
        counts.note_unsupported(lineno)
        return None
    scope = "exact"
    if trigger.startswith("*."):
        scope, trigger = "below", trigger[2:]
    name = normalise_name(trigger)
    if name is None:
        counts.note_invalid(lineno)
        return None
    return Rule(name, action, scope, line=lineno)


def looks_like(line: str) -> bool:
    tokens = line.split(";", 1)[0].split()
    if tokens and tokens[0].upper() in ("$ORIGIN", "$TTL"):
        return True
    return len(tokens) >= 3 and tokens[-2].upper() == "CNAME" and (
        tokens[-1] in (".", "*.") or tokens[-1].lower().startswith("rpz-"))

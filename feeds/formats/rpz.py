"""Response Policy Zone files (RPZ, as BIND, Unbound, Knot Resolver and PowerDNS read them).

QNAME triggers and their actions, each kept as the zone says (`Rule.rpz`):

  name CNAME .              NXDOMAIN                          block  "nxdomain"
  name CNAME *.             NODATA                            block  "nodata"
  name CNAME rpz-drop.      no answer at all                  block  "drop"
  name CNAME rpz-tcp-only.  TC over UDP (TCP asks go through) block  "tcp-only"
  name CNAME rpz-passthru.  the exception: not rewritten      allow  "passthru"
  name A 192.0.2.1          local data, answered as written   block  "local" (A, AAAA, TXT, or
  name CNAME garden.example.                                           a CNAME to another name)

`name` triggers on exactly that name (scope "exact"), `*.name` on every name below it ("below").
Owner names are relative to $ORIGIN; the policy zone's apex (the first $ORIGIN, or the SOA owner
when it is absolute) is removed from absolute names, as a resolver strips the zone name to get
the trigger. A line that starts with blanks reuses the previous owner. $TTL, SOA (also over
several lines in parentheses) and NS records are skipped.

IP triggers (`24.0.2.0.192.rpz-ip`) become response-IP rules (`Rule.network`, the network as
its name): a forwarded answer with an A/AAAA address in the network gets the trigger's action
(docs/rpz.md). rpz-nsdname and rpz-nsip
triggers ask about the name servers of the answer, which a forwarder never sees: counted in
`RuleCounts.rpz_ns` (and as unsupported). rpz-client-ip triggers, wildcard CNAME targets
(`CNAME *.example.`) and local data of other types are counted as unsupported.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from feeds.parsers import _FAST_NAME, MAX_NAME, normalise_name
from feeds.rules import Rule, RuleCounts

_CLASSES = frozenset({"IN", "CH", "HS", "CS"})
_SKIP_TYPES = frozenset({"SOA", "NS"})
_NS_TRIGGERS = (".rpz-nsdname", ".rpz-nsip")
_OTHER_TRIGGERS = (".rpz-ip", ".rpz-client-ip", *_NS_TRIGGERS)
# CNAME targets that name an action, as (action, Rule.rpz)
ACTIONS = {".": ("block", "nxdomain"), "*.": ("block", "nodata"), "rpz-drop.": ("block", "drop"),
           "rpz-tcp-only.": ("block", "tcp-only"), "rpz-passthru.": ("allow", "passthru")}
T_A, T_CNAME, T_TXT, T_AAAA = 1, 5, 16, 28
LOCAL_TYPES = {"A": T_A, "AAAA": T_AAAA, "TXT": T_TXT, "CNAME": T_CNAME}


# `name [TTL] [IN] CNAME action`: a plain lower-case name (see parsers._FAST_NAME) and an action
_FAST_LINE = re.compile(r"(\*\.)?((?:[a-z0-9_-]{1,63}\.)+[a-z0-9_-]*[a-z_-][a-z0-9_-]*)(?:[ \t]+\d+)?(?:[ \t]+IN)?"
                        r"[ \t]+CNAME[ \t]+(\.|\*\.|rpz-drop\.|rpz-tcp-only\.|rpz-passthru\.)[ \t]*(?:;[^\n]*)?\r?\n?")


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


def _split(text: str) -> tuple[list[str], str]:
    """The tokens of a line without its comment, and its rdata text as written (quoted strings
    kept whole, for TXT). A ';' outside quotes starts a comment."""
    if '"' not in text:
        text = text.split(";", 1)[0]
        return text.split(), text
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c == ";" and not quoted:
            text = text[:i]
            break
    return text.split(), text


def _after(text: str, n: int) -> str:
    """`text` without its first `n` blank-separated tokens."""
    for _ in range(n):
        text = text.lstrip()
        i = 0
        while i < len(text) and not text[i].isspace():
            i += 1
        text = text[i:]
    return text


def parse(lines: Iterable[str], counts: RuleCounts, **_options: object) -> Iterator[Rule]:
    """The rules of a policy zone."""
    for r in _parse(lines, counts, False):
        assert type(r) is Rule
        yield r


def parse_fast(lines: Iterable[str], counts: RuleCounts) -> Iterator[Rule | tuple[str, str, str, str]]:
    """As `parse`, but the common lines (`name CNAME .` and the like) come as (name, scope,
    action, rpz) tuples: no Rule made, the compiler's fast path for million-line zones."""
    return _parse(lines, counts, True)


def _parse(lines: Iterable[str], counts: RuleCounts, fast: bool) -> Iterator[Rule | tuple[str, str, str, str]]:
    origin = apex = below_apex = ""  # below_apex: what $ORIGIN adds to a trigger (".sub" for sub.APEX)
    owner = ""
    in_parens = False
    fast_name = _FAST_NAME.fullmatch
    fast_line = _FAST_LINE.fullmatch
    for lineno, raw in enumerate(lines, 1):
        counts.lines += 1
        m = fast_line(raw) if fast and (origin == apex or below_apex) else None
        if m is not None and "rpz-" not in m[2]:  # the commonest line, read by one regex
            name = m[2] + below_apex if below_apex else m[2]
            if len(name) <= MAX_NAME:
                owner = (m[1] or "") + m[2]  # a following line that starts with blanks reuses it
                action, rpz = ACTIONS[m[3]]
                counts.rules += 1
                counts.exceptions += action == "allow"
                yield name, "below" if m[1] else "exact", action, rpz
                continue
        if in_parens:
            in_parens = ")" not in raw.split(";", 1)[0]
            counts.skipped += 1
            continue
        tokens, text = _split(raw)
        if not tokens:
            counts.skipped += 1
            continue
        # The common line, `name [TTL] [IN] CNAME .`: a plain relative name, a known action.
        if 3 <= len(tokens) <= 5 and tokens[-2] == "CNAME" and tokens[-1] in ACTIONS and not text[0].isspace():
            owner = tokens[0].lower()
            scope, name = ("below", owner[2:]) if owner[:2] == "*." else ("exact", owner)
            plain = (origin == apex or below_apex) and "rpz-" not in name and fast_name(name)
            if plain and (len(tokens) == 3 or all(t == "IN" or t.isdigit() for t in tokens[1:-2])):
                name = name + below_apex if below_apex else name
                if len(name) <= MAX_NAME:
                    action, rpz = ACTIONS[tokens[-1]]
                    counts.rules += 1
                    counts.exceptions += action == "allow"
                    yield (name, scope, action, rpz) if fast else Rule(name, action, scope, line=lineno, rpz=rpz)
                    continue
        first = tokens[0].upper()
        if first == "$ORIGIN" and len(tokens) >= 2:
            origin = tokens[1].rstrip(".").lower() if tokens[1] != "." else ""
            apex = apex or origin
            below_apex = "." + origin[: -len(apex) - 1] if origin.endswith("." + apex) else ""
            counts.skipped += 1
            continue
        if first.startswith("$"):  # $TTL, $INCLUDE (never followed), $GENERATE
            counts.skipped += 1
            continue
        n = len(tokens)
        if not text[0].isspace():
            owner = tokens.pop(0).lower()
        while tokens and (_ttl_like(tokens[0]) or tokens[0].upper() in _CLASSES):
            tokens.pop(0)
        if '"' in text:  # the rdata as written, for TXT: without the owner, TTL, class and type
            text = _after(text, n - len(tokens) + 1)
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
        rule = _rule(owner, rtype, tokens[1:], text, origin, apex, lineno, counts)
        if rule is not None:
            yield counts.note_rule(rule)


def _rule(owner: str, rtype: str, rdata: list[str], text: str, origin: str, apex: str, lineno: int,
          counts: RuleCounts) -> Rule | None:
    trigger = _trigger(_absolute(owner, origin), apex)
    network = None
    if trigger.endswith(".rpz-ip"):
        network = ip_trigger(trigger[: -len(".rpz-ip")])
        if network is None:
            counts.note_invalid(lineno)
            return None
    elif trigger.endswith(_OTHER_TRIGGERS) or trigger.startswith("rpz-"):
        if trigger.endswith(_NS_TRIGGERS):
            counts.rpz_ns += 1
        counts.note_unsupported(lineno)
        return None
    action = rpz = ""
    data: tuple[tuple[int, bytes], ...] = ()
    if rtype == "CNAME" and len(rdata) == 1 and rdata[0].lower() in ACTIONS:
        action, rpz = ACTIONS[rdata[0].lower()]
    elif rtype in LOCAL_TYPES and rdata:
        record = local_rdata(rtype, rdata, text, origin)
        if record is not None:
            action, rpz, data = "block", "local", (record,)
    if not action:
        counts.note_unsupported(lineno)
        return None
    if network is not None:  # a response-IP rule: an answer with an address in it gets the action
        return Rule(network, action, line=lineno, network=True, rpz=rpz, data=data)
    scope = "exact"
    if trigger.startswith("*."):
        scope, trigger = "below", trigger[2:]
    name = normalise_name(trigger)
    if name is None:
        counts.note_invalid(lineno)
        return None
    return Rule(name, action, scope, line=lineno, rpz=rpz, data=data)


def local_rdata(rtype: str, rdata: list[str], text: str, origin: str) -> tuple[int, bytes] | None:
    """(type, rdata in wire form) of a local-data record, or None when it cannot be used."""
    try:
        if rtype == "A" and len(rdata) == 1:
            return T_A, ipaddress.IPv4Address(rdata[0]).packed
        if rtype == "AAAA" and len(rdata) == 1:
            return T_AAAA, ipaddress.IPv6Address(rdata[0]).packed
        if rtype == "CNAME" and len(rdata) == 1 and not rdata[0].startswith("*"):
            target = _absolute(rdata[0].lower(), origin)
            return T_CNAME, wire_name(target)
        if rtype == "TXT":
            return T_TXT, txt_rdata(text if '"' in text else " ".join(rdata))
    except ValueError:
        return None
    return None


def wire_name(dotted: str) -> bytes:
    """The wire form of an absolute name given without its final dot. Raises ValueError."""
    out = b""
    for label in dotted.split(".") if dotted else ():
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {dotted!r}")
        out += bytes((len(raw),)) + raw
    if len(out) > 254:
        raise ValueError("name too long")
    return out + b"\x00"


def txt_rdata(text: str) -> bytes:
    """TXT rdata from its zone-file text: quoted strings (with \\" and \\DDD escapes) or bare
    words, each at most 255 bytes. Raises ValueError."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        chunk = bytearray()
        quoted = c == '"'
        i += quoted
        while i < n and (text[i] != '"' if quoted else not text[i].isspace()):
            if text[i] == "\\" and i + 1 < n:
                if len(text[i + 1 : i + 4]) == 3 and text[i + 1 : i + 4].isdigit():
                    chunk.append(int(text[i + 1 : i + 4]) & 0xFF)
                    i += 4
                    continue
                i += 1
            chunk += text[i].encode("utf-8")
            i += 1
        if quoted:
            if i >= n:
                raise ValueError("unterminated quoted string")
            i += 1
        if len(chunk) > 255:
            raise ValueError("TXT string longer than 255 bytes")
        out.append(len(chunk))
        out += chunk
    if not out:
        raise ValueError("empty TXT record")
    return bytes(out)


def ip_trigger(trigger: str) -> str | None:
    """The network an rpz-ip trigger names (`24.0.2.0.192` → 192.0.2.0/24, `64.zz.db8.2001` →
    2001:db8::/64), given without its `.rpz-ip` suffix; None when it is not one."""
    labels = trigger.lower().split(".")
    if len(labels) < 2 or not labels[0].isdigit():
        return None
    prefix, rest = int(labels[0]), labels[1:][::-1]
    net: ipaddress.IPv4Network | ipaddress.IPv6Network
    try:
        if len(rest) == 4 and all(x.isdigit() for x in rest):
            net = ipaddress.IPv4Network(f"{'.'.join(rest)}/{prefix}")
        else:
            text = ":".join("" if x == "zz" else x for x in rest)
            if rest[0] == "zz":
                text = ":" + text
            if rest[-1] == "zz":
                text += ":"
            net = ipaddress.IPv6Network(f"{text}/{prefix}")
    except ValueError:  # host bits set, a bad prefix or address
        return None
    return str(net)


def looks_like(line: str) -> bool:
    tokens = line.split(";", 1)[0].split()
    if tokens and tokens[0].upper() in ("$ORIGIN", "$TTL"):
        return True
    return len(tokens) >= 3 and tokens[-2].upper() == "CNAME" and (
        tokens[-1] in (".", "*.") or tokens[-1].lower().startswith("rpz-"))

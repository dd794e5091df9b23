"""AdGuard rule modifiers (the text after `$`): splitting them as AdGuard does (quotes and
backslash escapes in client names) and the conditions they set on a rule, in a normal form, so
that `$badfilter` compares what rules mean: client networks sorted (`::` is `0:0000::0`), query
types and denyallow names as sets.
"""

from __future__ import annotations

import ipaddress
import re

from dnsfilter.core.dns.rrtypes import RR_TYPES
from feeds.parsers import normalise_name

SUPPORTED_MODIFIERS = frozenset({"important", "badfilter", "dnstype", "client", "denyallow"})
NOT_APPLIED_MODIFIERS = frozenset({"dnsrewrite", "ctag"})  # DNS-level in AdGuard, not applied here
_TLD_LIKE = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")


class BadRule(Exception):
    """A rule that cannot be used; `unsupported` tells a known-but-unsupported feature from
    a malformed rule, `not_applied` a DNS feature AdGuard would apply."""

    def __init__(self, unsupported: bool = False, not_applied: bool = False) -> None:
        super().__init__()
        self.unsupported = unsupported or not_applied
        self.not_applied = not_applied


def split_rule(text: str) -> tuple[str, str | None]:
    """(pattern, modifier text or None). A regex may hold `$` itself, so its modifiers start
    only after the closing slash."""
    prefix = "@@" if text.startswith("@@") else ""
    body = text[len(prefix) :]
    if body.startswith("/"):
        if body.endswith("/") and len(body) > 1:
            return text, None
        i = body.rfind("/$")
        if i > 0:
            return prefix + body[: i + 1], body[i + 2 :]
        return text, None
    pattern, sep, mods = text.partition("$")
    return pattern, (mods if sep else None)


def _split_unquoted(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes; backslash escapes the next character (client names
    may hold commas, bars and quotes)."""
    out: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == sep:
            out.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    if quote:
        raise BadRule()
    out.append("".join(cur))
    return out


def modifiers(text: str | None) -> dict[str, str | None]:
    if text is None:
        return {}
    mods: dict[str, str | None] = {}
    for part in _split_unquoted(text, ","):
        name, eq, value = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            raise BadRule()
        if name not in SUPPORTED_MODIFIERS:
            raise BadRule(unsupported=True, not_applied=name in NOT_APPLIED_MODIFIERS)
        if name in mods or (name in ("important", "badfilter")) == bool(eq):
            raise BadRule()
        mods[name] = value if eq else None
    return mods


def _client_value(raw: str) -> str:
    """A $client value in normal form: a network (`::` and `0:0000::0/128` are one client).
    A client name is AdGuard's persistent client, which dnsfilter has no notion of."""
    value = raw.strip()
    quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
    if quoted:
        value = value[1:-1]
    value = re.sub(r"\\(.)", r"\1", value)
    if not value:
        raise BadRule()
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise BadRule(not_applied=True) from None


def conditions(mods: dict[str, str | None]) -> dict[str, object]:
    kw: dict[str, object] = {}
    if "dnstype" in mods:
        inc: set[str] = set()
        exc: set[str] = set()
        for raw in (mods["dnstype"] or "").split("|"):
            neg = raw.startswith("~")
            t = raw[1:].strip().upper() if neg else raw.strip().upper()
            if t not in RR_TYPES:  # AdGuard checks the names against the real types too
                raise BadRule()
            (exc if neg else inc).add(t)
        if inc:  # AdGuard: `~A|AAAA` is `AAAA`; only an exclusion of an included type still counts
            exc &= inc
        kw["dnstypes"] = frozenset(inc) or None
        kw["exclude_dnstypes"] = frozenset(exc) or None
    if "client" in mods:
        inc_c: set[str] = set()
        exc_c: set[str] = set()
        for raw in _split_unquoted(mods["client"] or "", "|"):
            raw = raw.strip()
            neg = raw.startswith("~")
            (exc_c if neg else inc_c).add(_client_value(raw[1:] if neg else raw))
        kw["clients"] = tuple(sorted(inc_c)) or None
        kw["exclude_clients"] = tuple(sorted(exc_c)) or None
    if "denyallow" in mods:
        names = set()
        for raw in (mods["denyallow"] or "").split("|"):
            raw = raw.strip().lower()
            # AdGuard allows a bare TLD here (`*$denyallow=com|net`), which normalise_name refuses.
            name = normalise_name(raw) or (raw if _TLD_LIKE.fullmatch(raw) and "." not in raw else None)
            if name is None:
                raise BadRule()
            names.add(name)
        kw["denyallow"] = tuple(sorted(names))
    return kw

"""Adblock / AdGuard DNS filtering syntax (AdGuard's "DNS filtering rules syntax" is the reference).

Patterns, after `@@` (exception) and before `$modifiers`:
  ||name^      name and every name below it           scope "subtree"
  |name^       exactly name (also `://name^`)         scope "exact"
  .name^       only names below name                  scope "below"
  name         a bare name: exactly that name (AdGuard's domains-only meaning)
  /regex/      matched against the query name; kept only when safe (rules.regex_problem)
Anything else made of hostname characters and `*` (`||ads*.example^`, `||example.`,
`name^` without a start anchor, `||name` without `^`) keeps AdGuard's substring semantics as a
generated regex that cannot backtrack badly (atomic groups per `*`, as fnmatch does).

Modifiers: important, badfilter, dnstype, client, denyallow. A rule with any other modifier
is skipped and counted (AdGuard ignores such rules too: a rule meant for `$third-party` or
`$dnsrewrite` must not turn into a plain block). Cosmetic rules, URL rules with paths and
hosts lines pointing at a real address are skipped and counted.

`$badfilter` disables the identical rule (same pattern, same other modifiers). It may come after
the rule it disables, so the disabled set has to be known before streaming: pass it in
(`badfilters()` makes it in a cheap first pass), or hand `parse` a list, which it scans
itself. From a one-shot iterator only rules after their badfilter can be dropped.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable, Iterator

from feeds.parsers import MAX_NAME, normalise_name
from feeds.rules import Rule, RuleCounts, compile_regex

COSMETIC = ("##", "#@#", "#$#", "#@$#", "#%#", "#@%#", "#?#", "#@?#", "$$", "$@$")
SUPPORTED_MODIFIERS = frozenset({"important", "badfilter", "dnstype", "client", "denyallow"})
SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})

_PATTERN_CHARS = re.compile(r"[a-z0-9._*-]+")
_URL_CHARS = re.compile(r"[/?=&:#%@]")
_SPACE = re.compile(r"\s")
_DNSTYPE = re.compile(r"[A-Z][A-Z0-9]*")
_TLD_LIKE = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")


class _Bad(Exception):
    """A rule that cannot be used; `unsupported` tells a known-but-unsupported feature from
    a malformed rule."""

    def __init__(self, unsupported: bool = False) -> None:
        super().__init__()
        self.unsupported = unsupported


def _split(text: str) -> tuple[str, str | None]:
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
        raise _Bad()
    out.append("".join(cur))
    return out


def _modifiers(text: str | None) -> dict[str, str | None]:
    if text is None:
        return {}
    mods: dict[str, str | None] = {}
    for part in _split_unquoted(text, ","):
        name, eq, value = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            raise _Bad()
        if name not in SUPPORTED_MODIFIERS:
            raise _Bad(unsupported=True)
        if name in mods or (name in ("important", "badfilter")) == bool(eq):
            raise _Bad()
        mods[name] = value if eq else None
    return mods


def _client_value(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    value = re.sub(r"\\(.)", r"\1", value)
    if not value:
        raise _Bad()
    return value


def _conditions(mods: dict[str, str | None]) -> dict[str, object]:
    kw: dict[str, object] = {}
    if "dnstype" in mods:
        inc: set[str] = set()
        exc: set[str] = set()
        for raw in (mods["dnstype"] or "").split("|"):
            neg = raw.startswith("~")
            t = raw[1:].strip().upper() if neg else raw.strip().upper()
            if not _DNSTYPE.fullmatch(t):
                raise _Bad()
            (exc if neg else inc).add(t)
        kw["dnstypes"] = frozenset(inc) or None
        kw["exclude_dnstypes"] = frozenset(exc) or None
    if "client" in mods:
        inc_c: list[str] = []
        exc_c: list[str] = []
        for raw in _split_unquoted(mods["client"] or "", "|"):
            raw = raw.strip()
            neg = raw.startswith("~")
            (exc_c if neg else inc_c).append(_client_value(raw[1:] if neg else raw))
        kw["clients"] = tuple(inc_c) or None
        kw["exclude_clients"] = tuple(exc_c) or None
    if "denyallow" in mods:
        names = []
        for raw in (mods["denyallow"] or "").split("|"):
            raw = raw.strip().lower()
            # AdGuard allows a bare TLD here (`*$denyallow=com|net`), which normalise_name refuses.
            name = normalise_name(raw) or (raw if _TLD_LIKE.fullmatch(raw) and "." not in raw else None)
            if name is None:
                raise _Bad()
            names.append(name)
        kw["denyallow"] = tuple(names)
    return kw


def _glob_regex(body: str, anchor: str, end: bool) -> str:
    """A regex for a `*` pattern that backtracks at most linearly per start position: every
    `*` but the last commits to the first place its next literal occurs (an atomic group), which
    is how a glob matches anyway."""
    segs = [re.escape(s) for s in body.split("*")]
    out = [anchor, segs[0]]
    for seg in segs[1:-1]:
        if seg:
            out.append(f"(?>.*?{seg})")
    if len(segs) > 1:
        last = segs[-1]
        if end:
            out.append(f"(?>.*?{last}$)" if last else "")
        elif last:
            out.append(f"(?>.*?{last})")
    elif end:
        out.append("$")
    return "".join(out)


def _pattern(pat: str) -> tuple[str, str, str | None]:
    """(name, scope, None) for a plain name rule, or ("", "", regex) for a wildcard/partial one."""
    p = pat.lower()
    if p.startswith("||"):
        start, p = "sub", p[2:]
    elif p.startswith("|"):
        start, p = "exact", p[1:]
    elif p.startswith("://"):
        start, p = "exact", p[3:]
    elif p.startswith(".") and not p.startswith(".*"):
        start, p = "below", p[1:]
    else:
        start = "none"
    end = False
    for tail in ("^|", "^", "|"):
        if p.endswith(tail):
            p, end = p[: -len(tail)], True
            break
    if _URL_CHARS.search(p):
        raise _Bad(unsupported=True)  # paths, ports, queries: a URL rule, not a DNS one
    if "*" not in p and p and not p.endswith("."):
        name = normalise_name(p)
        if name is None:
            if _looks_ip(p):
                raise _Bad(unsupported=True)  # AdGuard matches these against answers, not names
            name = p  # `-ad123-`, `||com^`: AdGuard's substring match, as a regex below
        elif end and start == "sub":
            return name, "subtree", None
        elif end and start == "exact":
            return name, "exact", None
        elif end and start == "below":
            return name, "below", None
        elif not end and start == "none":
            return name, "exact", None
        p = name  # the punycode form, for the regex below
    elif not p.isascii():
        raise _Bad()  # a wildcard over non-ASCII labels has no punycode form
    if not p.replace("*", "") and start != "none":
        raise _Bad()
    if not _PATTERN_CHARS.fullmatch(p or "*") or len(p) > MAX_NAME:
        raise _Bad()
    anchor = {"sub": r"(?:^|\.)", "exact": "^", "below": r"\.", "none": ""}[start]
    return "", "", _glob_regex(p, anchor, end)


def _looks_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _rule_key(pattern: str, mods: dict[str, str | None]) -> str:
    """Identity of a rule for $badfilter: the pattern (case-folded unless a regex) and its
    modifiers without badfilter, in a fixed order."""
    pat = pattern if pattern.lstrip("@").startswith("/") else pattern.lower()
    parts = sorted(f"{k}={v}" if v is not None else k for k, v in mods.items() if k != "badfilter")
    return pat + "$" + ",".join(parts)


def _skippable(line: str) -> str | None:
    """"comment", "cosmetic" or None for a rule line."""
    if not line or line[0] == "!" or (line[0] == "[" and line[-1] == "]"):
        return "comment"
    if ("#" in line or "$" in line) and any(marker in line for marker in COSMETIC):
        return "cosmetic"
    if line[0] == "#":
        return "comment"
    return None


def badfilters(lines: Iterable[str]) -> frozenset[str]:
    """The keys of the rules that the `$badfilter` rules of `lines` disable (first pass)."""
    keys = set()
    for raw in lines:
        if "badfilter" not in raw:  # cheap test first: only a handful of lines qualify
            continue
        line = raw.strip()
        if _skippable(line):
            continue
        pattern, modtext = _split(line)
        try:
            mods = _modifiers(modtext)
        except _Bad:
            continue
        if "badfilter" in mods:
            keys.add(_rule_key(pattern, mods))
    return frozenset(keys)


def parse(lines: Iterable[str], counts: RuleCounts, *, badfilter: Collection[str] | None = None,
          **_options: object) -> Iterator[Rule]:
    """Rules of an adblock-syntax feed, counting into `counts` as they are read."""
    if badfilter is None and isinstance(lines, (list, tuple)):
        badfilter = badfilters(lines)
    disabled = set(badfilter or ())
    for lineno, raw in enumerate(lines, 1):
        counts.lines += 1
        line = raw.strip()
        kind = _skippable(line)
        if kind == "comment":
            counts.skipped += 1
            continue
        if kind == "cosmetic":
            counts.skipped_cosmetic += 1
            continue
        try:
            tokens = line.split() if line[0].isdigit() or line[0] == ":" else ()  # hosts lines only
            if len(tokens) >= 2 and _looks_ip(tokens[0]):
                rules = _hosts_line(list(tokens), lineno)
            else:
                rule = _parse_rule(line, lineno, counts, disabled)
                rules = [rule] if rule is not None else []
        except _Bad as bad:
            if bad.unsupported:
                counts.note_unsupported(lineno)
            else:
                counts.note_invalid(lineno)
            continue
        for rule in rules:
            yield counts.note_rule(rule)


def _parse_rule(line: str, lineno: int, counts: RuleCounts, disabled: set[str]) -> Rule | None:
    pattern, modtext = _split(line)
    mods = _modifiers(modtext)
    key = _rule_key(pattern, mods)
    if "badfilter" in mods:
        counts.badfilter += 1
        disabled.add(key)  # also covers rules below it when streaming a one-shot iterator
        return None
    if key in disabled:
        counts.badfiltered += 1
        return None
    action = "block"
    if pattern.startswith("@@"):
        action, pattern = "allow", pattern[2:]
    if not pattern or _SPACE.search(pattern):
        raise _Bad()
    conditions = _conditions(mods)
    if action == "allow" and conditions.get("denyallow"):
        raise _Bad()  # denyallow narrows a block; AdGuard rejects it on an exception
    important = "important" in mods
    if len(pattern) > 2 and pattern[0] == "/" and pattern[-1] == "/":
        compiled, _why = compile_regex(pattern[1:-1])
        if compiled is None:
            counts.regex_rejected += 1
            return None
        counts.regex += 1
        return Rule("", action, "subtree", important, regex=pattern[1:-1], line=lineno,
                    compiled=compiled, **conditions)  # type: ignore[arg-type]
    name, scope, regex = _pattern(pattern)
    if regex is None:
        return Rule(name, action, scope, important, line=lineno, **conditions)  # type: ignore[arg-type]
    # Safe by construction (literals, anchors and atomic lazy scans), so the caps for
    # hand-written regexes do not apply: `||a*b*c*d^` stays linear per start position.
    compiled = re.compile(regex, re.IGNORECASE)
    counts.wildcards += 1
    return Rule("", action, "subtree", important, regex=regex, line=lineno, compiled=compiled,
                **conditions)  # type: ignore[arg-type]


def _hosts_line(tokens: list[str], lineno: int) -> list[Rule]:
    """A hosts line inside an adblock list: AdGuard answers exactly those names (not below
    them). A sink address is a block; any other address is a rewrite, which is unsupported."""
    if tokens[0] not in SINKS:
        raise _Bad(unsupported=True)
    rules = []
    for token in tokens[1:]:
        if token.startswith("#"):
            break
        name = normalise_name(token)
        if name is None:
            raise _Bad()
        rules.append(Rule(name, "block", "exact", line=lineno))
    return rules


# ---------------------------------------------------------------- detection


def looks_like(line: str) -> bool:
    """A line only adblock syntax writes: anchors, `^`, exceptions, modifiers or a regex."""
    return (line.startswith(("||", "@@", "|")) or line.endswith("^") or "^$" in line
            or (len(line) > 2 and line[0] == "/" and line[-1] == "/"))

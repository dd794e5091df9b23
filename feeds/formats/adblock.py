"""Adblock / AdGuard DNS filtering syntax (AdGuard's "DNS filtering rules syntax" is the reference).

Patterns, after `@@` (exception) and before `$modifiers`:
  ||name^      name and every name below it           scope "subtree"
  |name^       exactly name (also `://name^`)         scope "exact"
  .name^       only names below name                  scope "below"
  name         a bare name: exactly that name (AdGuard's domains-only meaning)
  /regex/      matched against the query name; kept only when safe (rules.regex_problem)
  *, ||*^, ``  every name (accept-all): `*$denyallow=com|net`, `*$client=…`, `$dnstype=AAAA`
A path of `/*` or `/` means the host (`||example.org/*` is `||example.org^`, as AdGuard reads
it). Anything else made of hostname characters and `*` (`||ads*.example^`, `||example.`,
`name^` without a start anchor, `||name` without `^`) keeps AdGuard's substring semantics as a
generated regex that cannot backtrack badly (atomic groups per `*`, as fnmatch does). An
accept-all pattern with no $client, $dnstype or $denyallow is "too wide" for AdGuard when it
is `*`, `|`, `||`, empty or shorter than 3 characters, and invalid here too.

Modifiers (feeds.formats.adblock_modifiers): important, badfilter, dnstype, client, denyallow. A rule with any other modifier
is skipped and counted (AdGuard ignores such rules too: a rule meant for `$third-party` must not
turn into a plain block); so are rules using DNS features AdGuard has and dnsfilter does not
($dnsrewrite, $ctag, $client by name, hosts lines pointing at a real address), counted apart
(`not_applied`). Cosmetic rules and URL rules with paths are skipped and counted.

`$badfilter` disables the identical rule: the parsed rule is compared, so client lists and
types in any order or spelling (`::` and `0:0000::0`, `AAAA|A` and `A|AAAA`) are the same. It
may come after the rule it disables, so the disabled set has to be known before streaming:
pass it in (`badfilters()` makes it in a cheap first pass), or hand `parse` a list, which it
scans itself. From a one-shot iterator only rules after their badfilter can be dropped.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Collection, Iterable, Iterator

from feeds.formats.adblock_modifiers import BadRule, conditions, modifiers, split_rule
from feeds.parsers import MAX_NAME, is_preamble, normalise_name
from feeds.rules import Rule, RuleCounts, compile_regex

COSMETIC = ("##", "#@#", "#$#", "#@$#", "#%#", "#@%#", "#?#", "#@?#", "$$", "$@$")
SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})

_PATTERN_CHARS = re.compile(r"[a-z0-9._*-]+")
_URL_CHARS = re.compile(r"[/?=&:#%@]")
_SPACE = re.compile(r"\s")


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
    """(name, scope, None) for a plain name rule, ("", "", regex) for a wildcard/partial one,
    or ("", "", None) for an accept-all pattern."""
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
    for tail in ("^|", "^", "|", "/*", "/"):  # AdGuard reads `/*` as `^`; an empty path is the host too
        if p.endswith(tail):
            p, end = p[: -len(tail)], True
            break
    if not p.replace("*", ""):
        return "", "", None  # every name: only usable with a condition (see _build)
    if _URL_CHARS.search(p):
        raise BadRule(unsupported=True)  # paths, ports, queries: a URL rule, not a DNS one
    if "*" not in p and p and not p.endswith("."):
        name = normalise_name(p)
        if name is None:
            if _looks_ip(p):
                raise BadRule(not_applied=True)  # AdGuard matches these against answers, not names
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
        raise BadRule()  # a wildcard over non-ASCII labels has no punycode form
    if not _PATTERN_CHARS.fullmatch(p or "*") or len(p) > MAX_NAME:
        raise BadRule()
    anchor = {"sub": r"(?:^|\.)", "exact": "^", "below": r"\.", "none": ""}[start]
    return "", "", _glob_regex(p, anchor, end)


def _looks_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _too_wide(pattern: str) -> bool:
    """AdGuard's "the rule is too wide": an accept-all pattern it refuses without a condition."""
    return pattern in ("", "*", "|", "||") or len(pattern) < 3


def _skippable(line: str) -> str | None:
    """"comment", "cosmetic" or None for a rule line."""
    if not line or line[0] == "!" or (line[0] == "[" and line[-1] == "]"):
        return "comment"
    if ("#" in line or "$" in line) and any(marker in line for marker in COSMETIC):
        return "cosmetic"
    if line[0] == "#":
        return "comment"
    return None


def badfilters(lines: Iterable[str]) -> frozenset[Rule]:
    """The rules that the `$badfilter` rules of `lines` disable (first pass), as `_key` gives them."""
    keys = set()
    for raw in lines:
        if "badfilter" not in raw:  # cheap test first: only a handful of lines qualify
            continue
        line = raw.strip()
        if _skippable(line):
            continue
        pattern, modtext = split_rule(line)
        try:
            mods = modifiers(modtext)
            if "badfilter" in mods:
                keys.add(_key(_build(pattern, mods)))
        except BadRule:
            continue
    return frozenset(keys)


def _key(rule: Rule) -> Rule:
    """A rule's identity for $badfilter: what it means, not where it stands."""
    return dataclasses.replace(rule, line=0)


def parse(lines: Iterable[str], counts: RuleCounts, *, badfilter: Collection[Rule] | None = None,
          **_options: object) -> Iterator[Rule]:
    """Rules of an adblock-syntax feed, counting into `counts` as they are read (the count of
    badfilters that disabled nothing is known once the iterator is exhausted)."""
    if badfilter is None and isinstance(lines, (list, tuple)):
        badfilter = badfilters(lines)
    bf = _Badfilters(set(badfilter or ()))
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
                if not rules:  # only the localhost preamble
                    counts.skipped += 1
            else:
                rule = _parse_rule(line, lineno, counts, bf)
                rules = [rule] if rule is not None else []
        except BadRule as bad:
            if bad.unsupported:
                counts.note_unsupported(lineno, bad.not_applied)
            else:
                counts.note_invalid(lineno)
            continue
        for rule in rules:
            yield counts.note_rule(rule)
    unused = [n for key, n in bf.seen.items() if key not in bf.used]
    counts.badfilter_unused = len(unused)
    counts.first_badfilter_unused_lines = sorted(unused)[:10]


class _Badfilters:
    """The rules disabled by $badfilter, and which of the feed's badfilters disabled something."""

    def __init__(self, disabled: set[Rule]) -> None:
        self.disabled = disabled
        self.seen: dict[Rule, int] = {}  # badfilter key -> its line
        self.used: set[Rule] = set()


def _parse_rule(line: str, lineno: int, counts: RuleCounts, bf: _Badfilters) -> Rule | None:
    pattern, modtext = split_rule(line)
    mods = modifiers(modtext)
    rule = _build(pattern, mods, lineno)
    if "badfilter" in mods:
        counts.badfilter += 1
        key = _key(rule)
        bf.disabled.add(key)  # also covers rules below it when streaming a one-shot iterator
        bf.seen.setdefault(key, lineno)
        return None
    if bf.disabled:
        key = _key(rule)
        if key in bf.disabled:
            counts.badfiltered += 1
            bf.used.add(key)
            return None
    if rule.regex is not None:
        if rule.compiled is None:
            counts.regex_rejected += 1
            return None
        if pattern.lstrip("@").startswith("/"):
            counts.regex += 1
        else:
            counts.wildcards += 1
    return rule


def _build(pattern: str, mods: dict[str, str | None], lineno: int = 0) -> Rule:
    """The rule `pattern` and its modifiers mean (`compiled` is None for an unsafe /regex/).
    Raises BadRule."""
    action = "block"
    if pattern.startswith("@@"):
        action, pattern = "allow", pattern[2:]
    if _SPACE.search(pattern):
        raise BadRule()
    cond = conditions(mods)
    important = "important" in mods
    if len(pattern) > 2 and pattern[0] == "/" and pattern[-1] == "/":
        compiled, _why = compile_regex(pattern[1:-1])
        return Rule("", action, "subtree", important, regex=pattern[1:-1], line=lineno, compiled=compiled,
                    **cond)  # type: ignore[arg-type]
    name, scope, regex = _pattern(pattern)
    if regex is not None:
        # Safe by construction (literals, anchors and atomic lazy scans), so the caps for
        # hand-written regexes do not apply: `||a*b*c*d^` stays linear per start position.
        return Rule("", action, "subtree", important, regex=regex, line=lineno,
                    compiled=re.compile(regex, re.IGNORECASE), **cond)  # type: ignore[arg-type]
    if not name and not cond and _too_wide(pattern):
        raise BadRule()  # `*` alone would block every name: AdGuard refuses it too
    return Rule(name, action, scope if name else "subtree", important, line=lineno, **cond)  # type: ignore[arg-type]


def _hosts_line(tokens: list[str], lineno: int) -> list[Rule]:
    """A hosts line inside an adblock list: AdGuard answers exactly those names (not below
    them). A sink address is a block; any other address is a rewrite, which is not applied."""
    if tokens[0] not in SINKS:
        raise BadRule(not_applied=True)
    rules = []
    for token in tokens[1:]:
        if token.startswith("#"):
            break
        if is_preamble(token):
            continue  # `::1 localhost ip6-localhost`: the system's own names, never a block
        name = normalise_name(token)
        if name is None:
            raise BadRule()
        rules.append(Rule(name, "block", "exact", line=lineno))
    return rules


# ---------------------------------------------------------------- detection


def looks_like(line: str) -> bool:
    """A line only adblock syntax writes: anchors, `^`, exceptions, modifiers or a regex."""
    return (line.startswith(("||", "@@", "|")) or line.endswith("^") or "^$" in line
            or (len(line) > 2 and line[0] == "/" and line[-1] == "/"))

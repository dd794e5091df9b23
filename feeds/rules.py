"""The common rule model of the richer feed formats (adblock, dnsmasq, RPZ, CSV, sha256).

The hosts and domains parsers (feeds.parsers) yield bare names because every entry there means
"block this name and everything below it". The richer formats can also say "exactly this
name", "only below it", "allow", "only for AAAA", "only for these clients", so they yield
`Rule`s. A Rule is small, frozen and hashable: the compiler can split rules into per-scope and
per-action hash sets and keep the rare conditional or regex rules aside.

`decide()` is the reference evaluator of AdGuard's precedence (important allow > important
block > allow > block). It is a linear scan meant for tests and the `check` command, not for
the hot path, which works on compiled sets.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_FIRST_LINES = 10

ACTIONS = ("block", "allow")
SCOPES = ("subtree", "exact", "below")  # name and all below it | the name only | only below it


@dataclass(frozen=True, slots=True)
class Rule:
    """One filtering rule of a feed.

    `name` is a normalised name (lower-case ASCII, punycode, no trailing dot); for a hashed
    feed (`hashed=True`) it is the sha256 hex digest of such a name, never the name itself; for
    a regex rule it is "" and `regex` holds the source. With `network=True` it is an address or
    a CIDR network instead: a response-IP rule (an answer pointing into it is blocked; see
    dnsfilter/core/policy/netset.py). `compiled` is the precompiled regex (left out of
    equality, hashing and repr)."""

    name: str
    action: str = "block"
    scope: str = "subtree"
    important: bool = False
    dnstypes: frozenset[str] | None = None  # only these query types (None = all)
    exclude_dnstypes: frozenset[str] | None = None  # every type but these
    clients: tuple[str, ...] | None = None  # only these clients: sorted networks (`10.0.0.5/32`)
    exclude_clients: tuple[str, ...] | None = None  # every client but these
    denyallow: tuple[str, ...] = ()  # a block that never applies to these names or below them
    regex: str | None = None
    hashed: bool = False
    line: int = 0
    network: bool = False
    # RPZ: the action the policy zone names ("" for formats that only say "block"); see
    # feeds/formats/rpz.py. `data` is the local data of a "local" rule: (type, rdata in wire form).
    rpz: str = ""
    data: tuple[tuple[int, bytes], ...] = ()
    compiled: re.Pattern[str] | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def exact(self) -> bool:
        return self.scope == "exact"

    @property
    def subdomains_only(self) -> bool:
        return self.scope == "below"

    @property
    def any_name(self) -> bool:
        """An accept-all pattern (`*`, `||*^`, `$dnstype=AAAA` with no pattern): every name."""
        return not self.name and self.regex is None

    @property
    def conditional(self) -> bool:
        """True when the rule does not apply to every query of its names (needs the query
        type, the client or the denyallow list to decide)."""
        return bool(self.dnstypes or self.exclude_dnstypes or self.clients or self.exclude_clients
                    or self.denyallow)


@dataclass
class RuleCounts:
    """What one parse yielded and what it left out. Final once the iterator is exhausted."""

    lines: int = 0
    rules: int = 0  # rules yielded (blocks and exceptions, including regex and wildcard rules)
    exceptions: int = 0  # allow rules yielded
    important: int = 0
    regex: int = 0  # /regex/ rules accepted
    wildcards: int = 0  # `*` patterns and partial anchors, turned into bounded regexes
    regex_rejected: int = 0  # /regex/ rules that failed to compile or broke a safety cap
    badfilter: int = 0  # $badfilter rules seen
    badfiltered: int = 0  # rules a $badfilter disabled
    skipped: int = 0  # comments, blank lines, headers, SOA/NS records
    skipped_cosmetic: int = 0
    skipped_unsupported: int = 0  # URL rules, unsupported modifiers/records, rewrites
    not_applied: int = 0  # of those: DNS-level rules AdGuard applies and dnsfilter does not (rewrites, ctag…)
    badfilter_unused: int = 0  # $badfilter rules that disabled nothing
    first_badfilter_unused_lines: list[int] = field(default_factory=list)
    invalid: int = 0
    first_invalid_lines: list[int] = field(default_factory=list)
    first_unsupported_lines: list[int] = field(default_factory=list)
    ips_ignored: int = 0  # IP addresses in name fields (CSV)
    urls_skipped: int = 0  # URL-only entries left out (CSV, url_policy="skip")
    urls_reduced: int = 0  # URL-only entries reduced to their hosts (CSV, url_policy="host")
    networks: int = 0  # response-IP rules (addresses and networks) yielded
    version: str = ""  # the version the list declares about itself (a registry's updateTime), if any
    rpz_ns: int = 0  # RPZ rpz-nsdname / rpz-nsip triggers: out of scope for a forwarder, counted

    def note_invalid(self, lineno: int) -> None:
        self.invalid += 1
        _note_line(self.first_invalid_lines, lineno)

    def note_unsupported(self, lineno: int, not_applied: bool = False) -> None:
        """A rule left out: one AdGuard ignores too, or (`not_applied`) one it would apply."""
        self.skipped_unsupported += 1
        self.not_applied += not_applied
        _note_line(self.first_unsupported_lines, lineno)

    def note_rule(self, rule: Rule) -> Rule:
        self.rules += 1
        if rule.network:
            self.networks += 1
        if rule.action == "allow":
            self.exceptions += 1
        if rule.important:
            self.important += 1
        return rule


def _note_line(kept: list[int], lineno: int) -> None:
    if len(kept) < MAX_FIRST_LINES and (not kept or kept[-1] != lineno):
        kept.append(lineno)


# ---------------------------------------------------------------- bounded regexes

MAX_REGEX_LEN = 256
MAX_UNBOUNDED = 2  # `.*.*x` costs ~5 ms on a 253-octet hostile name; three cost ~340 ms
_BIG_REPEAT = 16  # {n,m} with m above this counts as unbounded
_QUANT = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")


def regex_problem(src: str) -> str | None:
    """Why `src` is not a safe hostname regex, or None when it is.

    Python's `re` backtracks and has no time limit, and a query name is chosen by whoever sends
    the query, so only a subset whose cost stays polynomial and small on a 253-octet name is
    kept: at most MAX_REGEX_LEN characters; no backreferences, lookarounds, conditionals or
    inline flags; no quantified group that itself holds a quantifier (`(a+)+`) or, under an
    unbounded quantifier, an alternation (`(a|a)*`); at most MAX_UNBOUNDED unbounded
    quantifiers."""
    if len(src) > MAX_REGEX_LEN:
        return f"longer than {MAX_REGEX_LEN} characters"
    # One frame per open group: [holds a quantifier, holds an alternation]
    stack: list[list[bool]] = [[False, False]]
    closed: list[bool] | None = None  # the group that just ended, when it is the last atom
    unbounded = 0
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        group, closed = closed, None
        if c == "\\":
            nxt = src[i + 1 : i + 2]
            if nxt.isdigit() and nxt != "0":
                return "backreference"
            i += 2
        elif c == "[":
            i = _skip_class(src, i)
        elif c == "(":
            if src.startswith("(?", i) and not src.startswith("(?:", i):
                return "lookaround, named group, conditional or inline flag"
            stack.append([False, False])
            i += 3 if src.startswith("(?:", i) else 1
        elif c == ")":
            if len(stack) == 1:
                return "unbalanced parenthesis"
            closed = stack.pop()
            stack[-1][0] |= closed[0]
            i += 1
        elif c == "|":
            stack[-1][1] = True
            i += 1
        elif c in "*+?" or (c == "{" and _QUANT.match(src, i)):
            if c == "{":
                m = _QUANT.match(src, i)
                assert m is not None
                lo, comma, hi = m.group(1), m.group(2), m.group(3)
                top = None if comma and not hi else int(hi or lo or 0)
                i = m.end()
            else:
                top = 1 if c == "?" else None
                i += 1
            if i < n and src[i] in "?+":  # lazy or possessive suffix: same cost class
                i += 1
            variable = top is None or top > 1
            if variable and group is not None:
                if group[0]:
                    return "nested quantifier"
                if group[1] and (top is None or top > _BIG_REPEAT):
                    return "alternation under an unbounded quantifier"
            if top is None or top > _BIG_REPEAT:
                unbounded += 1
            stack[-1][0] = True  # even `?`: `(a?){30}a{30}` backtracks exponentially
        else:
            i += 1
    if len(stack) != 1:
        return "unbalanced parenthesis"
    if unbounded > MAX_UNBOUNDED:
        return f"more than {MAX_UNBOUNDED} unbounded quantifiers"
    return None


def _skip_class(src: str, i: int) -> int:
    i += 1
    if src.startswith("^", i):
        i += 1
    if src.startswith("]", i):  # a leading ] is a literal
        i += 1
    while i < len(src) and src[i] != "]":
        i += 2 if src[i] == "\\" else 1
    return i + 1


def compile_regex(src: str) -> tuple[re.Pattern[str] | None, str]:
    """The compiled regex and "" when `src` is safe and valid, else None and the reason.
    Case-insensitive, as AdGuard matches regex rules."""
    problem = regex_problem(src)
    if problem:
        return None, problem
    try:
        return re.compile(src, re.IGNORECASE), ""
    except (re.error, OverflowError, RecursionError) as e:
        return None, f"does not compile: {e}"


# ---------------------------------------------------------------- reference evaluation


def _in_subtree(name: str, parent: str) -> bool:
    return name == parent or name.endswith("." + parent)


def suffix_digests(qname: str) -> list[str]:
    """Digests of a normalised query name and each parent of two labels or more, most specific
    first: what a hashed (sha256) feed is looked up with."""
    labels = qname.rstrip(".").lower().split(".")
    return [hashlib.sha256(".".join(labels[i:]).encode("ascii")).hexdigest()
            for i in range(len(labels) - 1)]


def name_matches(rule: Rule, qname: str) -> bool:
    """Whether `rule` covers the normalised `qname`, ignoring type and client conditions."""
    if rule.any_name:
        return True
    if rule.compiled is not None:
        return rule.compiled.search(qname) is not None
    if rule.hashed:
        digests = suffix_digests(qname)  # the name first, then each parent
        if rule.scope == "exact":
            digests = digests[:1]
        elif rule.scope == "below":
            digests = digests[1:]
        return rule.name in digests
    if rule.scope == "exact":
        return qname == rule.name
    if rule.scope == "below":
        return qname.endswith("." + rule.name)
    return _in_subtree(qname, rule.name)


def _client_matches(values: tuple[str, ...], ip: str | None, client_name: str | None) -> bool:
    addr = None
    if ip is not None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            addr = None
    for value in values:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            if client_name is not None and value.casefold() == client_name.casefold():
                return True
            continue
        if addr is not None and addr.version == net.version and addr in net:
            return True
    return False


def applies(rule: Rule, qname: str, qtype: str | None = None, client_ip: str | None = None,
            client_name: str | None = None) -> bool:
    """Whether `rule` applies to this query: its name pattern and every condition."""
    if not name_matches(rule, qname):
        return False
    if qtype is not None:
        qtype = qtype.upper()
        if rule.dnstypes is not None and qtype not in rule.dnstypes:
            return False
        if rule.exclude_dnstypes is not None and qtype in rule.exclude_dnstypes:
            return False
    elif rule.dnstypes is not None:
        return False  # a type-restricted rule cannot apply when the type is unknown
    if rule.clients is not None and not _client_matches(rule.clients, client_ip, client_name):
        return False
    if rule.exclude_clients is not None and _client_matches(rule.exclude_clients, client_ip, client_name):
        return False
    return not any(_in_subtree(qname, d) for d in rule.denyallow)


def decide(rules: Iterable[Rule], qname: str, qtype: str | None = None, client_ip: str | None = None,
           client_name: str | None = None) -> Rule | None:
    """The rule that decides the query, or None when no rule applies.

    AdGuard's precedence: an important exception beats an important block, which beats any
    non-important exception, which beats a plain block."""
    best: Rule | None = None
    best_rank = -1
    for rule in rules:
        rank = (2 if rule.important else 0) + (1 if rule.action == "allow" else 0)
        if rank > best_rank and applies(rule, qname, qtype, client_ip, client_name):
            best, best_rank = rule, rank
            if rank == 3:
                break
    return best

"""sha256-hashed lists: one hex digest of a normalised name per line.

A feed that must not be published or stored in clear (a regulator's list, a list of abuse
sites) ships as digests. `sha256_name` defines the digest, and both the feed producer and the
matcher must use it exactly:

    sha256_name(name) = hex(sha256(utf-8 bytes of normalise_name(name)))

where the normalised name is lower-case ASCII (IDN labels as punycode, `xn--`), without a
trailing dot, dotted (not wire format). Example: sha256_name("Example.COM.") ==
sha256("example.com").hexdigest(). A digest blocks the name and every name below it, so a query
is matched by hashing the query name and each parent suffix (`feeds.rules.suffix_digests`).

Only digests are ever held: parse yields Rules with `hashed=True` whose `name` is the digest, so
no clear name reaches compiled files, logs or feed status. Lines are 64 hex digits in any case
(normalised to lower case); `#`/`!`/`;` comments and an inline comment after whitespace are
allowed; anything else is counted invalid.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator

from feeds.parsers import normalise_name
from feeds.rules import Rule, RuleCounts

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def sha256_name(name: str) -> str:
    """The hex sha256 digest of `name` in normalised form. Raises ValueError when `name` is not
    a usable host name (the same rules as feeds.parsers.normalise_name)."""
    norm = normalise_name(name)
    if norm is None:
        raise ValueError("not a usable host name")  # the name itself is not echoed: it may be secret
    return hashlib.sha256(norm.encode("ascii")).hexdigest()


def parse(lines: Iterable[str], counts: RuleCounts, **_options: object) -> Iterator[Rule]:
    for lineno, raw in enumerate(lines, 1):
        counts.lines += 1
        line = raw.strip()
        if not line or line[0] in "#!;":
            counts.skipped += 1
            continue
        token = line.split(None, 1)[0]
        rest = line[len(token):].strip()
        if not _HEX64.fullmatch(token) or (rest and rest[0] not in "#!;"):
            counts.note_invalid(lineno)
            continue
        yield counts.note_rule(Rule(token.lower(), hashed=True, line=lineno))


def looks_like(line: str) -> bool:
    return _HEX64.fullmatch(line.split(None, 1)[0]) is not None if line.strip() else False

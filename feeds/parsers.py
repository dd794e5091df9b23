"""Blocklist parsers: text lines in, normalised names out, one line at a time.

Each format is a generator `parser(lines, result) -> Iterator[str]` registered in PARSERS; it
yields valid, normalised names (lower-case ASCII, IDN as punycode, no trailing dot) and counts
skipped lines (comments, blanks, preamble) and invalid entries in `result` as it goes. Nothing
is held beyond the current line, so a million-line feed parses in constant memory.

A name on a list stands for its whole subtree, so `*.example.com` and `.example.com` mean
`example.com`. Invalid entries are counted per entry (a hosts line can hold several names);
the first few line numbers are kept so that feed status can point at them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

try:  # IDNA 2008 + UTS 46 as browsers use it; `requests` already depends on this package.
    import idna as _idna
except ImportError:  # pragma: no cover - exercised only where the package is missing

    def _label_to_ascii(label: str) -> str:
        return label.encode("idna").decode("ascii")  # Python's own codec: IDNA 2003
else:

    def _label_to_ascii(label: str) -> str:
        return _idna.encode(label, uts46=True).decode("ascii")


MAX_NAME = 253
MAX_INVALID_LINES = 10

_LABELS = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+[a-z0-9_-]{1,63}")
_HOSTS_PREAMBLE = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost", "0.0.0.0"})
_COMMON_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1"})


@dataclass
class ParseResult:
    """Names and counts of one parse. When streaming (`stream_names`) `names` stays empty and
    the counts are final once the iterator is exhausted."""

    names: list[str] = field(default_factory=list)
    invalid: int = 0
    first_invalid_lines: list[int] = field(default_factory=list)
    skipped: int = 0
    lines: int = 0

    def note_invalid(self, lineno: int) -> None:
        self.invalid += 1
        kept = self.first_invalid_lines
        if len(kept) < MAX_INVALID_LINES and (not kept or kept[-1] != lineno):
            kept.append(lineno)


Parser = Callable[[Iterable[str], ParseResult], Iterator[str]]


def normalise_name(text: str) -> str | None:
    """The canonical form of a host name, or None when it is not a usable name.

    Lower-case, trailing dot removed, non-ASCII labels to punycode; labels of [a-z0-9_-]
    (underscores occur in real service names), 1..63 octets, at most 253 in all, at least two
    labels (a bare TLD or `localhost` would block far too much), and no IP addresses."""
    name = text.strip().rstrip(".").lower()
    if not name.isascii():
        converted = _to_ascii(name)
        if converted is None:
            return None
        name = converted
    if len(name) > MAX_NAME or not _LABELS.fullmatch(name):
        return None
    # No TLD is all digits, so this rejects bare IPv4 addresses (and partial ones like 10.1).
    if name.rpartition(".")[2].isdigit():
        return None
    return name


def _to_ascii(name: str) -> str | None:
    out = []
    for label in name.split("."):
        if label.isascii():  # ASCII labels pass as they are: idna would reject "_" in them
            out.append(label)
            continue
        try:
            out.append(_label_to_ascii(label))
        except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
            return None
    return ".".join(out).lower()


def _is_ip(token: str) -> bool:
    if token in _COMMON_SINKS:
        return True
    try:
        ipaddress.ip_address(token)  # scoped IPv6 such as fe80::1%lo0 parses too
    except ValueError:
        return False
    return True


def parse_hosts(lines: Iterable[str], result: ParseResult) -> Iterator[str]:
    """`IP name [name…] [# comment]` with any IP as the sink; the localhost preamble is skipped."""
    for lineno, raw in enumerate(lines, 1):
        result.lines += 1
        line = raw.partition("#")[0]
        tokens = line.split()
        if not tokens:
            result.skipped += 1
            continue
        if len(tokens) < 2 or not _is_ip(tokens[0]):
            result.note_invalid(lineno)
            continue
        for token in tokens[1:]:
            low = token.lower()
            if low in _HOSTS_PREAMBLE or low.startswith("ip6-"):
                result.skipped += 1
                continue
            name = normalise_name(token)
            if name is None:
                result.note_invalid(lineno)
            else:
                yield name


# A plain, already canonical name whose last label is not all digits (and, like every label,
# 1-63 octets: the fuzzer found a 64-octet last label let through): accepted as it is.
_FAST_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+(?=[a-z0-9_-]{1,63}\Z)[a-z0-9_-]*[a-z_-][a-z0-9_-]*")


def parse_domains(lines: Iterable[str], result: ParseResult) -> Iterator[str]:
    """One name per line; `#` and `!` comments; `*.name` and `.name` mean `name`."""
    fast = _FAST_NAME.fullmatch
    for lineno, raw in enumerate(lines, 1):
        result.lines += 1
        line = raw.strip()
        if len(line) <= MAX_NAME and fast(line):  # most lines of most lists
            yield line
            continue
        if not line or line[0] in "#!":
            result.skipped += 1
            continue
        line = line.partition("#")[0].strip()  # '#' can never be part of a name
        if line.startswith("*."):
            line = line[2:]
        elif line.startswith("."):
            line = line[1:]
        name = None if not line or " " in line or "\t" in line else normalise_name(line)
        if name is None:
            result.note_invalid(lineno)
        else:
            yield name


PARSERS: dict[str, Parser] = {
    "hosts": parse_hosts,
    "domains": parse_domains,
}


def stream_names(lines: Iterable[str], fmt: str, result: ParseResult) -> Iterator[str]:
    """Valid names of `lines` in format `fmt`, counting into `result` as they are read."""
    try:
        parser = PARSERS[fmt]
    except KeyError:
        raise ValueError(f"unknown list format {fmt!r} (known: {', '.join(sorted(PARSERS))})") from None
    return parser(lines, result)


def parse_lines(lines: Iterable[str], fmt: str) -> ParseResult:
    """Parse a whole (small) list into memory; use `stream_names` for feeds."""
    result = ParseResult()
    result.names = list(stream_names(lines, fmt, result))
    return result


# ---------------------------------------------------------------- format detection


def _looks_hosts(line: str) -> bool:
    tokens = line.partition("#")[0].split()
    return len(tokens) >= 2 and _is_ip(tokens[0])


def _looks_domains(line: str) -> bool:
    tokens = line.partition("#")[0].split()
    return len(tokens) == 1 and normalise_name(tokens[0].removeprefix("*.").lstrip(".")) is not None


# Checked in order; later formats (adblock, dnsmasq, rpz…) add a line signature here.
DETECTORS: dict[str, Callable[[str], bool]] = {
    "hosts": _looks_hosts,
    "domains": _looks_domains,
}
DETECT_SAMPLE = 200


def detect_format(sample_lines: Iterable[str]) -> str:
    """The format whose line signature fits most of the first non-comment lines.

    Raises ValueError when no format fits at least half of them."""
    scores = dict.fromkeys(DETECTORS, 0)
    seen = 0
    for raw in sample_lines:
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        seen += 1
        for fmt, looks in DETECTORS.items():
            if looks(line):
                scores[fmt] += 1
        if seen >= DETECT_SAMPLE:
            break
    best = max(scores, key=lambda fmt: scores[fmt])  # first registered wins a tie
    if not seen or scores[best] * 2 < seen:
        raise ValueError(f"cannot detect the list format from {seen} sample lines")
    return best

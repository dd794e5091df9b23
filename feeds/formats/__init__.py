"""Rule-producing feed formats: adblock/AdGuard, dnsmasq, RPZ, CSV and XML registry dumps, sha256
lists.

Each format is a streaming generator `parse(lines, counts, **options) -> Iterator[Rule]`
registered in RULE_PARSERS; it holds nothing beyond the current line (the adblock parser also
keeps the small set of $badfilter keys) and counts into a `RuleCounts`. The hosts and domains
formats of feeds.parsers are registered too, through an adapter, so a caller can treat every
format alike; they keep their own meaning (each name blocks its subtree).

`detect()` tries the richer formats first, then falls back to feeds.parsers.detect_format.
`parse_file()` opens a downloaded feed with the right encoding (registry XML as bytes: its XML
declaration names the encoding), resolves "auto", and for adblock
runs the cheap $badfilter pass first, so a badfilter that comes after its rule still applies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from feeds.formats import adblock, csvdump, dnsmasq, registryxml, rpz, sha256
from feeds.parsers import DETECT_SAMPLE, ParseResult, detect_format, stream_names
from feeds.rules import Rule, RuleCounts

RuleParser = Callable[..., Iterator[Rule]]


def _names_adapter(fmt: str) -> RuleParser:
    def parse(lines: Iterable[str], counts: RuleCounts, **_options: object) -> Iterator[Rule]:
        result = ParseResult()
        try:
            for name in stream_names(lines, fmt, result):
                yield counts.note_rule(Rule(name))
        finally:  # counts are complete even when the caller stops early
            counts.lines += result.lines
            counts.skipped += result.skipped
            counts.invalid += result.invalid
            counts.first_invalid_lines.extend(result.first_invalid_lines[: 10 - len(counts.first_invalid_lines)])

    parse.__doc__ = f"The {fmt} format of feeds.parsers, as subtree block rules."
    return parse


RULE_PARSERS: dict[str, RuleParser] = {
    "adblock": adblock.parse,
    "dnsmasq": dnsmasq.parse,
    "rpz": rpz.parse,
    "csv": csvdump.parse,
    "registry-xml": registryxml.parse,
    "sha256": sha256.parse,
    "hosts": _names_adapter("hosts"),
    "domains": _names_adapter("domains"),
}

# Tried in this order before the hosts/domains detection of feeds.parsers. sha256 first: a hex
# digest also looks like a (bad) domain; csv before adblock: a dump line can hold `|`.
DETECTORS: dict[str, Callable[[str], bool]] = {
    "registry-xml": registryxml.looks_like,
    "sha256": sha256.looks_like,
    "rpz": rpz.looks_like,
    "dnsmasq": dnsmasq.looks_like,
    "csv": csvdump.looks_like,
    "adblock": adblock.looks_like,
}


def detect(sample_lines: Iterable[str]) -> str:
    """The format of a feed from its first lines: a richer format when its signature fits at
    least half of the non-comment lines, else hosts or domains (feeds.parsers.detect_format).

    Raises ValueError when nothing fits."""
    sample: list[str] = []
    scores = dict.fromkeys(DETECTORS, 0)
    for raw in sample_lines:
        line = raw.strip()
        if line.lower().startswith(("[adblock", "[adguard")):
            return "adblock"  # the header adblock lists open with
        if not line or line[0] in "#!;" or line.startswith("Updated:"):
            continue
        sample.append(line)
        for fmt, looks in DETECTORS.items():
            if looks(line):
                scores[fmt] += 1
        if len(sample) >= DETECT_SAMPLE:
            break
    best = max(scores, key=lambda fmt: scores[fmt])
    if sample and scores[best] * 2 >= len(sample):
        return best
    return detect_format(sample)


def parse_lines(lines: Iterable[Any], fmt: str, counts: RuleCounts, **options: object) -> Iterator[Rule]:
    """Rules of `lines` in format `fmt` (not "auto"), counting into `counts`."""
    try:
        parser = RULE_PARSERS[fmt]
    except KeyError:
        raise ValueError(f"unknown feed format {fmt!r} (known: {', '.join(sorted(RULE_PARSERS))})") from None
    return parser(lines, counts, **options)


def _open(path: str | os.PathLike[str], fmt: str, options: dict[str, object]) -> Any:
    if fmt == "registry-xml":
        return open(path, "rb")
    encoding = options.get("encoding")
    if not encoding:
        # utf-8-sig: a BOM is dropped rather than glued to the first rule
        encoding = csvdump.DEFAULTS["encoding"] if fmt == "csv" else "utf-8-sig"
    return open(path, encoding=str(encoding), errors="replace", newline=None)


def resolve_format(path: str | os.PathLike[str], fmt: str, **options: object) -> str:
    """`fmt`, or the detected format when it is "auto"."""
    if fmt != "auto":
        return fmt
    with _open(path, "auto", options) as f:
        sample = []
        for line in f:
            sample.append(line)
            if len(sample) >= DETECT_SAMPLE * 4:  # comment headers come first
                break
    return detect(sample)


def parse_file(path: str | os.PathLike[str], fmt: str, counts: RuleCounts,
               **options: object) -> Iterator[Rule]:
    """Stream the rules of a feed file; `fmt` may be "auto". Raises ValueError for an unknown
    or undetectable format and OSError when the file cannot be read."""
    fmt = resolve_format(path, fmt, **options)
    parser = RULE_PARSERS.get(fmt)
    if parser is None:
        raise ValueError(f"unknown feed format {fmt!r} (known: {', '.join(sorted(RULE_PARSERS))})")
    if fmt == "adblock" and "badfilter" not in options:
        with _open(path, fmt, options) as f:
            options = {**options, "badfilter": adblock.badfilters(f)}
    return _stream(path, fmt, parser, counts, options)


def _stream(path: str | os.PathLike[str], fmt: str, parser: RuleParser, counts: RuleCounts,
            options: dict[str, object]) -> Iterator[Rule]:
    with _open(path, fmt, options) as f:
        yield from parser(f, counts, **options)


__all__ = ["DETECTORS", "RULE_PARSERS", "Rule", "RuleCounts", "detect", "parse_file", "parse_lines",
           "resolve_format"]

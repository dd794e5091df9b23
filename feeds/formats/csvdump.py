"""CSV registry dumps, such as a regulator's list in the z-i `dump.csv` layout:

    Updated: 2026-11-28 12:00:00 +0000
    IP;domain;URL;authority;decision no.;date          (`;`-separated, CP1251)
    192.0.2.1 | 192.0.2.2;shop.example;http://shop.example/page/1.html | http://shop.example/x;…

Options (config keys of a csv feed): `columns` (1-based, {"domain": 2, "url": 3}), `delimiter`
(";"), `encoding` ("cp1251"; used when the lines are bytes, and by formats.open_lines),
`skip_lines` (1: the "Updated:" line; the sample has no header row), `quotechar` (None: the dump
is not RFC 4180 quoted; set '"' for quoted CSV), `url_policy` ("skip" or "host"), `separator`
(" | ": several values in one field).

What an entry blocks:
- its names (domain column; IDN to punycode, upper case folded, `*.name` = the subtree of name
  like the domains format; IP addresses in the name field are ignored and counted);
- unless it is a URL-only entry: one whose URLs all point below the site root (a page, not the
  site) and whose name is not a `*.` mask. DNS cannot block a page, and blocking the whole host
  for one page over-blocks, so by default it is skipped (urls_skipped). With url_policy = "host"
  it is reduced to the hosts of its URLs, exactly those names (urls_reduced).
- an entry with neither a usable name nor a URL (IP-only) yields nothing and is counted in
  `skipped`.
"""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from feeds.parsers import normalise_name
from feeds.rules import Rule, RuleCounts

DEFAULTS: dict[str, object] = {
    "columns": {"domain": 2, "url": 3},
    "delimiter": ";",
    "encoding": "cp1251",
    "skip_lines": 1,
    "quotechar": None,
    "url_policy": "skip",
    "separator": " | ",
}
URL_POLICIES = ("skip", "host")


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def url_host(url: str) -> tuple[str | None, bool]:
    """(host, names a page below the root) of a URL; host None when unusable."""
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname  # lower-cased, port and credentials removed
    except ValueError:
        return None, False
    page = parts.path not in ("", "/") or bool(parts.query)
    return host, page


def _decoded(lines: Iterable[str | bytes], encoding: str) -> Iterator[str]:
    for line in lines:
        yield line.decode(encoding, errors="replace") if isinstance(line, bytes) else line


def parse(lines: Iterable[str | bytes], counts: RuleCounts, **options: object) -> Iterator[Rule]:
    opts = {**DEFAULTS, **options}
    columns = opts["columns"]
    if not isinstance(columns, Mapping) or "domain" not in columns:
        raise ValueError("csv feed: `columns` must map at least 'domain' to a 1-based column number")
    dom_col = int(columns["domain"]) - 1
    url_col = int(columns["url"]) - 1 if columns.get("url") else None
    policy = str(opts["url_policy"])
    if policy not in URL_POLICIES:
        raise ValueError(f"csv feed: url_policy must be one of {', '.join(URL_POLICIES)}, not {policy!r}")
    if dom_col < 0 or (url_col is not None and url_col < 0):
        raise ValueError("csv feed: column numbers start at 1")
    sep = str(opts["separator"])
    skip = int(opts["skip_lines"])  # type: ignore[call-overload]
    quotechar = opts["quotechar"]

    text = _decoded(lines, str(opts["encoding"]))
    for _ in range(skip):
        if next(text, None) is None:
            break
        counts.lines += 1
        counts.skipped += 1
    reader = csv.reader(text, delimiter=str(opts["delimiter"]),
                        quoting=csv.QUOTE_NONE if quotechar is None else csv.QUOTE_MINIMAL,
                        quotechar=str(quotechar) if quotechar else '"')  # '"': csv's own default
    last = 0
    for row in reader:
        lineno = skip + reader.line_num
        counts.lines += reader.line_num - last
        last = reader.line_num
        if not row or not any(field.strip() for field in row):
            counts.skipped += 1
            continue
        yield from _entry(row, lineno, dom_col, url_col, sep, policy, counts)


def _split_field(row: list[str], col: int | None, sep: str) -> list[str]:
    if col is None or col >= len(row):
        return []
    return [v.strip() for v in row[col].split(sep.strip() or sep) if v.strip()]


def _entry(row: list[str], lineno: int, dom_col: int, url_col: int | None, sep: str, policy: str,
           counts: RuleCounts) -> Iterator[Rule]:
    names: list[str] = []
    masked = False
    for value in _split_field(row, dom_col, sep):
        if is_ip(value):
            counts.ips_ignored += 1
            continue
        if value.startswith("*."):
            masked, value = True, value[2:]
        name = normalise_name(value)
        if name is None:
            counts.note_invalid(lineno)
        else:
            names.append(name)
    urls = _split_field(row, url_col, sep)
    if not masked and url_only(urls):
        yield from reduce_urls(urls, policy, lineno, counts)
        return
    if not names:
        counts.skipped += 1  # IP-only entry: nothing a DNS filter can act on
        return
    for name in dict.fromkeys(names):
        yield counts.note_rule(Rule(name, "block", "subtree", line=lineno))


def url_only(urls: list[str]) -> bool:
    """Whether these URLs (at least one) all name pages below a site's root: DNS cannot block a
    page, only its whole host."""
    return bool(urls) and all(page for _host, page in map(url_host, urls))


def reduce_urls(urls: list[str], policy: str, lineno: int, counts: RuleCounts) -> Iterator[Rule]:
    """A URL-only entry under `url_policy`: "skip" leaves it out (urls_skipped); "host" blocks
    exactly the hosts of its URLs (urls_reduced). Shared by the CSV and registry XML formats."""
    if policy == "skip":
        counts.urls_skipped += 1
        return
    counts.urls_reduced += 1
    hosts = dict.fromkeys(h for h, _page in map(url_host, urls) if h and not is_ip(h))
    for host in hosts:
        name = normalise_name(host)
        if name is None:
            counts.note_invalid(lineno)
        else:
            yield counts.note_rule(Rule(name, "block", "exact", line=lineno))


def looks_like(line: str) -> bool:
    """The z-i layout: at least five `;` fields with a URL or an IP in the usual places."""
    fields = line.split(";")
    return len(fields) >= 5 and ("://" in fields[2] or is_ip(fields[0].split("|")[0].strip()))

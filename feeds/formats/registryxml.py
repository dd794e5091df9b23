"""The registry XML dump national regulators publish (`format = "registry-xml"`), in the layout
of the Russian register of banned resources (`dump.xml`, format 2.x):

    <?xml version="1.0" encoding="windows-1251"?>
    <reg:register updateTime="2026-11-28T12:00:00+03:00" formatVersion="2.4" xmlns:reg="http://rsoc.ru">
      <content id="1" includeTime="2026-01-10T10:00:00" entryType="1" blockType="domain" hash="…">
        <decision date="2026-01-09" number="27-31-2026/Ид1234" org="…"/>
        <domain><![CDATA[shop.example]]></domain>
        <url><![CDATA[http://shop.example/page]]></url>
        <ip>192.0.2.1</ip> <ipSubnet>192.0.2.0/24</ipSubnet> <ipv6>2001:db8::1</ipv6> <ipv6Subnet>2001:db8::/32</ipv6Subnet>
      </content>
    </reg:register>

What an entry blocks follows its `blockType` (what the register's authors mean by it):
- `domain`: the `<domain>` names exactly (the name, not the names below it);
- `domain-mask`: the names and everything below them (`*.shop.example` = shop.example and below);
  a `<domain-mask>` element, or a `*.` name, means the same in any entry;
- `ip`: its `ip`, `ipSubnet`, `ipv6` and `ipv6Subnet` values become response-IP rules (an answer
  pointing into them is blocked; dnsfilter/core/policy/netset.py);
- `default` (or none): a URL block. When every URL names a page below a site's root, DNS cannot
  block the page: the entry follows `url_policy` like the CSV format ("skip" by default, "host":
  exactly the URLs' hosts). Otherwise its `<domain>` names and the hosts of its root URLs are
  blocked exactly.
The addresses listed in `domain`/`default` entries are the register's snapshot of where those
names resolved; blocking them would block every site that shares a host or a CDN address, so
they are counted (`ips_ignored`), not used, unless `ip_policy = "all"`. The root element's
`updateTime` is the version the list declares (`counts.version`).

Streamed chunk by chunk with ElementTree's pull parser, each chunk's entries dropped once read,
so a 100 MB dump parses in bounded memory. Its prolog (up to the root element) is read first by
expat with handlers that refuse a document type declaration and any entity (no external
entities, no expansion bombs: the defusedxml rules); no DTD means no entity can be declared
later. `counts.lines` is the number of `<content>` entries read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from feeds.formats.csvdump import URL_POLICIES, is_ip, reduce_urls, url_host, url_only
from feeds.parsers import normalise_name
from feeds.rules import Rule, RuleCounts

if TYPE_CHECKING:  # imported when a dump is read: OpenWrt's python3-light has no xml (python3-xml)
    from xml.etree.ElementTree import Element

CHUNK = 64 << 10
IP_POLICIES = ("blocktype", "all")
FIELDS = frozenset({"domain", "domain-mask", "url", "ip", "ipSubnet", "ipv6", "ipv6Subnet"})
NETWORK_FIELDS = ("ip", "ipSubnet", "ipv6", "ipv6Subnet")
MAX_VALUE = 4096  # characters kept of one value (a URL can be long; a name is at most 253)
MAX_VALUES = 10_000  # values of one field kept per entry


class RegistryXMLError(ValueError):
    """A dump that is not a registry XML file, or one this parser refuses (a DTD, entities)."""


class _Prolog:
    """Reads the document up to its root element with expat's own handlers, to refuse a
    document type declaration before any of it is processed and to take the root's updateTime.
    (ElementTree's C parser, which reads the rest, offers no hook to refuse a DTD.)"""

    class Done(Exception):
        pass

    def __init__(self) -> None:
        from xml.parsers import expat

        self.expat = expat
        self.p = expat.ParserCreate()
        self.p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.p.StartDoctypeDeclHandler = self.refuse
        self.p.EntityDeclHandler = self.refuse
        self.p.ExternalEntityRefHandler = self.refuse  # type: ignore[assignment]  # raises: never returns
        self.p.StartElementHandler = self.root
        self.attrs: dict[str, str] | None = None

    def refuse(self, *_args: Any) -> None:
        raise RegistryXMLError("registry-xml: the dump has a document type declaration (DTD) or an entity, "
                               "which is refused")

    def root(self, name: str, attrs: dict[str, str]) -> None:
        if name.rpartition(":")[2] != "register":
            raise RegistryXMLError(f"registry-xml: the root element is <{name[:40]}>, not <register>")
        self.attrs = attrs
        raise self.Done()

    def feed(self, data: bytes | str) -> bool:
        """True once the root element has been read."""
        try:
            self.p.Parse(data, False)
        except self.Done:
            return True
        except self.expat.ExpatError as e:
            raise _malformed(e.lineno, e.offset, self.expat.ErrorString(e.code)) from None
        return False


def _malformed(line: int | None, column: int | None, why: str) -> RegistryXMLError:
    return RegistryXMLError(f"registry-xml: not well-formed XML at line {line}, column {column}: {why}")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _rules(el: Element, counts: RuleCounts, url_policy: str, ip_policy: str) -> Iterator[Rule]:
    """The rules of one `<content>` element."""
    c = counts
    v: dict[str, list[str]] = {}
    for child in el:
        tag = _local(child.tag)
        if tag in FIELDS and child.text:
            value = child.text.strip()[:MAX_VALUE]
            values = v.setdefault(tag, [])
            if value and len(values) < MAX_VALUES:
                values.append(value)
    kind = el.get("blockType", "default")
    line = int(el.get("id", "0")) if el.get("id", "").isdigit() else 0  # the register's entry id
    nets = [x for f in NETWORK_FIELDS for x in v.get(f, ())]
    if kind == "ip" or ip_policy == "all":
        for net in nets:
            yield c.note_rule(Rule(net, network=True, line=line))
        if kind == "ip":
            return
    else:
        c.ips_ignored += len(nets)
    names: dict[str, str] = {}  # name -> scope
    for raw, mask in [(d, kind == "domain-mask") for d in v.get("domain", ())] + \
                     [(d, True) for d in v.get("domain-mask", ())]:
        if raw.startswith("*."):
            raw, mask = raw[2:], True
        if (raw[-1:].isdigit() or ":" in raw) and is_ip(raw):
            c.ips_ignored += 1
            continue
        name = normalise_name(raw)
        if name is None:
            c.note_invalid(line)
        elif mask or name not in names:
            names[name] = "subtree" if mask else "exact"
    urls = v.get("url", [])
    if kind not in ("domain", "domain-mask") and urls:
        if url_only(urls) and all(s == "exact" for s in names.values()):
            yield from reduce_urls(urls, url_policy, line, c)
            return
        for url in urls:
            host, page = url_host(url)
            if host and not page and not is_ip(host):
                name = normalise_name(host)
                if name is not None:
                    names.setdefault(name, "exact")
    for name, scope in names.items():
        yield c.note_rule(Rule(name, "block", scope, line=line))


def parse(source: Iterable[str | bytes], counts: RuleCounts, **options: object) -> Iterator[Rule]:
    """Rules of a registry dump: `source` is a binary file (read in chunks, the XML declaration
    names the encoding) or an iterable of str/bytes pieces. Options: `url_policy` ("skip" or
    "host", as for CSV) and `ip_policy` ("blocktype": only `ip` entries' addresses become rules;
    "all": every listed address). Raises RegistryXMLError for a malformed or refused document.
    A rule's `line` is the register's entry id (its `id` attribute): what a reader looks up."""
    url_policy = str(options.get("url_policy") or "skip")
    ip_policy = str(options.get("ip_policy") or "blocktype")
    if url_policy not in URL_POLICIES:
        raise ValueError(f"registry-xml feed: url_policy must be one of {', '.join(URL_POLICIES)}, not {url_policy!r}")
    if ip_policy not in IP_POLICIES:
        raise ValueError(f"registry-xml feed: ip_policy must be one of {', '.join(IP_POLICIES)}, not {ip_policy!r}")
    try:
        from xml.etree import ElementTree as ET
    except ImportError:
        raise RegistryXMLError("registry-xml: Python's xml package is not installed (on OpenWrt: python3-xml)") from None
    read = getattr(source, "read", None)
    pieces: Iterable[str | bytes] = iter(lambda: read(CHUNK), b"") if read is not None else source
    prolog: _Prolog | None = _Prolog()
    pull: Any = ET.XMLPullParser(events=("start", "end"))
    root: Element | None = None
    entries = 0
    try:
        for piece in pieces:
            if prolog is not None and prolog.feed(piece):
                counts.version = (prolog.attrs or {}).get("updateTime", "")[:64]
                prolog = None  # the rest is read by the C parser only
            pull.feed(piece)
            for event, el in pull.read_events():
                if event == "start":
                    root = el if root is None else root
                elif el.tag == "content" or el.tag.endswith("}content"):
                    entries += 1
                    n, noted = counts.rules, (counts.urls_skipped, counts.invalid, counts.ips_ignored)
                    yield from _rules(el, counts, url_policy, ip_policy)
                    if counts.rules == n and noted == (counts.urls_skipped, counts.invalid, counts.ips_ignored):
                        counts.skipped += 1  # an entry with nothing in it a DNS filter can act on
            if root is not None:
                root.clear()  # the entries read so far: memory stays bounded by one chunk
        pull.close()
    except ET.ParseError as e:
        if root is None and prolog is not None and prolog.attrs is None and not entries:
            raise RegistryXMLError("registry-xml: the dump is empty (no root element)") from None
        line, column = e.position
        raise _malformed(line, column, str(e).split(":")[0]) from None
    if root is None:
        raise RegistryXMLError("registry-xml: the dump is empty")
    counts.lines = entries


def looks_like(line: str) -> bool:
    """An XML declaration or the register's root or entry elements."""
    s = line.lstrip("\ufeff").lstrip()
    return s.startswith(("<?xml", "<reg:register", "<register", "<content", "</content", "<decision", "<domain",
                         "<url", "<ip"))

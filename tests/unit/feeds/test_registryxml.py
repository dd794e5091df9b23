"""The registry XML dump format (feeds/formats/registryxml.py) on the synthetic sample in
tests/data/registry: block types map as the register means them, URL entries follow url_policy
as in the CSV format, IP entries become response-IP rules of the compiled set, the encoding the
XML declaration names is honoured, DTDs and entities are refused, a broken dump keeps nothing,
and a large generated dump streams without holding its entries."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from dnsfilter.core.dns.wire import text_to_wire
from dnsfilter.core.policy.matcher import Keys, Matcher
from feeds.compile_rules import compile_feed, load_feed
from feeds.formats import parse_file, resolve_format
from feeds.formats.registryxml import RegistryXMLError, parse
from feeds.rules import RuleCounts
from tests.support.paths import REPO

SAMPLE = REPO / "tests" / "data" / "registry" / "sample.xml"


def rules(path: Path = SAMPLE, **options: object) -> tuple[dict[str, str], list[str], RuleCounts]:
    counts = RuleCounts()
    names, nets = {}, []
    for r in parse_file(path, "registry-xml", counts, **options):
        if r.network:
            nets.append(r.name)
        else:
            names[r.name] = r.scope
    return names, nets, counts


def test_the_sample_maps_each_block_type_as_the_register_means_it() -> None:
    names, nets, c = rules()
    assert names == {
        "casino-royal.example": "exact",  # blockType="domain": the name only
        "mirror-net.example": "subtree",  # domain-mask: *.mirror-net.example
        "whole-site.example": "exact",  # a URL block of a site's root: its host
        "xn--80akaf7agdi6f.xn--80akhbyknj4f": "exact",  # Cyrillic, read from windows-1251, to punycode
        "pirate-bay.example": "subtree", "pirate-proxy.example": "subtree",
    }
    assert nets == ["203.0.113.7", "198.18.0.0/24", "2001:db8:bad::7", "2001:db8:dead::/48"]  # blockType="ip"
    assert "forum.example" not in names and c.urls_skipped == 1  # a page: DNS cannot block it (url_policy skip)
    assert c.ips_ignored == 2  # the addresses of domain/URL entries are where they resolved, not blocks
    assert c.invalid == 1 and c.first_invalid_lines == [108]  # the register's entry id, not a file line
    assert c.version == "2026-11-28T12:00:00+05:00" and c.lines == 8
    assert resolve_format(SAMPLE, "auto") == "registry-xml"


def test_url_policy_host_and_ip_policy_all() -> None:
    names, nets, c = rules(url_policy="host", ip_policy="all")
    assert names["forum.example"] == "exact" and c.urls_reduced == 1
    assert "192.0.2.10" in nets and "198.51.100.20" in nets and c.ips_ignored == 0
    with pytest.raises(ValueError, match="url_policy"):
        rules(url_policy="page")
    with pytest.raises(ValueError, match="ip_policy"):
        rules(ip_policy="some")


def test_the_compiled_set_blocks_names_and_holds_the_networks(tmp_path: Path) -> None:
    stats = compile_feed(SAMPLE, "registry-xml", tmp_path / "r.dset")
    assert stats.entries == 6 and stats.networks == 4 and stats.version.startswith("2026-11-28")
    fs = load_feed(tmp_path / "r.dset")
    m = Matcher({"r": fs})

    def blocked(name: str) -> bool:
        return m.block(Keys(text_to_wire(name))) is not None

    assert blocked("casino-royal.example") and not blocked("www.casino-royal.example")
    assert blocked("mirror-net.example") and blocked("a.b.mirror-net.example")
    assert not blocked("forum.example")
    assert fs.nets is not None
    assert fs.nets.has(ipaddress.ip_address("198.18.0.200").packed)
    assert fs.nets.has(ipaddress.ip_address("2001:db8:dead:1::1").packed)
    assert not fs.nets.has(ipaddress.ip_address("192.0.2.10").packed)  # a domain entry's address


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<reg:register xmlns:reg="http://rsoc.ru"><content blockType="domain"><domain>&lol2;.example</domain></content></reg:register>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<reg:register xmlns:reg="http://rsoc.ru"><content blockType="domain"><domain>&x;</domain></content></reg:register>
"""


@pytest.mark.parametrize("doc", [BOMB, EXTERNAL, b'<?xml version="1.0"?>\n<!DOCTYPE reg:register SYSTEM "x.dtd">\n'
                                 b'<reg:register xmlns:reg="http://rsoc.ru"/>'], ids=["bomb", "external", "dtd"])
@pytest.mark.parametrize("piece", [7, 1 << 16])
def test_dtds_and_entities_are_refused(doc: bytes, piece: int) -> None:
    pieces = [doc[i : i + piece] for i in range(0, len(doc), piece)]
    with pytest.raises(RegistryXMLError, match="DTD"):
        list(parse(pieces, RuleCounts()))


@pytest.mark.parametrize(("doc", "why"), [
    (b"", "empty"),
    (b"<html><body>not a register</body></html>", "root element"),
    (b'<reg:register xmlns:reg="http://rsoc.ru"><content blockType="domain"><domain>a.example</domain>',
     "not well-formed"),
    (b'<reg:register xmlns:reg="http://rsoc.ru"><content>&undefined;</content></reg:register>', "not well-formed"),
])
def test_broken_dumps_are_refused_with_a_reason(tmp_path: Path, doc: bytes, why: str) -> None:
    with pytest.raises(RegistryXMLError, match=why):
        list(parse([doc], RuleCounts()))
    (tmp_path / "d.xml").write_bytes(doc)
    with pytest.raises(ValueError):
        compile_feed(tmp_path / "d.xml", "registry-xml", tmp_path / "d.dset")
    assert not (tmp_path / "d.dset").exists()


def _peak_kb(dump: Path) -> tuple[int, int, int]:
    code = ("import resource,sys;from feeds.formats import parse_file;from feeds.rules import RuleCounts;"
            "c=RuleCounts();n=sum(1 for _ in parse_file(sys.argv[1],'registry-xml',c));"
            "print(n,c.lines,resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, str(dump)], capture_output=True, text=True, cwd=REPO,
                         timeout=300, check=True).stdout.split()
    rules_n, entries, peak = map(int, out)
    return rules_n, entries, peak


def test_a_large_dump_streams_in_bounded_memory(tmp_path: Path) -> None:
    """A 200k-entry dump (~45 MB) and a 20k one, each parsed in a child: the peak RSS of the big
    one is within a few MB of the small one's, so memory does not grow with the dump (entries
    are dropped chunk by chunk; holding them would take hundreds of MB)."""
    from tests.support.registry import write_dump

    small, big = tmp_path / "small.xml", tmp_path / "big.xml"
    write_dump(small, 20_000)
    write_dump(big, 200_000)
    _n, entries_small, peak_small = _peak_kb(small)
    rules_n, entries, peak_big = _peak_kb(big)
    assert entries_small == 20_000 and entries == 200_000 and rules_n > 150_000
    assert peak_big - peak_small < 8 << 10, (peak_small, peak_big, big.stat().st_size)


def test_without_the_xml_package_other_formats_still_work(tmp_path: Path) -> None:
    """OpenWrt's python3-light has no xml (python3-xml): only a registry dump needs it."""
    (tmp_path / "l.txt").write_text("a.example\n")
    code = ("import sys;sys.modules['xml']=None;sys.modules['pyexpat']=None\n"
            "from feeds.compile_rules import compile_feed\n"
            f"print(compile_feed({str(tmp_path / 'l.txt')!r},'domains',{str(tmp_path / 'l.dset')!r}).entries)\n"
            "try:\n"
            f"    compile_feed({str(SAMPLE)!r},'registry-xml',{str(tmp_path / 'r.dset')!r})\n"
            "except ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                         check=True).stdout.splitlines()
    assert out == ["1", "registry-xml: Python's xml package is not installed (on OpenWrt: python3-xml)"]

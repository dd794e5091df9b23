"""Write the seed corpora: `python -m tests.fuzz.seeds` (re)creates tests/fuzz/corpus/TARGET/.

Seeds are small valid inputs of each kind, plus the edge cases the project's tests know about,
so the fuzzer starts from inputs that reach deep into each parser. The files are committed;
this script says where they came from and rebuilds them after a format gains a feature."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnsfilter.core.dns import wire
from tests.fuzz.targets import _QUESTIONS
from tests.support.paths import REPO

CORPUS = Path(__file__).resolve().parent / "corpus"


def _queries() -> list[bytes]:
    out = []
    names = ["www.example.com", "ADS.test", "x.tracker.test", "banned.test", "deny.test", "ok.ads.test",
             "localhost", "dnsfilter.lan", "4.3.2.10.in-addr.arpa", "resolver.arpa", "use-application-dns.net",
             "www.google.kz", "x" * 63 + ".test", "."]
    types = ["A", "AAAA", "HTTPS", "MX", "PTR", "TXT", "AXFR", "ANY", "SOA", "MAILA", "OPT"]
    for i, name in enumerate(names):
        for j, t in enumerate(types[: 3 + i % 6]):
            m = dns.message.make_query(name, t, use_edns=0 if (i + j) % 3 else None,
                                       want_dnssec=bool(j % 2), payload=[512, 1232, 4096][j % 3])
            m.id = i * 100 + j
            if j == 2:
                m.flags |= dns.flags.CD
            if (i, j) == (1, 1):
                m.use_edns(0, options=[dns.edns.GenericOption(10, b"01234567"), dns.edns.GenericOption(65001, b"x")])
            out.append(m.to_wire())
    m = dns.message.make_query("v1.test", "A", use_edns=1)
    out.append(m.to_wire())
    # The repro: an OPT record owned by `a.`, not the root.
    out.append(bytes.fromhex("1234010000010000000000010377777704746573740000010001016100002904d0000000000000"))
    out.append(wire.build_query(9, wire.text_to_wire("www.example.com"), 1, do=True))
    two = bytearray(wire.build_query(10, wire.text_to_wire("two.test"), 1))
    two[5] = 2  # QDCOUNT 2
    out.append(bytes(two))
    out.append(bytes(12))
    return out


def _answer(q: wire.Question, an: list[str] = (), ns: list[str] = (), ar: list[str] = (),  # type: ignore[assignment]
            rcode: int = 0, tc: bool = False) -> bytes:
    m = dns.message.make_query(dns.name.from_wire(q.qname, 0)[0], q.qtype, use_edns=0, want_dnssec=q.do)
    r = dns.message.make_response(m)
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    for section, lines in ((r.answer, an), (r.authority, ns), (r.additional, ar)):
        for line in lines:
            section.append(dns.rrset.from_text(*line.split(None, 3)[:1], *_ttl_type(line)))
    return r.to_wire(max_size=65535)


def _ttl_type(line: str) -> tuple[int, str, str, str]:
    _name, ttl, rtype, rdata = line.split(None, 3)
    return int(ttl), "IN", rtype, rdata


def _upstream() -> list[bytes]:
    out = []
    for i, q in enumerate(_QUESTIONS):
        name = dns.name.from_wire(q.qname, 0)[0].to_text()
        t = dns.rdatatype.to_text(q.qtype)
        data = {"A": "192.0.2.1", "AAAA": "2001:db8::1", "HTTPS": '1 . alpn="h2" ipv4hint=192.0.2.2',
                "MX": f"10 mail.{name}", "TXT": '"hello" "world"', "NS": f"ns1.{name}"}[t]
        soa = "example.test. 300 SOA ns.example.test. h.example.test. 1 7200 3600 1209600 300"
        seeds = [
            _answer(q, [f"{name} 300 {t} {data}"]),
            _answer(q, [f"{name} 300 CNAME a.cdn.test.", "a.cdn.test. 60 CNAME b.cdn.test.", f"b.cdn.test. 30 {t} {data}"],
                    ["cdn.test. 300 NS ns1.cdn.test."], ["ns1.cdn.test. 300 A 192.0.2.53"]),
            _answer(q, [f"{name} 300 {t} {data}", "victim-an.other. 300 A 6.6.6.6"],
                    ["other. 300 NS ns.evil.", soa], ["ns.evil. 300 A 6.6.6.6", "victim-ar.other. 300 A 6.6.6.6"]),
            _answer(q, [], [soa], rcode=3),
            _answer(q, [], [soa]),
            _answer(q, [], [], tc=True),
            _answer(q, [], [], rcode=2),
        ]
        if t == "MX":
            seeds.append(_answer(q, [f"{name} 300 MX 10 mail.{name}"], [], [f"mail.{name} 300 A 192.0.2.25",
                                                                             "other.test. 300 A 6.6.6.6"]))
        if t == "TXT":
            seeds.append(_answer(q, [f'{name} 300 TXT "{"x" * 200}"'] * 1 + [f'{name} 300 TXT "{n}{"y" * 250}"'
                                                                           for n in range(15)]))
        if i == 0:
            seeds.append(_answer(q, ["example.test. 300 DNAME example.net.",
                                     f"{name} 300 CNAME www.example.net.", "www.example.net. 300 A 192.0.2.7"]))
            seeds.append(_answer(q, [f"{name} 300 A 192.0.2.1",
                                     f"{name} 300 RRSIG A 13 3 300 20300101000000 20200101000000 12345 example.test. "
                                     "AAAA"],
                                 ["example.test. 300 NSEC z.example.test. A RRSIG NSEC",
                                  "evil.other. 300 NSEC zz.other. A"]))
        out += [bytes((i,)) + s for s in seeds]
    return out


FEEDS = {
    "adblock": [
        "[Adblock Plus 2.0]\n! Title: test\n||ads.example^\n@@||ok.ads.example^\n|exact.example^\n.below.example^\n"
        "||x.example^$important\n||y.example^$dnstype=AAAA|~A\n||z.example^$client=192.168.1.0/24|'Laptop'\n"
        "||w.example^$denyallow=a.w.example|b.w.example\n/^ad[0-9]+\\./\n||ad*.example^\n||v.example^$badfilter\n"
        "||v.example^\n0.0.0.0 hosts.example\nexample.org##.banner\n||пример.испытание^\n",
        "/(?i)track/\n/^(a|b)+$/\n||*.cdn.example^\n||a.*.example^$dnstype=A\n@@/good/$important\n",
    ],
    "dnsmasq": ["address=/ads.example/0.0.0.0\nserver=/local.example/\naddress=/x.example/#\n"
                "local=/corp.example/\naddress=/a.example/b.example/::\n# comment\nserver=/ok.example/#\n"],
    "rpz": ["$TTL 300\n$ORIGIN rpz.example.\n@ SOA ns. h. 1 2 3 4 5\n@ NS ns.\nads.example CNAME .\n"
            "*.ads.example CNAME .\nok.example CNAME rpz-passthru.\nx.example 300 IN CNAME *.\n"
            "drop.example CNAME rpz-drop.\nred.example A 192.0.2.1\nbad..example CNAME .\n"],
    "csv": ["\x00Updated: 2026-11-28 12:00:00 +0000\n192.0.2.1 | 192.0.2.2;shop.example;"
            "http://shop.example/page/1.html | http://shop.example/x;AUTH;1;2026-01-01\n"
            ";*.mask.example;;AUTH;2;2026-01-02\n192.0.2.9;;;AUTH;3;2026-01-03\n;Пример.рф;https://пример.рф/;A;4;2026\n",
            "\x03Updated\n\"1.2.3.4\";\"q.example\";\"http://q.example/\";\"a\";\"b\";\"c\"\n"],
    "sha256": ["# sha256 of names\n" + "\n".join(hashlib.sha256(n.encode()).hexdigest()
                                                  for n in ("bad.example", "worse.example")) + "\n"],
    "hosts": ["127.0.0.1 localhost\n::1 localhost\n0.0.0.0 ads.example tracker.example # c\n"
              "127.0.0.1 x.example\n0.0.0.0 0.0.0.0\n",
              "ads.example\n# comment\n*.wild.example\n||adblockish.example^\nbad_name.example\n10.0.0.1\n"],
}


def main() -> None:
    corp: dict[str, list[bytes]] = {
        "query": _queries(),
        "engine": [bytes((k * 37 % 256,)) + q for k, q in enumerate(_queries())]
        + [bytes((0x81,)) + q for q in _queries()[:6]],
        "upstream": _upstream(),
        "uci": [(REPO / "deploy/openwrt/files/dnsfilter.config").read_bytes(),
                b"package dnsfilter\nconfig dnsfilter 'main'\n\toption port \"5353\" ; list upstream '9.9.9.9'\n"
                b"config profile 'kids'\n\toption name 'Kids'\n\tlist block_category ads\n"
                b"config schedule\n\toption profile 'kids'\n\tlist day weekdays\n\toption from '21:00'\n"
                b"\toption to '07:00'\nconfig device\n\toption mac 'aa:bb:cc:dd:ee:ff'\n\toption profile kids\n"],
        "config": [(REPO / "config.example.toml").read_bytes(),
                   b'[dns]\nlisten = ["127.0.0.1:5353"]\nupstreams = ["9.9.9.9", "tls://1.1.1.1"]\n'
                   b'[[profiles]]\nname = "Kids"\nblock_categories = ["ads"]\n[[devices]]\nip = "192.168.1.5"\n'
                   b'profile = "Kids"\n'],
    }
    for fmt, texts in FEEDS.items():
        corp[fmt] = [t.encode() for t in texts]
    for name, seeds in corp.items():
        d = CORPUS / name
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for data in seeds:
            (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        print(f"{name}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()

"""The cache miss's shortcuts give what the full path gives, byte for byte: `parse_response`
stepping over owner names that point at the question (against its walk that reads every name),
and `scrub`'s shortcut for the common negative answers and CNAME chains (against
`scrub_full`). Run on real answers from a loopback Unbound resolving from a second, authoritative
Unbound, and from NSD (authoritative: NS records and glue), and on hostile variants of them: every pointer re-aimed at every offset (the header,
TTL fields, rdata), records moved to other classes, foreign owners, bytes flipped."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import pytest

from dnsfilter.core.dns import scrub, wire
from dnsfilter.core.dns.wire import Response, WireError
from tests.support.nsd import Nsd
from tests.support.unbound import EXAMPLE_ZONE, Unbound

UPSTREAM = Path(__file__).resolve().parents[3] / "fuzz" / "regressions" / "upstream"
CORPUS = Path(__file__).resolve().parents[3] / "fuzz" / "corpus" / "upstream"

A63, B63, C63 = "a" * 63, "b" * 63, "c" * 63
ZONES = {
    # the tests' zone, with a second name server: a name in one record's data can run on into
    # the next record's TTL
    "example.test.": EXAMPLE_ZONE + "\nexample.test. 3600 IN NS ns2.example.test.\nns2.example.test. 3600 IN A 127.0.0.2",
    # long labels: a length byte turned into another label type still leaves the name inside its data
    "l.test.": "\n".join([f"l.test. 300 IN SOA ns.{A63}.l.test. h.{B63}.l.test. 1 3600 600 86400 300",
                          f"l.test. 300 IN NS ns.{A63}.l.test.", f"ns.{A63}.l.test. 300 IN A 127.0.0.1",
                          f"c.l.test. 300 IN CNAME {C63}.{A63}.l.test.", f"{C63}.{A63}.l.test. 300 IN A 192.0.2.3",
                          f"m.l.test. 300 IN MX 10 {B63}.l.test."]),
}
QUESTIONS = [("nope.example.test", "A"), ("NoPe.ExAmple.test", "AAAA"), ("www.example.test", "TXT"),
             ("www.example.test", "A"), ("www.example.test", "AAAA"), ("alias.example.test", "A"),
             ("alias.example.test", "AAAA"), ("chain1.example.test", "A"), ("CHAIN1.example.TEST", "AAAA"),
             ("mx.example.test", "MX"), ("example.test", "NS"), ("example.test", "SOA"), ("txt.example.test", "TXT"),
             ("deep.nope.example.test", "HTTPS"), ("example.test", "A"), ("nope.l.test", "A"), ("c.l.test", "A"),
             ("c.l.test", "TXT"), ("m.l.test", "MX"), ("l.test", "NS"), ("l.test", "SOA")]


def reference_parse(buf: bytes) -> Response:
    """parse_response without its shortcuts: every name read with read_name."""
    return wire.parse_response(buf, full=True)


@pytest.fixture(scope="module")
def real_answers() -> list[bytes]:
    """What a resolver sends: Unbound recursing (CNAME chains followed, names compressed as it
    compresses them) into an authoritative Unbound for example.test, over loopback."""
    out = []
    with Unbound(ZONES) as auth:
        extra = ('  do-not-query-localhost: no\n  local-zone: "test." transparent\n'
                 + "".join(f'stub-zone:\n  name: "{zone}"\n  stub-addr: 127.0.0.1@{auth.port}\n' for zone in ZONES))
        with Unbound(zones={"x.invalid.": "x.invalid. 300 IN SOA a. b. 1 2 3 4 5"}, extra=extra) as ub:
            for do in (False, True):
                for name, rdtype in QUESTIONS:
                    q = dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=do)
                    out.append(ask(q.to_wire(), ub.port))
    # An authoritative server's answers, as the benchmark's upstream sends them: the zone's NS
    # records come along, and their addresses (glue) in the additional section
    with Nsd(ZONES) as ns:
        for name, rdtype in QUESTIONS:
            out.append(ask(dns.message.make_query(name, rdtype, use_edns=0).to_wire(), ns.port))
    return out


def ask(query: bytes, port: int) -> bytes:
    """The answer's bytes as they came (a dnspython Message would compress them its own way)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query, ("127.0.0.1", port))
        return s.recv(65535)


def compare(buf: bytes) -> tuple[bool, bool] | None:
    """Check one message; (shortcut said "as sent", the full path kept it as sent), or None
    when it does not parse."""
    try:
        ref = reference_parse(buf)
    except WireError as e:
        with pytest.raises(WireError) as got:
            wire.parse_response(buf)
        assert str(got.value) == str(e)
        return None
    r = wire.parse_response(buf)
    assert r.records == ref.records
    assert (r.id, r.flags, r.rcode, r.qname, r.qtype, r.qclass, r.question_end, r.counts, r.edns, r.opt_span) == (
        ref.id, ref.flags, ref.rcode, ref.qname, ref.qtype, ref.qclass, ref.question_end, ref.counts, ref.edns,
        ref.opt_span)
    full = scrub.scrub_full(buf, ref)
    fast = scrub.scrub(buf, r)
    assert fast == full
    assert (fast is buf) == (full is buf)
    said = bool(r.records) and scrub._as_sent(buf, r)
    if said:
        assert full is buf
    return said, full is buf


def variants(buf: bytes, rng: random.Random) -> Iterator[bytes]:
    """Hostile variants of an answer."""
    n = len(buf)
    for i in range(12, n - 1):  # every pointer (and every byte that could be one) aimed everywhere
        if buf[i] >= 0xC0:
            for to in range(0, min(n, 0x3FFF)):
                yield buf[:i] + bytes((0xC0 | to >> 8, to & 0xFF)) + buf[i + 2:]
    for i in range(12, n):  # label types other than length and pointer; lengths that run on
        for value in (0x00, 0x3F, 0x40, 0x80, 0xBF):
            yield buf[:i] + bytes((value,)) + buf[i + 1:]
        if buf[i] < 64:
            for more in (1, 2, 4, 6, 8, 10, 12, 16, 24):
                yield buf[:i] + bytes((min(buf[i] + more, 63),)) + buf[i + 1:]
    try:
        r = reference_parse(buf)
    except WireError:
        return
    for rec in r.records:  # each record in another class, of another type
        cls = rec.ttl_off - 2
        for value in (3, 255, 254):
            yield buf[:cls] + value.to_bytes(2, "big") + buf[cls + 2:]
        for rtype in (wire.T_SOA, wire.T_NS, wire.T_CNAME, wire.T_DNAME, wire.T_A, wire.T_RRSIG, 47, wire.T_MX):
            yield buf[:cls - 2] + rtype.to_bytes(2, "big") + buf[cls:]
        yield buf[:rec.ttl_off - 5] + b"\x00" + buf[rec.ttl_off - 4:]  # a pointer's low byte
    for _ in range(300):  # bytes flipped
        b = bytearray(buf)
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(12, n)] = rng.randrange(256)
        yield bytes(b)


def foreign(buf: bytes) -> Iterator[bytes]:
    """The answer with a record owned by someone else added to each section, or with its
    answer records moved to the authority section."""
    m = dns.message.from_wire(buf)
    for section in ("answer", "authority", "additional"):
        for text in ("victim.other. 300 IN A 6.6.6.6", "other. 300 IN SOA ns.evil. h.evil. 1 2 3 4 5",
                     "example.test. 300 IN NS ns.evil.", "test. 300 IN NS ns.evil."):
            m2 = dns.message.from_wire(buf)
            name, ttl, rdclass, rdtype, rdata = text.split(None, 4)
            getattr(m2, section).append(dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata))
            yield m2.to_wire(max_size=65535)
    if m.answer:
        m2 = dns.message.from_wire(buf)
        m2.authority.extend(m2.answer)
        m2.answer = []
        yield m2.to_wire(max_size=65535)


def test_real_answers_take_the_shortcut_and_equal_the_full_path(real_answers: list[bytes]) -> None:
    said = [compare(buf) for buf in real_answers]
    assert None not in said
    # The shapes the shortcut is for are there, and it takes them: the negative answers
    # (NXDOMAIN and NODATA with the zone's SOA) and the CNAME chains.
    shapes: dict[str, list[tuple[bool, bool] | None]] = {}
    for buf, s in zip(real_answers, said, strict=True):
        r = wire.parse_response(buf)
        # (an SOA question's glue is owned by a pointer into the SOA's data, where the server
        # wrote the host's name first: the full path decides those)
        kind = ("glue" if r.counts[2] and r.qtype != wire.T_SOA else "chain" if any(rec.rtype == wire.T_CNAME for rec in r.records)
                else "negative" if not r.counts[0] and r.counts[1] else "other")
        shapes.setdefault(kind, []).append(s)
    assert shapes["negative"] and all(s == (True, True) for s in shapes["negative"])
    assert shapes["chain"] and all(s == (True, True) for s in shapes["chain"])
    # answers with the zone's NS records and their addresses (glue) in the additional section
    assert len(shapes["glue"]) > 10 and all(s == (True, True) for s in shapes["glue"]), shapes["glue"]


def test_hostile_variants_give_the_full_paths_bytes(real_answers: list[bytes]) -> None:
    rng = random.Random(15)
    seen = taken = rewritten = 0
    for buf in real_answers:
        for v in variants(buf, rng):
            got = compare(v)
            if got is not None:
                seen += 1
                taken += got[0]
                rewritten += not got[1]
    # The variants reach the shortcut, and many are ones the full path must rewrite.
    assert seen > 40_000 and taken > 20_000 and rewritten > 10_000


def test_foreign_owners_and_moved_records_give_the_full_paths_bytes(real_answers: list[bytes]) -> None:
    kept = 0
    for buf in real_answers:
        for v in foreign(buf):
            got = compare(v)
            assert got is not None
            kept += got[1]
    assert kept  # a foreign record is dropped; an NS of the zone itself is not


def test_fuzz_inputs_give_the_full_paths_bytes() -> None:
    files = sorted(CORPUS.iterdir()) + sorted(UPSTREAM.iterdir())
    assert files
    for f in files:
        compare(f.read_bytes()[1:])  # the first byte picks the fuzzer's question


def test_question_names_at_and_over_the_limit() -> None:
    """The question read as a slice keeps read_name's limit: 255 octets read, 256 do not."""
    for size, reads in ((255, True), (256, False), (321, False)):
        labels = [b"a" * 63] * ((size - 1) // 64)
        rest = size - 1 - 64 * len(labels)
        if rest:
            labels.append(b"b" * (rest - 1))
        name = wire.labels_to_wire(labels)
        assert len(name) == size
        msg = wire.header(7, wire.F_QR, 1, 0, 1, 0) + name + b"\x00\x01\x00\x01" + wire.rr(
            wire.T_SOA, 300, b"\x00\x00" + bytes(20), owner=b"\xc0\x0c")
        assert (compare(msg) is not None) == reads

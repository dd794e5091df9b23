"""The fast-path question reader against dnslib on thousands of generated packets, plus
property tests and the malformed-packet table."""

from __future__ import annotations

import random
import struct

import dnslib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core import wire
from dnsfilter.core.wire import WireError, parse_query, parse_response

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def random_name(rng: random.Random) -> str:
    labels = []
    total = 1
    for _ in range(rng.randint(1, 8)):
        n = rng.choice([1, 2, 5, 10, 20, 63]) if rng.random() < 0.3 else rng.randint(1, 15)
        if total + n + 1 > 255:
            break
        labels.append("".join(rng.choice(ALPHABET) for _ in range(n)))
        total += n + 1
    return ".".join(labels)


def test_reader_agrees_with_dnslib_on_generated_packets():
    rng = random.Random(20261128)
    for _ in range(5000):
        name = random_name(rng)
        q = dnslib.DNSRecord(dnslib.DNSHeader(id=rng.randrange(65536), rd=rng.random() < 0.9,
                                              cd=rng.random() < 0.1),
                             q=dnslib.DNSQuestion(name, rng.choice([1, 28, 15, 16, 65, 64, 12, 255, 33, 2]),
                                                  rng.choice([1, 1, 1, 3, 255])))
        edns = rng.random() < 0.6
        if edns:
            q.add_ar(dnslib.EDNS0(udp_len=rng.choice([512, 1232, 4096, 65535]),
                                  flags="do" if rng.random() < 0.3 else ""))
        data = q.pack()
        ours = parse_query(data)
        ref = dnslib.DNSRecord.parse(data)
        assert ours.id == ref.header.id
        assert ours.qtype == ref.q.qtype and ours.qclass == ref.q.qclass
        assert ours.name == str(ref.q.qname).rstrip(".").lower()
        assert ours.question == data[12 : 12 + len(ours.question)]
        assert bool(ours.flags & wire.F_RD) == bool(ref.header.rd)
        assert ours.cd == bool(ref.header.cd)
        if edns:
            opt = [r for r in ref.ar if r.rtype == 41][0]
            assert ours.edns is not None and ours.edns.payload == max(opt.rclass, 512)
            assert ours.do == bool(opt.ttl & 0x8000)
        else:
            assert ours.edns is None and ours.max_udp() == 512


@settings(max_examples=300, deadline=None)
@given(name=st.from_regex(r"[a-zA-Z0-9-]{1,20}(\.[a-zA-Z0-9-]{1,20}){0,5}", fullmatch=True),
       qid=st.integers(0, 65535), qtype=st.integers(1, 65535), do=st.booleans())
def test_build_then_read_round_trip(name, qid, qtype, do):
    data = wire.build_query(qid, wire.text_to_wire(name), qtype, do=do)
    q = parse_query(data)
    assert (q.id, q.qtype, q.qclass, q.do, q.name) == (qid, qtype, 1, do, name.lower())
    assert q.qname == wire.text_to_wire(name)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_reader_only_ever_raises_wire_error(data):
    try:
        parse_query(data)
    except WireError:
        pass
    try:
        parse_response(data)
    except WireError:
        pass


GOOD = wire.build_query(0x1234, wire.text_to_wire("www.example.com"), 1)
HDR = struct.Struct(">HHHHHH")


def with_header(flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 1, body: bytes | None = None):
    return HDR.pack(0x1234, flags, qd, an, ns, ar) + (GOOD[12:] if body is None else body)


@pytest.mark.parametrize(("data", "rcode"), [
    (b"", None), (GOOD[:11], None),  # shorter than a header: dropped
    (with_header(flags=0x8100), None),  # a response sent to the server: dropped
    (with_header(flags=0x2900), wire.RCODE_NOTIMP),  # opcode UPDATE
    (with_header(qd=0), wire.RCODE_FORMERR), (with_header(qd=2), wire.RCODE_FORMERR),
    (with_header(an=1), wire.RCODE_FORMERR),
    (GOOD[:20], wire.RCODE_FORMERR),  # truncated name
    (with_header(ar=0, body=b"\x40abc\x00\x00\x01\x00\x01"), wire.RCODE_FORMERR),  # label type 01
    (with_header(ar=0, body=b"\x80abc\x00\x00\x01\x00\x01"), wire.RCODE_FORMERR),  # label type 10
    (with_header(ar=0, body=b"\xc0\x0c\x00\x01\x00\x01"), wire.RCODE_FORMERR),  # compression loop
    (with_header(ar=0, body=b"\x3f" + b"a" * 63 + b"\x3f" + b"b" * 63 + b"\x3f" + b"c" * 63 + b"\x3f" + b"d" * 63
                 + b"\x00\x00\x01\x00\x01"), wire.RCODE_FORMERR),  # 257 octets
    (with_header(ar=2, body=GOOD[12:] + GOOD[-11:]), wire.RCODE_FORMERR),  # two OPT records
    (GOOD[:-3], wire.RCODE_FORMERR),  # truncated OPT
])
def test_malformed_queries(data, rcode):
    with pytest.raises(WireError) as e:
        parse_query(data)
    assert e.value.rcode == rcode


def test_response_walker_finds_ttls_and_opt():
    q = dnslib.DNSRecord.question("www.example.com", "A")
    r = q.reply()
    r.add_answer(*dnslib.RR.fromZone("www.example.com. 300 CNAME edge.example.net."))
    r.add_answer(*dnslib.RR.fromZone("edge.example.net. 60 A 192.0.2.1"))
    r.add_auth(*dnslib.RR.fromZone("example.net. 3600 NS ns.example.net."))
    r.add_ar(dnslib.EDNS0(udp_len=1232))
    r.add_ar(*dnslib.RR.fromZone("ns.example.net. 120 A 192.0.2.53"))
    data = r.pack()
    walked = parse_response(data)
    assert [rec.ttl for rec in walked.records] == [300, 60, 3600, 120]
    for rec in walked.records:
        assert struct.unpack_from(">I", data, rec.ttl_off)[0] == rec.ttl
    assert walked.edns is not None and walked.counts == (2, 1, 1)
    assert wire.rdata_name(data, walked.records[0]) == wire.text_to_wire("edge.example.net")

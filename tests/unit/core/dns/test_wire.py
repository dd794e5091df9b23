"""dnsfilter.core.dns.wire: the query reader against dnslib on generated packets, property tests,
the malformed-packet table, and the response walker on dnslib-built answers."""

from __future__ import annotations

import ipaddress
import random
import struct

import dns.name
import dnslib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.wire import WireError, parse_query, parse_response, read_name

LDH = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
ODD = b".\\ \"();@$\x00\x7f\t"
MULTI = [c.encode() for c in "\u00e9\u0416\u20ac\U0001f600\u00c9"]


# ---------------------------------------------------------------- generators


def random_label(rng: random.Random, size: int) -> bytes:
    mode = rng.random()
    if mode < 0.75:  # host-like, mixed case
        return bytes(rng.choice(LDH) for _ in range(size))
    if mode < 0.9:  # mostly letters with escapes needed (dots, backslashes, spaces, NULs)
        return bytes(rng.choice(LDH + ODD) for _ in range(size))
    # Any bytes dnslib accepts (it insists on UTF-8): controls, NUL, DEL and multi-byte characters.
    out = bytearray()
    while len(out) < size:
        piece = rng.choice(MULTI) if rng.random() < 0.3 else bytes((rng.randrange(128),))
        out += piece if len(out) + len(piece) <= size else b"x"
    return bytes(out)


def random_labels(rng: random.Random) -> list[bytes]:
    shape = rng.random()
    if shape < 0.03:
        return []  # the root
    if shape < 0.15:  # exactly 255 octets on the wire: 3 x 63 + 61 + length bytes + root
        return [random_label(rng, 63) for _ in range(3)] + [random_label(rng, 61)]
    if shape < 0.25:  # 63-octet labels
        return [random_label(rng, 63) for _ in range(rng.randint(1, 3))]
    labels: list[bytes] = []
    total = 1
    for _ in range(rng.randint(1, 10)):
        n = rng.randint(1, 20)
        if total + n + 1 > 255:
            break
        labels.append(random_label(rng, n))
        total += n + 1
    return labels


def wire_len(labels: list[bytes]) -> int:
    return sum(len(lab) + 1 for lab in labels) + 1


def random_query(rng: random.Random) -> tuple[bytes, dict]:
    labels = random_labels(rng)
    assert wire_len(labels) <= 255
    qid = rng.randrange(65536)
    qtype = rng.choice([1, 28, 15, 16, 65, 64, 12, 255, 33, 2, 6]) if rng.random() < 0.7 else rng.randrange(65536)
    qclass = rng.choice([1, 3, 255]) if rng.random() < 0.7 else rng.randrange(65536)
    # Random flags with QR = 0 and opcode = 0: AA TC RD RA Z AD CD and the rcode nibble.
    flags = rng.randrange(65536) & ~(wire.F_QR | wire.OPCODE_MASK)
    rec = dnslib.DNSRecord(dnslib.DNSHeader(id=qid), q=dnslib.DNSQuestion(dnslib.DNSLabel(labels), qtype, qclass))
    edns = rng.random() < 0.6
    do = rng.random() < 0.4
    payload = rng.choice([0, 100, 512, 1232, 4096, 65535, rng.randrange(65536)])
    extra_before = edns and rng.random() < 0.1
    if extra_before:  # an unrelated additional record before the OPT (read and skipped)
        rec.add_ar(dnslib.RR("x.example", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.1"), ttl=5))
    if edns:
        rec.add_ar(dnslib.EDNS0(udp_len=payload, flags="do" if do else ""))
    data = bytearray(rec.pack())
    struct.pack_into(">H", data, 2, flags)
    return bytes(data), {"labels": labels, "id": qid, "flags": flags, "qtype": qtype, "qclass": qclass,
                         "edns": edns, "do": do, "payload": payload}


def test_parse_query_agrees_with_dnslib_on_generated_packets():
    rng = random.Random(0xD15F)
    n_255 = n_63 = n_odd = n_edns = 0
    for _ in range(6000):
        data, want = random_query(rng)
        ours = parse_query(data)
        ref = dnslib.DNSRecord.parse(data)
        # Header
        assert ours.id == ref.header.id == want["id"]
        assert ours.flags == want["flags"] == ref.header.bitmap
        assert ours.cd == bool(ref.header.cd)
        # Question: type, class, the name (lower-cased wire form and text), the bytes as sent
        assert ours.qtype == ref.q.qtype == want["qtype"]
        assert ours.qclass == ref.q.qclass == want["qclass"]
        ref_labels = list(ref.q.qname.label)
        assert ref_labels == want["labels"]
        assert ours.qname == wire.labels_to_wire([lab.lower() for lab in ref_labels])
        assert ours.question == data[12 : 12 + wire_len(ref_labels) + 4]
        assert ours.question[:-4] == wire.labels_to_wire(ref_labels)  # 0x20 case kept
        # The text form is unambiguous: dnspython reads it back to the same wire name.
        assert dns.name.from_text(ours.name + ".").to_wire() == ours.qname
        # EDNS
        opts = [r for r in ref.ar if r.rtype == dnslib.QTYPE.OPT]
        if want["edns"]:
            n_edns += 1
            assert ours.edns is not None and len(opts) == 1
            assert ours.do == bool(opts[0].edns_do) == want["do"]
            assert ours.edns.payload == max(opts[0].edns_len, 512) == max(want["payload"], 512)
            assert ours.edns.version == opts[0].edns_ver == 0
            assert ours.max_udp() == min(max(want["payload"], 512), 1232)
        else:
            assert ours.edns is None and not opts and not ours.do and ours.max_udp() == 512
        n_255 += wire_len(ref_labels) == 255
        n_63 += any(len(lab) == 63 for lab in ref_labels)
        n_odd += any(set(lab) - set(LDH) for lab in ref_labels)
    # The generator covered the interesting shapes.
    assert n_255 > 300 and n_63 > 600 and n_odd > 500 and n_edns > 3000


# ---------------------------------------------------------------- properties

label_st = st.binary(min_size=1, max_size=63)
labels_st = st.lists(label_st, max_size=8).filter(lambda ls: wire_len(ls) <= 255)


@given(labels=labels_st, qid=st.integers(0, 65535), qtype=st.integers(0, 65535), qclass=st.integers(0, 65535),
       rd=st.booleans(), do=st.booleans(), cd=st.booleans(), payload=st.integers(0, 65535))
@settings(max_examples=500, deadline=None)
def test_build_query_round_trip(labels, qid, qtype, qclass, rd, do, cd, payload):
    qname = wire.labels_to_wire(labels)
    data = wire.build_query(qid, qname, qtype, qclass, rd=rd, do=do, cd=cd, payload=payload)
    q = parse_query(data)
    assert (q.id, q.qtype, q.qclass) == (qid, qtype, qclass)
    assert q.qname == wire.labels_to_wire([lab.lower() for lab in labels])
    assert q.question == qname + struct.pack(">HH", qtype, qclass)
    assert bool(q.flags & wire.F_RD) == rd and q.cd == cd and q.do == do
    assert q.edns is not None and q.edns.payload == max(payload, 512) and q.edns.version == 0


@given(st.binary(max_size=600))
@settings(max_examples=3000, deadline=None)
def test_parse_query_raises_only_wire_error_on_arbitrary_bytes(data):
    try:
        q = parse_query(data)
    except WireError as e:
        assert e.rcode in (None, wire.RCODE_FORMERR, wire.RCODE_NOTIMP)
        return
    assert len(q.qname) <= 255 and q.qname.endswith(b"\x00")


@given(st.binary(min_size=12, max_size=600))
@settings(max_examples=1500, deadline=None)
def test_parse_response_raises_only_wire_error_on_arbitrary_bytes(data):
    data = data[:2] + bytes([data[2] | 0x80]) + data[3:]
    try:
        r = parse_response(data)
    except WireError:
        return
    for rec in r.records:
        assert rec.rdata_off + rec.rdlen <= len(data)


@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_parse_query_on_mutated_valid_queries(data, seed):
    base, _ = random_query(random.Random(seed))
    b = bytearray(base)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(b)))
    try:
        parse_query(bytes(b[:cut]))
    except WireError:
        pass


@given(prefix=st.binary(min_size=0, max_size=40), ptr_extra=st.integers(0, 300))
@settings(max_examples=500, deadline=None)
def test_read_name_rejects_forward_and_self_pointers(prefix, ptr_extra):
    off = len(prefix)
    target = off + ptr_extra  # at or after the pointer itself
    if target > 0x3FFF:
        return
    buf = prefix + struct.pack(">H", 0xC000 | target) + b"\x01a\x00" * 120
    with pytest.raises(WireError):
        read_name(buf, off)


@given(prefix=st.lists(label_st, min_size=1, max_size=4).filter(lambda ls: wire_len(ls) <= 200),
       suffix=st.lists(label_st, max_size=3))
@settings(max_examples=300, deadline=None)
def test_read_name_follows_backward_pointers(prefix, suffix):
    first = wire.labels_to_wire(prefix)
    second = wire.labels_to_wire(suffix)[:-1] + b"\xc0\x0c"  # suffix labels, then a pointer to `first`
    if wire_len(suffix) + len(first) - 1 > 255:
        return
    buf = bytes(12) + first + second  # names start after the header
    labels, end = read_name(buf, 12 + len(first))
    assert labels == suffix + prefix and end == len(buf)


def test_read_name_rejects_pointers_into_the_header():
    # No name starts in the header, and a reply built from a cached answer has another header.
    buf = wire.header(0x0203, 0, 1, 0, 0, 0) + b"\x01a\xc0\x03"
    with pytest.raises(WireError, match="header"):
        read_name(buf, 12)
    assert read_name(b"\x00" * 12 + b"\x01a\x00\xc0\x0c", 15)[0] == [b"a"]


def test_read_name_rejects_backward_loops_and_pointer_chains():
    # A label followed by a pointer back to it: every hop is backwards but it never ends.
    with pytest.raises(WireError):
        read_name(b"\x01a\xc0\x00", 2)
    with pytest.raises(WireError):
        read_name(b"\xc0\x00", 0)  # points at itself
    # Two pointers at each other: the second is a forward pointer.
    with pytest.raises(WireError):
        read_name(b"\xc0\x02\xc0\x00", 2)
    # A long chain of empty hops stays bounded.
    chain = b"\x00" + b"".join(struct.pack(">H", 0xC000 | (2 * i + 1 - 2 if i else 0)) for i in range(200))
    with pytest.raises(WireError):
        read_name(chain, len(chain) - 2)
    # A truncated pointer
    with pytest.raises(WireError):
        read_name(b"\x01a\xc0", 2)


# ---------------------------------------------------------------- malformed queries


def good_query(name: str = "www.example.com", qtype: int = 1, edns: bool = True) -> bytes:
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=0x1234, rd=1), q=dnslib.DNSQuestion(name, qtype))
    if edns:
        r.add_ar(dnslib.EDNS0(udp_len=1232))
    return bytes(r.pack())


def with_header(data: bytes, **fields: int) -> bytes:
    qid, flags, qd, an, ns, ar = struct.unpack_from(">HHHHHH", data)
    vals = {"id": qid, "flags": flags, "qd": qd, "an": an, "ns": ns, "ar": ar} | fields
    return struct.pack(">HHHHHH", *vals.values()) + data[12:]


Q = good_query()
QNAME_END = 12 + len(b"\x03www\x07example\x03com\x00")


def long_name(octets: int) -> bytes:
    """A name of exactly `octets` octets on the wire."""
    labels = []
    left = octets - 1
    while left:
        n = min(63, left - 1)
        if n == 0:  # a remainder of 1 cannot be a label: rebalance
            labels[-1] = labels[-1][:-1]
            n = 1
        labels.append(b"a" * n)
        left -= n + 1
    out = wire.labels_to_wire(labels)
    assert len(out) == octets
    return out


MALFORMED = [
    ("empty", b"", None),
    ("11 bytes", Q[:11], None),
    ("a response (QR=1)", with_header(Q, flags=0x8100), None),
    ("a response with opcode 4", with_header(Q, flags=0x8000 | (4 << 11)), None),
    ("opcode 1 (IQUERY)", with_header(Q, flags=(1 << 11) | 0x100), wire.RCODE_NOTIMP),
    ("opcode 4 (NOTIFY)", with_header(Q, flags=4 << 11), wire.RCODE_NOTIMP),
    ("opcode 5 (UPDATE)", with_header(Q, flags=5 << 11), wire.RCODE_NOTIMP),
    ("QDCOUNT 0", with_header(Q, qd=0), wire.RCODE_FORMERR),
    ("QDCOUNT 2", with_header(Q, qd=2), wire.RCODE_FORMERR),
    ("header only", Q[:12], wire.RCODE_FORMERR),
    ("truncated name", Q[:16], wire.RCODE_FORMERR),
    ("name without its root", Q[: QNAME_END - 1], wire.RCODE_FORMERR),
    ("no type/class", Q[:QNAME_END], wire.RCODE_FORMERR),
    ("half a type", Q[: QNAME_END + 3], wire.RCODE_FORMERR),
    ("label type 0x40", Q[:12] + b"\x41" + b"a" * 1 + Q[14:], wire.RCODE_FORMERR),
    ("label type 0x80", Q[:12] + b"\x83www" + Q[16:], wire.RCODE_FORMERR),
    ("label length 64", Q[:12] + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", wire.RCODE_FORMERR),
    ("compressed question", Q[:12] + b"\x03www\xc0\x0c\x00\x01\x00\x01", wire.RCODE_FORMERR),
    ("question that is only a pointer", Q[:12] + b"\xc0\x00\x00\x01\x00\x01", wire.RCODE_FORMERR),
    ("name of 256 octets", with_header(Q, ar=0)[:12] + long_name(256) + b"\x00\x01\x00\x01", wire.RCODE_FORMERR),
    ("two OPT records", with_header(Q + Q[-11:], ar=2), wire.RCODE_FORMERR),
    ("OPT with rdata past the end", Q[:-2] + b"\x00\x08", wire.RCODE_FORMERR),
    ("OPT cut short", Q[:-5], wire.RCODE_FORMERR),
    ("ARCOUNT larger than the records", with_header(Q, ar=2), wire.RCODE_FORMERR),
    ("an answer record in a query", with_header(Q, an=1), wire.RCODE_FORMERR),
    # RFC 6891 §6.1.1: the OPT record's owner is the root; the repro, owner `a.`
    ("OPT not owned by the root",
     bytes.fromhex("1234010000010000000000010377777704746573740000010001016100002904d0000000000000"),
     wire.RCODE_FORMERR),
    ("OPT owned by a pointer to the question", Q[:QNAME_END + 4] + b"\xc0\x0c" + Q[QNAME_END + 5:],
     wire.RCODE_FORMERR),
]


@pytest.mark.parametrize(("data", "rcode"), [(d, r) for _, d, r in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_queries(data, rcode):
    with pytest.raises(WireError) as info:
        parse_query(data)
    assert info.value.rcode == rcode


def test_name_of_255_octets_is_accepted_and_256_is_not():
    head = with_header(Q, ar=0)[:12]
    q = parse_query(head + long_name(255) + b"\x00\x01\x00\x01")
    assert len(q.qname) == 255
    with pytest.raises(WireError):
        parse_query(head + long_name(256) + b"\x00\x01\x00\x01")


def test_edns_version_and_options_are_read():
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=1), q=dnslib.DNSQuestion("a.example"))
    r.add_ar(dnslib.EDNS0(version=1, udp_len=4096, opts=[dnslib.EDNSOption(10, b"12345678")]))
    q = parse_query(bytes(r.pack()))
    assert q.edns is not None and q.edns.version == 1 and q.edns.payload == 4096 and not q.do
    assert q.edns.options == b"\x00\x0a\x00\x08" + b"12345678"


# ---------------------------------------------------------------- responses


def rich_answer(qname: str = "WwW.Example.COM") -> bytes:
    """A dnslib-built answer with compression everywhere and the OPT record in the middle of the
    additional section."""
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=0xBEEF, qr=1, rd=1, ra=1, ad=1),
                         q=dnslib.DNSQuestion(qname, dnslib.QTYPE.A))
    r.add_answer(dnslib.RR(qname, dnslib.QTYPE.CNAME, rdata=dnslib.CNAME("edge.Example.com"), ttl=3600))
    r.add_answer(dnslib.RR("edge.Example.com", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.7"), ttl=299))
    r.add_answer(dnslib.RR("edge.Example.com", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.8"), ttl=123456))
    r.add_auth(dnslib.RR("example.com", dnslib.QTYPE.NS, rdata=dnslib.NS("ns1.example.com"), ttl=86400))
    r.add_ar(dnslib.RR("ns1.example.com", dnslib.QTYPE.A, rdata=dnslib.A("192.0.2.53"), ttl=7))
    r.add_ar(dnslib.EDNS0(udp_len=1232, flags="do", ext_rcode=0))
    r.add_ar(dnslib.RR("ns1.example.com", dnslib.QTYPE.AAAA, rdata=dnslib.AAAA("2001:db8::53"), ttl=8))
    return bytes(r.pack())


def test_parse_response_walks_a_compressed_answer():
    buf = rich_answer()
    assert b"\xc0" in buf[12:]  # dnslib compressed the names
    ref = dnslib.DNSRecord.parse(buf)
    r = parse_response(buf)
    assert r.id == 0xBEEF and r.rcode == 0 and r.flags & wire.F_AD
    assert r.qname == wire.text_to_wire("www.example.com") and r.qtype == 1 and r.qclass == 1
    assert buf[12 : r.question_end] == b"\x03WwW\x07Example\x03COM\x00\x00\x01\x00\x01"
    assert r.counts == (3, 1, 2)
    refs = [*ref.rr, *ref.auth, *[a for a in ref.ar if a.rtype != 41]]
    assert [rec.rtype for rec in r.records] == [x.rtype for x in refs]
    assert [rec.section for rec in r.records] == [1, 1, 1, 2, 3, 3]
    for rec, x in zip(r.records, refs, strict=True):
        assert rec.ttl == x.ttl
        assert struct.unpack_from(">I", buf, rec.ttl_off)[0] == x.ttl  # the offset is the real TTL field
        assert rec.rclass == x.rclass
        assert wire.record_name(buf, rec) == wire.text_to_wire(str(x.rname))
        if rec.rtype in (dnslib.QTYPE.A, dnslib.QTYPE.AAAA):
            assert buf[rec.rdata_off : rec.rdata_off + rec.rdlen] == ipaddress.ip_address(str(x.rdata)).packed
    cname = r.records[0]
    assert wire.rdata_name(buf, cname) == wire.text_to_wire("edge.example.com")
    assert wire.rdata_name(buf, r.records[3]) == wire.text_to_wire("ns1.example.com")
    # The OPT record sits between the two additional records.
    assert r.opt_span is not None
    start, end = r.opt_span
    assert r.records[4].rdata_off + r.records[4].rdlen == start and end == r.records[5].name_off
    assert buf[start] == 0 and struct.unpack_from(">H", buf, start + 1)[0] == 41
    assert r.edns is not None and r.edns.do and r.edns.payload == 1232


def test_ttl_offsets_patch_the_real_ttls():
    buf = bytearray(rich_answer())
    r = parse_response(bytes(buf))
    for i, rec in enumerate(r.records):
        struct.pack_into(">I", buf, rec.ttl_off, 1000 + i)
    ref = dnslib.DNSRecord.parse(bytes(buf))
    got = [x.ttl for x in [*ref.rr, *ref.auth, *[a for a in ref.ar if a.rtype != 41]]]
    assert got == [1000 + i for i in range(len(r.records))]
    opt = [a for a in ref.ar if a.rtype == 41][0]
    assert opt.edns_do  # the OPT TTL (flags) was not touched


def test_parse_response_on_random_dnslib_answers():
    rng = random.Random(7)
    for _ in range(800):
        labels = [bytes(rng.choice(LDH) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(1, 5))]
        name = dnslib.DNSLabel(labels)
        r = dnslib.DNSRecord(dnslib.DNSHeader(id=rng.randrange(65536), qr=1, rcode=rng.choice([0, 0, 2, 3])),
                             q=dnslib.DNSQuestion(name, dnslib.QTYPE.A))
        ttls = []
        for _ in range(rng.randint(0, 6)):
            ttl = rng.randrange(2**31)
            ttls.append(ttl)
            sub = dnslib.DNSLabel([bytes(rng.choice(LDH) for _ in range(3))] + labels[rng.randrange(len(labels)):])
            r.add_answer(dnslib.RR(rng.choice([name, sub]), dnslib.QTYPE.A, rdata=dnslib.A("198.51.100.1"), ttl=ttl))
        ext = rng.choice([0, 0, 1])
        if rng.random() < 0.5:
            r.add_ar(dnslib.EDNS0(udp_len=4096, ext_rcode=ext))
        else:
            ext = 0
        buf = bytes(r.pack())
        parsed = parse_response(buf)
        assert parsed.qname == wire.labels_to_wire([lab.lower() for lab in labels])
        assert [rec.ttl for rec in parsed.records] == ttls
        assert [struct.unpack_from(">I", buf, rec.ttl_off)[0] for rec in parsed.records] == ttls
        assert parsed.rcode == (r.header.rcode | (ext << 4))


@pytest.mark.parametrize(("why", "data"), [
    ("short", b"\x00" * 11),
    ("not a response", good_query()),
    ("QDCOUNT 0", with_header(rich_answer(), qd=0)),
    ("truncated record", rich_answer()[:-5]),
    ("OPT in the answer section", with_header(
        dnslib.DNSRecord(dnslib.DNSHeader(qr=1), q=dnslib.DNSQuestion("a.b")).pack()
        + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", an=1)),
    ("two OPT records", with_header(
        dnslib.DNSRecord(dnslib.DNSHeader(qr=1), q=dnslib.DNSQuestion("a.b")).pack()
        + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00" * 2, ar=2)),
    ("forward pointer in an owner", with_header(
        dnslib.DNSRecord(dnslib.DNSHeader(qr=1), q=dnslib.DNSQuestion("a.b")).pack()
        + b"\xc0\x40\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\x01\x02\x03\x04", an=1)),
])
def test_parse_response_rejects(why, data):
    with pytest.raises(WireError):
        parse_response(data)


def test_text_helpers():
    assert wire.text_to_wire("WWW.Example.com.") == b"\x03www\x07example\x03com\x00"
    assert wire.text_to_wire("") == b"\x00" and wire.text_to_wire(".") == b"\x00"
    assert wire.wire_to_text(b"\x03www\x07example\x03com\x00") == "www.example.com"
    assert wire.name_to_text([b"a.b", b"c\\d", b"e f"]) == "a\\046b.c\\092d.e\\032f"
    for bad in ("a..b", "x" * 64 + ".com", ".".join(["a" * 63] * 4)):
        with pytest.raises(ValueError):
            wire.text_to_wire(bad)


def test_opt_with_a_non_root_owner_is_rejected_or_read_right():
    qname = wire.text_to_wire("a.example")
    buf = (wire.header(1, 0x8180, 1, 0, 0, 1) + qname + b"\x00\x01\x00\x01"
           + b"\xc0\x0c" + struct.pack(">HHIH", wire.T_OPT, 1232, 0, 0))
    try:
        r = parse_response(buf)
    except WireError:
        return
    assert r.rcode == 0


@pytest.mark.parametrize(("qid", "qname", "qtype", "qclass", "rd", "do", "cd", "payload"), [
    (1, b"\x01a\x00", 1, 1, True, False, False, 1232), (65535, b"\x03abc\x03com\x00", 28, 1, True, True, True, 4096),
    (0, b"\x00", 255, 3, False, False, True, 512), (0x1234, b"\x01a\x00", 65535, 255, False, True, False, 65535)])
def test_build_query_is_its_fields_packed_as_the_rfc_says(qid: int, qname: bytes, qtype: int, qclass: int, rd: bool,
                                                          do: bool, cd: bool, payload: int) -> None:
    """build_query keeps the parts around the ID and name per shape: asked twice (from the
    kept parts), each field is where RFC 1035 and 6891 put it."""
    flags = (wire.F_RD if rd else 0) | (wire.F_CD if cd else 0)
    want = (struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1) + qname + struct.pack(">HH", qtype, qclass)
            + b"\x00" + struct.pack(">HHIH", wire.T_OPT, payload, wire.EDNS_DO if do else 0, 0))
    for _ in range(2):
        assert wire.build_query(qid, qname, qtype, qclass, rd=rd, do=do, cd=cd, payload=payload) == want

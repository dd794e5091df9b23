"""dnsfilter.core.dns.codec: replies built by the appliance, read back with dnslib."""

from __future__ import annotations

import struct

import dnslib
import pytest

from dnsfilter.core.dns import codec, wire
from dnsfilter.core.dns.codec import BlockAnswer
from dnsfilter.core.dns.wire import parse_query


def query(name: str = "WwW.ExAmple.CoM", qtype: int = 1, *, qid: int = 0x4242, rd: bool = True, cd: bool = False,
          edns: bool = True, do: bool = False, payload: int = 4096, version: int = 0) -> bytes:
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=qid, rd=int(rd), cd=int(cd)), q=dnslib.DNSQuestion(name, qtype))
    if edns:
        r.add_ar(dnslib.EDNS0(udp_len=payload, flags="do" if do else "", version=version))
    return bytes(r.pack())


def opt_of(r: dnslib.DNSRecord):
    opts = [x for x in r.ar if x.rtype == dnslib.QTYPE.OPT]
    assert len(opts) <= 1
    return opts[0] if opts else None


def ede_of(r: dnslib.DNSRecord) -> tuple[int, str] | None:
    opt = opt_of(r)
    if opt is None:
        return None
    found = [o for o in opt.rdata if o.code == 15]
    assert len(found) <= 1
    if not found:
        return None
    return struct.unpack(">H", found[0].data[:2])[0], found[0].data[2:].decode()


@pytest.mark.parametrize("rd", [True, False])
@pytest.mark.parametrize("cd", [True, False])
@pytest.mark.parametrize("edns", [True, False])
def test_reply_echoes_question_id_and_flags(rd, cd, edns):
    data = query(rd=rd, cd=cd, edns=edns)
    q = parse_query(data)
    out = codec.reply(q, wire.RCODE_NXDOMAIN)
    qlen = len(q.question)
    assert out[:2] == data[:2]
    assert out[12 : 12 + qlen] == data[12 : 12 + qlen]  # 0x20 case kept byte for byte
    assert b"WwW" in out[12 : 12 + qlen]
    r = dnslib.DNSRecord.parse(out)
    h = r.header
    assert h.id == 0x4242 and h.qr == 1 and h.ra == 1 and h.rcode == 3
    assert h.rd == rd and h.cd == cd and h.aa == 0 and h.tc == 0
    assert h.opcode == 0 and h.q == 1 and h.a == 0 and h.auth == 0
    assert str(r.q.qname) == "WwW.ExAmple.CoM."


def test_opt_present_only_when_the_query_had_one():
    plain = dnslib.DNSRecord.parse(codec.reply(parse_query(query(edns=False)), 0, ede=(15, "blocked")))
    assert opt_of(plain) is None and plain.header.ar == 0
    for do in (False, True):
        for payload in (512, 1232, 4096, 65535):
            r = dnslib.DNSRecord.parse(codec.reply(parse_query(query(do=do, payload=payload)), 0))
            opt = opt_of(r)
            assert opt is not None and r.header.ar == 1
            assert opt.edns_len == 1232  # our payload, whatever the client offered
            assert bool(opt.edns_do) == do
            assert opt.edns_ver == 0 and opt.edns_rcode == 0
            assert ede_of(r) is None


@pytest.mark.parametrize(("code", "text"), [(15, "ads: on the list stevenblack"), (16, "blocked by the authority list gov"),
                                            (17, "adult: on the list kids"), (3, ""), (18, "n\u00e4me \u2013 utf-8")])
def test_ede_option_decodes_with_dnslib(code, text):
    r = dnslib.DNSRecord.parse(codec.reply(parse_query(query(do=True)), 0, ede=(code, text)))
    assert ede_of(r) == (code, text)
    assert opt_of(r).edns_do
    # The same EDE without DO: the memoised OPT records do not mix up DO.
    r2 = dnslib.DNSRecord.parse(codec.reply(parse_query(query(do=False)), 0, ede=(code, text)))
    assert ede_of(r2) == (code, text) and not opt_of(r2).edns_do


def test_ede_text_is_capped():
    r = dnslib.DNSRecord.parse(codec.reply(parse_query(query()), 0, ede=(15, "x" * 1000)))
    assert ede_of(r) == (15, "x" * 200)


def test_body_and_counts_are_placed_after_the_question():
    q = parse_query(query(qtype=1))
    body = wire.rr(wire.T_A, 60, bytes([192, 0, 2, 1])) + wire.rr(wire.T_A, 61, bytes([192, 0, 2, 2]))
    r = dnslib.DNSRecord.parse(codec.reply(q, 0, body, (2, 0, 0), flags=wire.F_AA))
    assert r.header.aa == 1 and r.header.a == 2
    assert [(str(x.rname), str(x.rdata), x.ttl) for x in r.rr] == [
        ("WwW.ExAmple.CoM.", "192.0.2.1", 60), ("WwW.ExAmple.CoM.", "192.0.2.2", 61)]
    assert opt_of(r) is not None and r.header.ar == 1


def test_truncation_sets_tc_and_strips_records():
    q = parse_query(query(payload=512))
    body = b"".join(wire.rr(wire.T_A, 60, bytes([192, 0, 2, i])) for i in range(40))
    full = codec.reply(q, 0, body, (40, 0, 0), ede=(15, "x"))
    size = len(full)
    # Exactly at the limit: not truncated.
    assert codec.reply(q, 0, body, (40, 0, 0), ede=(15, "x"), max_size=size) == full
    # One byte less: question and OPT only, TC set.
    out = codec.reply(q, 0, body, (40, 0, 0), ede=(15, "x"), max_size=size - 1)
    assert len(out) < size - 1
    r = dnslib.DNSRecord.parse(out)
    assert r.header.tc == 1 and r.header.a == 0 and r.header.auth == 0 and r.header.ar == 1
    assert r.rr == [] and str(r.q.qname) == "WwW.ExAmple.CoM." and r.header.id == 0x4242
    assert ede_of(r) == (15, "x")
    # Without EDNS there is no OPT to keep.
    q2 = parse_query(query(edns=False))
    out2 = codec.reply(q2, 0, body, (40, 0, 0), max_size=512)
    r2 = dnslib.DNSRecord.parse(out2)
    assert r2.header.tc == 1 and r2.header.ar == 0 and len(out2) == 12 + len(q2.question)
    assert not codec.reply(q2, 0, body[:16], (1, 0, 0), max_size=512)[2] & 0x02


def test_error_from_header():
    data = query(qid=0xABCD, rd=True)
    assert codec.error_from_header(data[:11], wire.RCODE_FORMERR) is None
    resp = bytearray(data)
    resp[2] |= 0x80
    assert codec.error_from_header(bytes(resp), wire.RCODE_FORMERR) is None  # never answer a response
    out = codec.error_from_header(data, wire.RCODE_FORMERR)
    assert out is not None and len(out) == 12
    r = dnslib.DNSRecord.parse(out)
    assert r.header.id == 0xABCD and r.header.qr == 1 and r.header.rcode == 1 and r.header.rd == 1
    assert (r.header.q, r.header.a, r.header.auth, r.header.ar) == (0, 0, 0, 0)
    notify = bytearray(data)
    struct.pack_into(">H", notify, 2, (4 << 11) | 0x0400)  # NOTIFY with AA; RD clear
    r = dnslib.DNSRecord.parse(codec.error_from_header(bytes(notify), wire.RCODE_NOTIMP))
    assert r.header.opcode == 4 and r.header.rcode == 4 and r.header.rd == 0 and r.header.aa == 0


def test_badvers_carries_the_extended_rcode_in_opt():
    q = parse_query(query(version=1, do=True))
    r = dnslib.DNSRecord.parse(codec.badvers(q))
    opt = opt_of(r)
    assert r.header.rcode == 0 and opt is not None and opt.edns_rcode == 1  # 16 = 1 << 4 | 0
    assert opt.edns_ver == 0 and r.header.tc == 0


def test_negative_answers_carry_the_zone_soa():
    q = parse_query(query("nope.10.in-addr.arpa", qtype=12))
    zone = wire.text_to_wire("10.in-addr.arpa")
    r = dnslib.DNSRecord.parse(codec.negative(q, wire.RCODE_NXDOMAIN, zone, 10800, 1232))
    assert r.header.rcode == 3 and r.header.aa == 1 and r.header.a == 0 and r.header.auth == 1
    soa = r.auth[0]
    assert soa.rtype == dnslib.QTYPE.SOA and str(soa.rname) == "10.in-addr.arpa." and soa.ttl == 10800
    assert soa.rdata.times[-1] == 10800
    r2 = dnslib.DNSRecord.parse(codec.negative(q, wire.RCODE_NOERROR, None, 0, 1232))
    assert r2.header.rcode == 0 and r2.header.auth == 0 and r2.header.aa == 1


# ---------------------------------------------------------------- blocked answers

EDE = (15, "ads: on the list x")


def blocked(mode: BlockAnswer, qtype: int, **kw) -> dnslib.DNSRecord:
    q = parse_query(query("Ads.Example", qtype, **kw))
    return dnslib.DNSRecord.parse(mode.build(q, EDE, q.max_udp()))


@pytest.mark.parametrize(("qtype", "answer"), [(1, "0.0.0.0"), (28, "::"), (15, None), (65, None)])
def test_null_mode(qtype, answer):
    r = blocked(BlockAnswer("null", ttl=10), qtype)
    assert r.header.rcode == 0 and ede_of(r) == EDE
    if answer is None:  # NODATA for MX, HTTPS
        assert r.rr == [] and r.header.a == 0
    else:
        assert len(r.rr) == 1 and str(r.rr[0].rdata) == answer and r.rr[0].ttl == 10
        assert r.rr[0].rtype == qtype and str(r.rr[0].rname) == "Ads.Example."


@pytest.mark.parametrize("qtype", [1, 28, 15, 65])
@pytest.mark.parametrize(("kind", "rcode"), [("nxdomain", 3), ("refused", 5)])
def test_nxdomain_and_refused_modes(kind, rcode, qtype):
    r = blocked(BlockAnswer(kind), qtype)
    assert r.header.rcode == rcode and r.rr == [] and ede_of(r) == EDE


@pytest.mark.parametrize(("qtype", "answer"), [(1, "192.0.2.1"), (28, "2001:db8::1"), (15, None), (65, None)])
def test_ip_mode(qtype, answer):
    r = blocked(BlockAnswer("ip", "192.0.2.1", "2001:db8::1", ttl=42), qtype)
    assert r.header.rcode == 0 and ede_of(r) == EDE
    if answer is None:
        assert r.rr == []
    else:
        assert [str(x.rdata) for x in r.rr] == [answer] and r.rr[0].ttl == 42


def test_ip_mode_with_only_ipv4_gives_nodata_for_aaaa():
    mode = BlockAnswer("ip", "192.0.2.1", None)
    assert [str(x.rdata) for x in blocked(mode, 1).rr] == ["192.0.2.1"]
    r = blocked(mode, 28)
    assert r.header.rcode == 0 and r.rr == []


def test_blocked_answer_without_edns_has_no_opt():
    r = blocked(BlockAnswer("null"), 1, edns=False)
    assert opt_of(r) is None and str(r.rr[0].rdata) == "0.0.0.0"

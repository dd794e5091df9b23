"""Protocol conformance of the real daemon in front of a real Unbound: one test per row of the
matrix that issue 16's compliance run held (in the spirit of ISC's DNS compliance tests), so a
change that breaks a row fails CI.

EDNS version 1 → BADVERS; unknown EDNS options and flags are not echoed; the Z bit is cleared;
an unknown opcode → NOTIMP; QDCOUNT 0 or 2, two OPT records, an OPT not owned by the root →
FORMERR; TC on UDP then the whole answer over TCP; 100 pipelined TCP queries; the question's
case kept byte for byte (0x20); EDE 15 on blocked names."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.daemon import DaemonProcess, addrs, ede
from tests.support.unbound import BIG_TXT_COUNT, Unbound

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

BLOCKED_EDE = 15


@pytest.fixture(scope="module")
def unbound() -> Iterator[Unbound]:
    with Unbound() as ub:
        yield ub


@pytest.fixture
def d(unbound: Unbound, make_daemon: Callable[..., DaemonProcess]) -> DaemonProcess:
    return make_daemon(f"127.0.0.1:{unbound.port}")


def udp_raw(d: DaemonProcess, packet: bytes, timeout: float = 3.0) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", d.port))
        return s.recv(65535)


def rcode_of(reply: bytes) -> int:
    return struct.unpack(">H", reply[2:4])[0] & 0xF


def query_wire(name: str = "www.example.test", rdtype: str = "A", qid: int = 0x1234, **kw: object) -> bytes:
    q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    q.id = qid
    return q.to_wire()


def with_counts(packet: bytes, qd: int | None = None, ar: int | None = None) -> bytes:
    h = list(struct.unpack(">HHHHHH", packet[:12]))
    if qd is not None:
        h[2] = qd
    if ar is not None:
        h[5] = ar
    return struct.pack(">HHHHHH", *h) + packet[12:]


def test_edns_version_1_gets_badvers(d: DaemonProcess) -> None:
    r = d.query("www.example.test", use_edns=1)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.answer


def test_unknown_edns_options_and_flags_are_not_echoed(d: DaemonProcess) -> None:
    q = dns.message.make_query("www.example.test", "A", use_edns=0, ednsflags=0x4000 | dns.flags.DO,
                               options=[dns.edns.GenericOption(65001, b"hello"), dns.edns.GenericOption(14, b"\x00")])
    r = dns.message.from_wire(udp_raw(d, q.to_wire()))
    assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["192.0.2.10"]
    assert [o.otype for o in r.options if o.otype in (65001, 14)] == []
    assert r.ednsflags & 0xFFFF == dns.flags.DO  # DO echoed, the unknown flag bit not


def test_z_bit_is_ignored_and_cleared(d: DaemonProcess) -> None:
    packet = bytearray(query_wire())
    packet[3] |= 0x40  # Z
    reply = udp_raw(d, bytes(packet))
    assert not reply[3] & 0x40 and rcode_of(reply) == 0
    assert addrs(dns.message.from_wire(reply)) == ["192.0.2.10"]


@pytest.mark.parametrize("opcode", [3, 7, 15])
def test_unknown_opcode_gets_notimp(d: DaemonProcess, opcode: int) -> None:
    packet = bytearray(query_wire())
    packet[2] = (packet[2] & 0x87) | (opcode << 3)
    reply = udp_raw(d, bytes(packet))
    assert reply[:2] == b"\x12\x34" and reply[2] & 0x80 and rcode_of(reply) == dns.rcode.NOTIMP
    assert (reply[2] >> 3) & 0xF == opcode  # the opcode is echoed


FORMERRS = {
    "qdcount-0": lambda: with_counts(query_wire(use_edns=False)[:12], qd=0),
    "qdcount-2": lambda: with_counts(query_wire(use_edns=False) + query_wire("x.test", use_edns=False)[12:], qd=2),
    "two-opt-records": lambda: with_counts(query_wire(use_edns=0) + query_wire(use_edns=0)[-11:], ar=2),
    # issue 16's repro: the OPT record's owner is `a.`, not the root (RFC 6891 §6.1.1)
    "opt-not-owned-by-the-root": lambda: bytes.fromhex(
        "1234010000010000000000010377777704746573740000010001016100002904d0000000000000"),
}


@pytest.mark.parametrize("make", FORMERRS.values(), ids=FORMERRS.keys())
def test_malformed_questions_get_formerr(d: DaemonProcess, make: Callable[[], bytes]) -> None:
    reply = udp_raw(d, make())
    assert reply[:2] == b"\x12\x34" and reply[2] & 0x80 and rcode_of(reply) == dns.rcode.FORMERR
    assert d.alive()


def test_truncated_on_udp_then_whole_over_tcp(d: DaemonProcess) -> None:
    r = d.query("big.example.test", "TXT", payload=1232)
    assert r.flags & dns.flags.TC and not r.answer
    r = d.query("big.example.test", "TXT", tcp=True)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == BIG_TXT_COUNT


def test_100_pipelined_tcp_queries_on_one_connection(d: DaemonProcess) -> None:
    names = ["www.example.test", "alias.example.test", "mx.example.test", "nope.example.test", "ads.example.test"]
    sent = {}
    out = b""
    for i in range(100):
        name = names[i % len(names)]
        w = query_wire(name, "MX" if name.startswith("mx") else "A", qid=1000 + i, use_edns=0)
        sent[1000 + i] = name
        out += struct.pack(">H", len(w)) + w
    got: dict[int, dns.message.Message] = {}
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(out)  # all at once: the daemon answers them in any order on the one connection
        buf = b""
        while len(got) < 100:
            chunk = s.recv(65535)
            assert chunk, f"closed after {len(got)} answers"
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                size = struct.unpack(">H", buf[:2])[0]
                m = dns.message.from_wire(buf[2:2 + size])
                buf = buf[2 + size:]
                got[m.id] = m
    assert set(got) == set(sent)
    for qid, m in got.items():
        assert m.question[0].name.to_text() == sent[qid] + "."
    assert got[1000].rcode() == 0 and addrs(got[1000]) == ["192.0.2.10"]
    assert got[1003].rcode() == dns.rcode.NXDOMAIN


def test_question_case_is_kept_byte_for_byte(d: DaemonProcess) -> None:
    for name in ("wWw.ExAmPlE.tEsT", "WWW.EXAMPLE.TEST", "www.example.test", "WwW.eXaMpLe.TeSt", "wWw.ExAmPlE.tEsT"):
        packet = query_wire(name, use_edns=0)
        qend = len(packet) - 11  # the OPT record is the last 11 bytes
        for _ in range(2):  # the upstream's answer, the cached one and the fast path's replay
            reply = udp_raw(d, packet)
            assert reply[12:qend] == packet[12:qend], name
            assert addrs(dns.message.from_wire(reply)) == ["192.0.2.10"]
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        packet = query_wire("AlIaS.eXaMpLe.TeSt", use_edns=0)
        s.sendall(struct.pack(">H", len(packet)) + packet)
        size = struct.unpack(">H", s.recv(2))[0]
        reply = b""
        while len(reply) < size:
            reply += s.recv(size - len(reply))
        assert reply[12:len(packet) - 11] == packet[12:-11]


def test_blocked_names_carry_ede_15(d: DaemonProcess) -> None:
    for tcp in (False, True):
        for _ in range(2):  # first sight, then the fast path's prebuilt answer
            r = d.query("ads.example.test", tcp=tcp)
            assert [code for code, _ in ede(r)] == [BLOCKED_EDE] and addrs(r) == ["0.0.0.0"]

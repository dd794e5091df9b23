"""A scripted upstream for failure tests: a real UDP+TCP DNS server on loopback whose
behaviour a test sets (answer, drop, delay, garbage, wrong ID, wrong question, SERVFAIL,
REFUSED, truncation, answers from another address, injected records), and which records every
query it receives with its source address."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dnslib


@dataclass
class Seen:
    wire: bytes
    source: tuple[str, int]
    transport: str

    @property
    def record(self) -> dnslib.DNSRecord:
        return dnslib.DNSRecord.parse(self.wire)


@dataclass
class Scripted:
    """`mode`: answer | drop | garbage | wrong_id | wrong_question | servfail | refused | truncate
    (every UDP answer has TC set, the TCP one is whole) | other_source (UDP answers come from
    another port of 127.0.0.1). `delay` holds every answer back that long. `inject` adds records
    (zone lines, "section:" prefixed: "answer:", "authority:" or "additional:") to every
    answer. With `honour_payload`, a UDP answer longer than the query's EDNS payload (512
    without EDNS) is truncated, as a real server does."""

    zone: dict[str, list[str]] = field(default_factory=dict)  # name -> zone-format RR lines
    mode: str = "answer"
    delay: float = 0.0
    ttl: int = 300
    seen: list[Seen] = field(default_factory=list)
    extra: Callable[[dnslib.DNSRecord, dnslib.DNSRecord], None] | None = None
    inject: list[str] = field(default_factory=list)
    honour_payload: bool = False

    def __post_init__(self) -> None:
        # UDP and TCP on the same port; the TCP half may be taken, so try a few ports.
        for _attempt in range(50):
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        else:
            raise OSError("no free loopback port for both UDP and TCP")
        self.tcp.listen(16)
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # for mode other_source
        self.other.bind(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._udp_loop, daemon=True),
                         threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self._threads:
            t.start()

    def close(self) -> None:
        self._stop.set()
        self.udp.close()
        self.tcp.close()
        self.other.close()

    def __enter__(self) -> Scripted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def queries(self, name: str | None = None) -> list[Seen]:
        return [s for s in self.seen
                if name is None or str(s.record.q.qname).rstrip(".").lower() == name.lower()]

    def answer(self, wire: bytes, tcp: bool) -> bytes | None:
        q = dnslib.DNSRecord.parse(wire)
        if self.mode == "drop":
            return None
        if self.mode == "garbage":
            return b"\x00\x01garbage" + bytes(20)
        r = q.reply()
        if self.mode in ("servfail", "refused"):
            r.header.rcode = dnslib.RCODE.SERVFAIL if self.mode == "servfail" else dnslib.RCODE.REFUSED
            return bytes(r.pack())
        name = str(q.q.qname).rstrip(".").lower()
        rrs = self.zone.get(name)
        if rrs is None:
            r.header.rcode = dnslib.RCODE.NXDOMAIN
            r.add_auth(*dnslib.RR.fromZone(f"{name}. {self.ttl} SOA ns.test. h.test. 1 2 3 4 {self.ttl}"))
        else:
            qt = dnslib.QTYPE[q.q.qtype]
            for line in rrs:
                for rr in dnslib.RR.fromZone(line):
                    if dnslib.QTYPE[rr.rtype] in (qt, "CNAME", "RRSIG") or qt == "ANY":
                        r.add_answer(rr)
        for line in self.inject:
            section, _, rr_text = line.partition(":")
            add = {"answer": r.add_answer, "authority": r.add_auth, "additional": r.add_ar}[section]
            add(*dnslib.RR.fromZone(rr_text.strip()))
        if self.extra is not None:
            self.extra(q, r)
        if self.mode == "wrong_id":
            r.header.id = (q.header.id + 1) & 0xFFFF
        if self.mode == "wrong_question":
            r.q = dnslib.DNSQuestion("other." + str(q.q.qname), q.q.qtype, q.q.qclass)
        out = bytes(r.pack())
        opt = [rr for rr in q.ar if rr.rtype == dnslib.QTYPE.OPT]
        limit = max(512, opt[0].rclass) if opt else 512
        if not tcp and (self.mode == "truncate" or (self.honour_payload and len(out) > limit)):
            t = q.reply()
            t.header.tc = 1
            out = bytes(t.pack())
        return out

    def _udp_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, src = self.udp.recvfrom(65535)
            except OSError:
                return
            self.seen.append(Seen(data, src, "udp"))
            try:
                out = self.answer(data, False)
            except Exception:
                continue
            if out is None:
                continue
            if self.delay:
                threading.Timer(self.delay, self._send_later, (out, src)).start()
            else:
                self._send_later(out, src)

    def _send_later(self, out: bytes, src: tuple[str, int]) -> None:
        try:
            (self.other if self.mode == "other_source" else self.udp).sendto(out, src)
        except OSError:
            pass

    def _tcp_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, src = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn, src), daemon=True).start()

    def _tcp_conn(self, conn: socket.socket, src: tuple[str, int]) -> None:
        with conn:
            conn.settimeout(5)
            try:
                while True:
                    head = _recv_exact(conn, 2)
                    if not head:
                        return
                    data = _recv_exact(conn, struct.unpack(">H", head)[0])
                    self.seen.append(Seen(data, src, "tcp"))
                    out = self.answer(data, True)
                    if self.delay:
                        time.sleep(self.delay)
                    if out is not None:
                        conn.sendall(struct.pack(">H", len(out)) + out)
            except (OSError, ValueError):
                return


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf

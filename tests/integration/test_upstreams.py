"""The upstream pool against real servers on loopback: unbound (UDP, TCP, DoT), a DoH relay in
front of it, and scripted UDP servers that misbehave on purpose. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import dnslib
import pytest

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import parse_upstream
from dnsfilter.shell.upstream.pool import UpstreamError, UpstreamPool
from tests.support.doh_relay import DohRelay
from tests.support.scripted import Scripted
from tests.support.tcp_relay import HungTls, TcpRelay
from tests.support.unbound import BIG_TXT_COUNT, TLS_NAME, Unbound, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    # Every socket the pool opens must be closed by it.
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]

WWW = wire.text_to_wire("www.example.test")
BIG = wire.text_to_wire("big.example.test")
ZONE = {"www.example.test": ["www.example.test. 300 A 192.0.2.10"]}


def run(coro: Coroutine[Any, Any, Any], limit: float = 30.0) -> Any:
    try:
        return asyncio.run(asyncio.wait_for(coro, limit))
    finally:
        gc.collect()  # an unclosed socket warns now, inside the test that leaked it


def parse(data: bytes) -> dnslib.DNSRecord:
    return dnslib.DNSRecord.parse(data)


def a_records(data: bytes) -> list[str]:
    return [str(r.rdata) for r in parse(data).rr if r.rtype == dnslib.QTYPE.A]


async def with_pool(specs: list[str], body: Callable[[UpstreamPool], Coroutine[Any, Any, Any]],
                    **kw: Any) -> Any:
    kw.setdefault("explore", 0.0)  # deterministic order unless a test wants the sampling
    pool = UpstreamPool([parse_upstream(s) for s in specs], **kw)
    try:
        return await body(pool)
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def ub() -> Iterator[Unbound]:
    with Unbound(tls=True) as u:
        yield u


def plain(u: Unbound) -> str:
    return f"{u.addr}:{u.port}"


# ---------------------------------------------------------------- plain DNS


def test_udp_answer(ub: Unbound) -> None:
    async def body(pool: UpstreamPool) -> tuple[bytes, list[dict]]:
        return await pool.resolve(WWW, wire.T_A, wire.C_IN), pool.status()

    data, status = run(with_pool([plain(ub)], body))
    r = parse(data)
    assert r.header.qr and r.header.rcode == dnslib.RCODE.NOERROR
    assert a_records(data) == ["192.0.2.10"]
    assert str(r.q.qname) == "www.example.test."
    assert status[0]["healthy"] and status[0]["queries"] == 1 and status[0]["failures"] == 0
    assert status[0]["latency_ms"] is not None and status[0]["connections"] == 0


def test_nxdomain_is_an_answer_with_soa(ub: Unbound) -> None:
    async def body(pool: UpstreamPool) -> bytes:
        return await pool.resolve(wire.text_to_wire("nope.example.test"), wire.T_A, wire.C_IN)

    r = parse(run(with_pool([plain(ub)], body)))
    assert r.header.rcode == dnslib.RCODE.NXDOMAIN
    assert [dnslib.QTYPE[a.rtype] for a in r.auth] == ["SOA"]


def test_refused_is_a_failure_and_benches_the_upstream(ub: Unbound) -> None:
    async def body(pool: UpstreamPool) -> list[dict]:
        with pytest.raises(UpstreamError, match="REFUSED"):
            await pool.resolve(wire.text_to_wire("refused.example.org"), wire.T_A, wire.C_IN)
        return pool.status()

    status = run(with_pool([plain(ub)], body))
    assert not status[0]["healthy"] and status[0]["failures"] == 1 and status[0]["queries"] == 1


def test_truncated_udp_answer_is_retried_over_tcp(ub: Unbound) -> None:
    async def body(pool: UpstreamPool) -> tuple[bytes, list[dict]]:
        return await pool.resolve(BIG, wire.T_TXT, wire.C_IN), pool.status()

    data, status = run(with_pool([plain(ub)], body))
    r = parse(data)
    assert not r.header.tc
    assert len([a for a in r.rr if a.rtype == dnslib.QTYPE.TXT]) == BIG_TXT_COUNT
    assert len(data) > 1232
    assert status[0]["connections"] == 1  # the one TCP connection for the retry


def test_queries_use_fresh_ids_ports_and_no_client_subnet() -> None:
    with Scripted(zone=dict(ZONE)) as up:
        async def body(pool: UpstreamPool) -> None:
            for _ in range(4):
                await pool.resolve(WWW, wire.T_A, wire.C_IN, do=True, cd=True)

        run(with_pool([up.addr], body))
        seen = up.queries("www.example.test")
    assert len(seen) == 4
    assert len({s.record.header.id for s in seen}) == 4
    # source ports: random ones of a few rotating sockets (tests/integration/test_udp_sockets.py)
    for s in seen:
        q = wire.parse_query(s.wire)
        assert q.edns is not None and q.edns.payload == 1232 and q.edns.do and q.cd
        assert q.edns.options == b""  # in particular no client subnet (option 8)


# ---------------------------------------------------------------- DNS over TLS


def dot(u: Unbound, name: str | None = TLS_NAME) -> str:
    return f"tls://127.0.0.1:{u.tls_port}" + (f"#{name}" if name else "")


def test_dot_verifies_and_reuses_one_connection(ub: Unbound) -> None:
    async def body(pool: UpstreamPool) -> list[dict]:
        for _ in range(5):
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
        names = [f"n{i}.example.test" for i in range(30)] + ["www.example.test"] * 10
        answers = await asyncio.gather(*(pool.resolve(wire.text_to_wire(n), wire.T_A, wire.C_IN) for n in names))
        for n, data in zip(names, answers, strict=True):
            r = parse(data)
            assert str(r.q.qname).rstrip(".") == n  # each answer went to the query it belongs to
            assert r.header.rcode == (dnslib.RCODE.NOERROR if n.startswith("www") else dnslib.RCODE.NXDOMAIN)
        big = parse(await pool.resolve(BIG, wire.T_TXT, wire.C_IN))  # no truncation on a stream
        assert len(big.rr) == BIG_TXT_COUNT
        return pool.status()

    status = run(with_pool([dot(ub)], body, tls_ca_file=ub.ca_file))
    assert status[0]["connections"] == 1
    assert status[0]["queries"] == 46 and status[0]["failures"] == 0


def test_dot_verifies_an_ip_address_san(ub: Unbound) -> None:
    async def body(pool: UpstreamPool) -> bytes:
        return await pool.resolve(WWW, wire.T_A, wire.C_IN)

    assert a_records(run(with_pool([dot(ub, None)], body, tls_ca_file=ub.ca_file))) == ["192.0.2.10"]


@pytest.mark.parametrize("case", ["wrong name", "unknown CA"])
def test_dot_rejects_a_certificate_with_one_handshake_then_backs_off(ub: Unbound, case: str) -> None:
    name = "other.test" if case == "wrong name" else TLS_NAME
    ca = ub.ca_file if case == "wrong name" else None  # None: the system store, which lacks our CA
    assert ub.tls_port is not None
    with TcpRelay(("127.0.0.1", ub.tls_port)) as relay:  # counts the connections, one per handshake
        async def body(pool: UpstreamPool) -> list[dict]:
            results = await asyncio.gather(*(pool.resolve(WWW, wire.T_A, wire.C_IN) for _ in range(10)),
                                           return_exceptions=True)
            assert all(isinstance(r, UpstreamError) and "certificate not accepted" in str(r) for r in results)
            assert relay.accepts == 1  # ten queries waited for it, three attempts each: one handshake
            with pytest.raises(UpstreamError, match="certificate"):  # backing off: no handshake at all
                await pool.resolve(WWW, wire.T_A, wire.C_IN)
            assert relay.accepts == 1
            return pool.status()

        status = run(with_pool([f"tls://127.0.0.1:{relay.port}#{name}"], body, tls_ca_file=ca, timeout=2.0,
                               attempts=3))
    assert not status[0]["healthy"] and status[0]["retry_in"] > 0 and status[0]["connections"] == 0


def test_dot_reconnects_after_the_server_closes_an_idle_connection() -> None:
    with Unbound(tls=True, extra="  tcp-idle-timeout: 200") as u:
        async def body(pool: UpstreamPool) -> list[dict]:
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            await asyncio.sleep(1.0)  # unbound closes the idle connection after 200 ms
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            return pool.status()

        status = run(with_pool([dot(u)], body, tls_ca_file=u.ca_file))
    assert status[0]["connections"] == 2
    assert status[0]["failures"] == 0 and status[0]["healthy"]


def test_dot_replaces_a_connection_that_stopped_answering(ub: Unbound) -> None:
    assert ub.cert_file and ub.key_file
    with HungTls(ub.cert_file, ub.key_file) as hung:
        async def body(pool: UpstreamPool) -> list[dict]:
            with pytest.raises(UpstreamError, match="timeout"):
                await pool.resolve(WWW, wire.T_A, wire.C_IN)
            return pool.status()

        status = run(with_pool([f"tls://127.0.0.1:{hung.port}#{TLS_NAME}"], body, tls_ca_file=ub.ca_file,
                               timeout=0.3, attempts=2))
        assert hung.accepts == 2, status
    assert status[0]["connections"] == 2 and status[0]["failures"] == 2


# ---------------------------------------------------------------- DNS over HTTPS


def doh_relay(u: Unbound, **kw: Any) -> DohRelay:
    assert u.cert_file and u.key_file
    return DohRelay((u.addr, u.port), u.cert_file, u.key_file, **kw)


def test_doh_works_and_reuses_the_connection(ub: Unbound) -> None:
    with doh_relay(ub) as relay:
        async def body(pool: UpstreamPool) -> list[dict]:
            for _ in range(5):
                assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            big = parse(await pool.resolve(BIG, wire.T_TXT, wire.C_IN))
            assert len(big.rr) == BIG_TXT_COUNT
            return pool.status()

        status = run(with_pool([f"{relay.url}#{TLS_NAME}"], body, tls_ca_file=ub.ca_file))
        assert relay.accepts == 1
        assert relay.requests == [("POST", "/dns-query", relay.requests[0][2])] * 6
    assert status[0]["connections"] == 1 and status[0]["failures"] == 0


def test_doh_concurrent_queries_share_a_few_connections(ub: Unbound) -> None:
    with doh_relay(ub, delay=0.05) as relay:
        async def body(pool: UpstreamPool) -> list[dict]:
            answers = await asyncio.gather(*(pool.resolve(WWW, wire.T_A, wire.C_IN) for _ in range(30)))
            assert all(a_records(a) == ["192.0.2.10"] for a in answers)
            return pool.status()

        status = run(with_pool([f"{relay.url}#{TLS_NAME}"], body, tls_ca_file=ub.ca_file))
        assert 1 <= relay.accepts <= 8 and len(relay.requests) == 30
    assert status[0]["connections"] == relay.accepts


def test_doh_follows_connection_close(ub: Unbound) -> None:
    with doh_relay(ub, close_after=1) as relay:
        async def body(pool: UpstreamPool) -> list[dict]:
            for _ in range(3):
                assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            return pool.status()

        status = run(with_pool([f"{relay.url}#{TLS_NAME}"], body, tls_ca_file=ub.ca_file))
        assert relay.accepts == 3
    assert status[0]["failures"] == 0


def test_doh_reconnects_after_the_server_closes_an_idle_connection(ub: Unbound) -> None:
    with doh_relay(ub, idle_timeout=0.2) as relay:
        async def body(pool: UpstreamPool) -> list[dict]:
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            await asyncio.sleep(0.6)
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            return pool.status()

        status = run(with_pool([f"{relay.url}#{TLS_NAME}"], body, tls_ca_file=ub.ca_file))
        assert relay.accepts == 2
    assert status[0]["failures"] == 0 and status[0]["connections"] == 2


@pytest.mark.parametrize(("knob", "says"), [
    ({"status": 500}, "HTTP status 500"),
    ({"content_type": "text/html"}, "Content-Type"),
])
def test_doh_http_failures_are_upstream_failures(ub: Unbound, knob: dict, says: str) -> None:
    with doh_relay(ub, **knob) as relay:
        async def body(pool: UpstreamPool) -> None:
            with pytest.raises(UpstreamError, match=says):
                await pool.resolve(WWW, wire.T_A, wire.C_IN)

        run(with_pool([f"{relay.url}#{TLS_NAME}"], body, tls_ca_file=ub.ca_file, attempts=1))


def test_doh_queries_carry_id_zero(ub: Unbound) -> None:
    with doh_relay(ub) as relay:
        async def body(pool: UpstreamPool) -> bytes:
            return await pool.resolve(WWW, wire.T_A, wire.C_IN)

        data = run(with_pool([f"{relay.url}#{TLS_NAME}"], body, tls_ca_file=ub.ca_file))
    assert parse(data).header.id == 0


# ---------------------------------------------------------------- failover and choice


def test_failover_from_a_dead_port(ub: Unbound) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: ICMP port unreachable

    async def body(pool: UpstreamPool) -> list[dict]:
        t0 = time.monotonic()
        assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
        assert time.monotonic() - t0 < 1.0  # refused at once, not a timeout
        assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
        return pool.status()

    status = run(with_pool([dead, plain(ub)], body))
    assert not status[0]["healthy"] and status[0]["failures"] == 1 and status[0]["last_error"]
    assert status[0]["queries"] == 1  # benched: the second query went straight to the good one
    assert status[0]["retry_in"] > 0
    assert status[1]["healthy"] and status[1]["queries"] == 2


def test_failover_from_a_stopped_unbound(ub: Unbound) -> None:
    with Unbound() as gone:
        spec = plain(gone)
        gone.stop()

        async def body(pool: UpstreamPool) -> list[dict]:
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            return pool.status()

        status = run(with_pool([spec, plain(ub)], body))
    assert [s["healthy"] for s in status] == [False, True]


def test_failover_from_a_silent_upstream_within_the_timeout(ub: Unbound) -> None:
    with Hostile(lambda q: []) as silent:
        async def body(pool: UpstreamPool) -> tuple[float, list[dict]]:
            t0 = time.monotonic()
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            took = time.monotonic() - t0
            await pool.settle()  # the silent one's attempt runs on to its timeout: then it is down
            return took, pool.status()

        took, status = run(with_pool([silent.addr, plain(ub)], body, timeout=2.0, hedge=0.3))
    assert 0.3 <= took < 1.0  # the next upstream was asked after the hedge delay, not the timeout
    assert status[0]["hedged"] == 1 and not status[0]["healthy"] and "timeout" in status[0]["last_error"]
    assert status[1]["healthy"] and status[1]["queries"] == 1


def test_servfail_moves_on_without_benching(ub: Unbound) -> None:
    with Scripted(zone=dict(ZONE), mode="servfail") as sf:
        async def body(pool: UpstreamPool) -> list[dict]:
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            return pool.status()

        status = run(with_pool([sf.addr, plain(ub)], body))
    assert status[0]["failures"] == 1 and "SERVFAIL" in status[0]["last_error"]
    assert status[0]["healthy"]  # SERVFAIL is about the name, not the resolver


def test_every_upstream_failing_raises_within_the_deadline() -> None:
    with Hostile(lambda q: []) as a, Hostile(lambda q: []) as b:
        async def body(pool: UpstreamPool) -> float:
            t0 = time.monotonic()
            with pytest.raises(UpstreamError, match="timeout"):
                await pool.resolve(WWW, wire.T_A, wire.C_IN)
            return time.monotonic() - t0

        took = run(with_pool([a.addr, b.addr], body, timeout=0.2, attempts=3))
        assert len(a.seen) + len(b.seen) == 3
        assert len(a.seen) == 2 and len(b.seen) == 1  # a, b, then a again
    assert took < 0.2 * 3 + 0.6


def test_backoff_doubles_and_one_success_restores(ub: Unbound) -> None:
    state = {"up": False}

    def script(q: bytes) -> list[bytes | tuple[str, bytes]]:
        if state["up"]:
            return [good(q)]
        r = dnslib.DNSRecord.parse(q).reply()
        r.header.rcode = dnslib.RCODE.REFUSED
        return [bytes(r.pack())]

    now = [1000.0]
    with Hostile(script) as flaky:
        async def body(pool: UpstreamPool) -> list[float]:
            retry_in = []
            # asked; benched (not asked); probed aside when 1 s is over; again when 2 s are over
            for step in (0.0, 0.5, 1.0, 2.5):
                now[0] += step
                assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
                await pool.settle()  # the probe's outcome
                retry_in.append(pool.status()[0]["retry_in"])
            assert len(flaky.seen) == 3
            now[0] += 4.0
            state["up"] = True
            assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            await pool.settle()
            st = pool.status()[0]
            assert st["healthy"] and st["retry_in"] == 0 and st["failures"] == 3 and st["probes"] == 3
            assert len(flaky.seen) == 4
            return retry_in

        retry_in = run(with_pool([flaky.addr, plain(ub)], body, clock=lambda: now[0]))
    assert retry_in == [1.0, 0.5, 2.0, 4.0]


def test_most_queries_go_to_the_fastest_upstream() -> None:
    with Scripted(zone=dict(ZONE), delay=0.2) as slow, Scripted(zone=dict(ZONE)) as fast:
        async def body(pool: UpstreamPool) -> list[dict]:
            for _ in range(40):
                assert a_records(await pool.resolve(WWW, wire.T_A, wire.C_IN)) == ["192.0.2.10"]
            await pool.settle()  # the slow one's first answer, which came after the fast one's
            return pool.status()

        status = run(with_pool([slow.addr, fast.addr], body, timeout=1.0, explore=0.05))
        n_slow, n_fast = len(slow.queries()), len(fast.queries())
    assert n_slow + n_fast == 40 + status[0]["hedged"]  # the first: slow (not measured yet), then fast too
    assert n_fast >= 32 and n_slow >= 1  # the slow one was measured and is still sampled now and then
    assert status[0]["latency_ms"] > 150 > status[1]["latency_ms"]


def test_queries_in_flight_are_capped() -> None:
    with Scripted(zone=dict(ZONE), delay=0.2) as slow:
        async def body(pool: UpstreamPool) -> list[Any]:
            return await asyncio.gather(*(pool.resolve(WWW, wire.T_A, wire.C_IN) for _ in range(3)),
                                        return_exceptions=True)

        results = run(with_pool([slow.addr], body, max_inflight=2))
    assert [type(r) for r in results].count(bytes) == 2
    assert any(isinstance(r, UpstreamError) and "in flight" in str(r) for r in results)


# ---------------------------------------------------------------- hostile answers


class Hostile:
    """A scripted UDP server: `script(query)` gives the datagrams to send back, in order.
    A datagram given as ("other-port", data) is sent from a different socket (a spoof)."""

    def __init__(self, script: Callable[[bytes], list[bytes | tuple[str, bytes]]]) -> None:
        self.script = script
        self.seen: list[tuple[bytes, tuple[str, int]]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)  # so the loop notices `stop` (close() does not wake recvfrom)
        self.stop = threading.Event()
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                q, src = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.seen.append((q, src))
            for item in self.script(q):
                sock, data = (self.other, item[1]) if isinstance(item, tuple) else (self.sock, item)
                try:
                    sock.sendto(data, src)
                except OSError:
                    return
                time.sleep(0.01)

    def __enter__(self) -> Hostile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()
        self.other.close()


def good(q: bytes) -> bytes:
    r = dnslib.DNSRecord.parse(q).reply()
    r.add_answer(*dnslib.RR.fromZone("www.example.test. 300 A 192.0.2.10"))
    return bytes(r.pack())


def wrong_id(q: bytes) -> bytes:
    data = good(q)
    return struct.pack(">H", (struct.unpack(">H", data[:2])[0] + 1) & 0xFFFF) + data[2:]


def other_question(q: bytes) -> bytes:
    r = dnslib.DNSRecord.parse(q).reply()
    r.q.qname = dnslib.DNSLabel("evil.example.test")
    r.add_answer(*dnslib.RR.fromZone("evil.example.test. 300 A 203.0.113.66"))
    return bytes(r.pack())


def other_type(q: bytes) -> bytes:
    r = dnslib.DNSRecord.parse(q).reply()
    r.q.qtype = dnslib.QTYPE.AAAA
    return bytes(r.pack())


def not_a_response(q: bytes) -> bytes:
    return q  # QR clear


GARBAGE = b"\xde\xad\xbe\xef" * 5

BAD: dict[str, Callable[[bytes], list[bytes | tuple[str, bytes]]]] = {
    "garbage": lambda q: [GARBAGE],
    "wrong id": lambda q: [wrong_id(q)],
    "other question": lambda q: [other_question(q)],
    "other type": lambda q: [other_type(q)],
    "not a response": lambda q: [not_a_response(q)],
    "truncated header": lambda q: [good(q)[:7]],
    "nothing": lambda q: [],
    "right answer from another port": lambda q: [("other-port", good(q))],
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_datagrams_are_never_returned(case: str) -> None:
    with Hostile(BAD[case]) as h:
        async def body(pool: UpstreamPool) -> float:
            t0 = time.monotonic()
            with pytest.raises(UpstreamError, match="timeout"):
                await pool.resolve(WWW, wire.T_A, wire.C_IN)
            return time.monotonic() - t0

        took = run(with_pool([h.addr], body, timeout=0.3, attempts=2))
        assert len(h.seen) == 2
    assert 0.55 < took < 0.6 + 0.8  # waited for the real answer until the deadline, no longer


@pytest.mark.parametrize("case", ["garbage", "wrong id", "other question", "other type",
                                  "right answer from another port"])
def test_the_right_answer_after_a_bad_one_is_returned(case: str) -> None:
    with Hostile(lambda q: [*BAD[case](q), good(q)]) as h:
        async def body(pool: UpstreamPool) -> tuple[bytes, list[dict]]:
            return await pool.resolve(WWW, wire.T_A, wire.C_IN), pool.status()

        data, status = run(with_pool([h.addr], body, timeout=1.0, attempts=1))
    assert a_records(data) == ["192.0.2.10"]
    assert status[0]["failures"] == 0

"""Plain DNS over long-lived UDP sockets (shell/upstream/plain.py) and the lane that asks them
without a task per question (shell/upstream/lane.py), against real servers on loopback:
random IDs and rotating random source ports, sockets that never pile up, late and forged
datagrams ignored, and every case the lane must leave to the pool (failures, an upstream
down, an encrypted first choice) answered by the pool as before; on both I/O paths (batched:
sendmmsg/recvmmsg per loop pass, and one packet per call). Nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import dnslib
import pytest

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import parse_upstream
from dnsfilter.shell import mmsg
from dnsfilter.shell.upstream import plain
from dnsfilter.shell.upstream.base import Question, UpstreamError
from dnsfilter.shell.upstream.lane import Lane
from dnsfilter.shell.upstream.plain import DnsTransport
from dnsfilter.shell.upstream.pool import UpstreamPool
from tests.support.scripted import Scripted
from tests.support.unbound import TLS_NAME, Unbound, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    pytest.mark.filterwarnings("error::ResourceWarning"),  # every socket opened is closed
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]

ZONE = {"www.example.test": ["www.example.test. 300 A 192.0.2.10"]}
WWW = Question(wire.text_to_wire("www.example.test"), wire.T_A, wire.C_IN)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(asyncio.wait_for(coro, 30))
    finally:
        gc.collect()


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def a_records(data: bytes) -> list[str]:
    return [str(r.rdata) for r in dnslib.DNSRecord.parse(data).rr if r.rtype == dnslib.QTYPE.A]


@pytest.fixture(params=[True, False], ids=["batched", "single"])
def batch_io(request: pytest.FixtureRequest) -> bool:
    if request.param and mmsg.available() is not None:
        pytest.skip(f"no batched I/O here: {mmsg.available()}")
    return bool(request.param)


def transport(addr: str, batch_io: bool) -> DnsTransport:
    t = DnsTransport(parse_upstream(addr), batch_io=batch_io)
    assert t.udp_sockets.batch is batch_io  # the path under test is the one taken
    return t


def test_ids_are_random_and_ports_rotate(batch_io: bool) -> None:
    n = 4 * plain.QUERIES
    with Scripted(zone=dict(ZONE)) as up:
        async def body() -> None:
            t = transport(up.addr, batch_io)
            try:
                for _ in range(n):
                    assert a_records(await t.exchange(WWW, 2.0)) == ["192.0.2.10"]
            finally:
                await t.close()

        run(body())
        seen = up.queries("www.example.test")
    assert len(seen) == n
    assert len({s.record.header.id for s in seen}) > n - 10  # 16 random bits each
    ports: dict[int, int] = {}
    for s in seen:
        ports[s.source[1]] = ports.get(s.source[1], 0) + 1
    assert len(ports) >= n // plain.QUERIES  # each socket is retired after QUERIES queries
    assert max(ports.values()) <= plain.QUERIES
    assert up.port not in ports


def test_sockets_never_pile_up_and_close_when_retired(batch_io: bool) -> None:
    with Scripted(zone=dict(ZONE)) as up:
        async def body() -> tuple[int, int, int]:
            before = fds()
            t = transport(up.addr, batch_io)
            peak = 0
            try:
                for _ in range(10):  # 2000 questions, 200 at a time
                    got = await asyncio.gather(*(t.exchange(WWW, 2.0) for _ in range(200)))
                    assert all(a_records(g) == ["192.0.2.10"] for g in got)
                    peak = max(peak, fds() - before)
                await asyncio.sleep(2 * plain.SWEEP)
                settled = fds() - before
            finally:
                await t.close()
            return peak, settled, fds() - before

        peak, settled, closed = run(body())
    assert peak <= plain.SOCKETS + 200 // plain.QUERIES + 2  # the slots, and a few retiring
    assert settled <= plain.SOCKETS and closed == 0


def test_a_late_answer_is_ignored_and_the_query_times_out(batch_io: bool) -> None:
    with Scripted(zone=dict(ZONE), delay=0.4) as slow:
        async def body() -> tuple[float, int]:
            t = transport(slow.addr, batch_io)
            try:
                t0 = time.monotonic()
                with pytest.raises(UpstreamError, match="timeout"):
                    await t.exchange(WWW, 0.15)
                took = time.monotonic() - t0
                await asyncio.sleep(0.5)  # the answer comes, to a socket nobody waits on for it
                return took, t.ignored
            finally:
                await t.close()

        took, ignored = run(body())
    assert 0.14 < took < 0.15 + 3 * plain.SWEEP
    assert ignored == 1


def test_a_dead_port_fails_at_once(batch_io: bool) -> None:
    async def body() -> float:
        t = transport(f"127.0.0.1:{free_port()}", batch_io)  # ICMP port unreachable
        try:
            t0 = time.monotonic()
            with pytest.raises(UpstreamError, match="UDP"):
                await t.exchange(WWW, 2.0)
            return time.monotonic() - t0
        finally:
            await t.close()

    assert run(body()) < 1.0


def test_a_query_the_socket_refuses_fails_at_once_and_the_others_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batched sends: the error an earlier ICMP left on the socket fails the query sendmmsg
    meets it with (as a send would), at once; the queries after it are sent."""
    if mmsg.available() is not None:
        pytest.skip(f"no batched I/O here: {mmsg.available()}")
    monkeypatch.setattr(plain, "SOCKETS", 1)  # every query on one socket

    async def body() -> tuple[list[str], float]:
        t = transport(f"127.0.0.1:{free_port()}", True)
        loop = asyncio.get_running_loop()
        got: list[str] = []
        try:
            t0 = time.monotonic()
            t.udp_sockets.send(WWW, 2.0, lambda data, why: got.append(why))
            await asyncio.sleep(0)  # sent: port unreachable comes back
            time.sleep(0.05)  # ...and waits on the socket, the loop not reading it meanwhile
            for _ in range(2):
                t.udp_sockets.send(WWW, 2.0, lambda data, why: got.append(why))
            while len(got) < 3 and time.monotonic() - t0 < 5:
                await asyncio.sleep(0.01)
            assert loop.is_running()
            return got, time.monotonic() - t0
        finally:
            await t.close()

    got, took = run(body())
    assert len(got) == 3 and all("UDP" in why and "refused" in why for why in got), got
    assert took < 1.0  # none waited for its timeout


# ---------------------------------------------------------------- the lane


def ask(lane: Lane, name: str = "www.example.test") -> asyncio.Future[tuple[bytes | None, str]]:
    fut: asyncio.Future[tuple[bytes | None, str]] = asyncio.get_running_loop().create_future()
    lane.submit(wire.text_to_wire(name), wire.T_A, wire.C_IN, False, False,
                lambda data, why: fut.done() or fut.set_result((data, why)))
    return fut


async def with_lane(specs: list[str], body: Callable[[Lane], Coroutine[Any, Any, Any]], **kw: Any) -> Any:
    kw.setdefault("explore", 0.0)
    kw.setdefault("batch_io", mmsg.available() is None)
    pool = UpstreamPool([parse_upstream(s) for s in specs], **kw)
    lane = Lane(pool)
    try:
        return await body(lane)
    finally:
        await lane.drain(2.0)
        await pool.close()


def test_the_lane_answers_without_a_task_and_counts_health(batch_io: bool) -> None:
    with Scripted(zone=dict(ZONE)) as up:
        async def body(lane: Lane) -> tuple[list[tuple[bytes | None, str]], list[dict]]:
            got = [await ask(lane) for _ in range(20)]
            return got, lane.pool.status()

        got, status = run(with_lane([up.addr], body, batch_io=batch_io))
    assert all(data is not None and a_records(data) == ["192.0.2.10"] for data, _ in got)
    assert status[0]["queries"] == 20 and status[0]["latency_ms"] is not None and status[0]["healthy"]


def test_the_lane_takes_no_task_while_all_is_well() -> None:
    with Scripted(zone=dict(ZONE)) as up:
        async def body(lane: Lane) -> tuple[int, int, int]:
            tasks = len(asyncio.all_tasks())
            futs = [ask(lane) for _ in range(50)]
            during = len(asyncio.all_tasks()) - tasks  # no task was made for any of them
            await asyncio.gather(*futs)
            return during, lane.direct, lane.handed

        during, direct, handed = run(with_lane([up.addr], body))
    assert during == 0 and direct == 50 and handed == 0


def test_answered_questions_are_not_hedged(batch_io: bool) -> None:
    """Two upstreams, both prompt: every question is answered by its first attempt, and the
    hedge delays that pass afterwards (one heap, one timer) ask nobody else."""
    with Scripted(zone=dict(ZONE)) as one, Scripted(zone=dict(ZONE)) as two:
        async def body(lane: Lane) -> tuple[int, int, int, list[dict]]:
            futs = [ask(lane) for _ in range(40)]
            got = await asyncio.gather(*futs)
            await asyncio.sleep(0.8 * 0.125 + 0.2)  # past every hedge delay (1/8 of the timeout)
            ok = sum(1 for data, _ in got if data is not None and a_records(data) == ["192.0.2.10"])
            return ok, lane.direct, lane.handed, lane.pool.status()

        ok, direct, handed, status = run(with_lane([one.addr, two.addr], body, timeout=0.8, batch_io=batch_io))
    assert ok == 40 and direct == 40 and handed == 0
    assert [s["hedged"] for s in status] == [0, 0]
    assert len(one.queries("www.example.test")) + len(two.queries("www.example.test")) == 40


def test_a_slow_first_choice_is_hedged_while_the_others_are_not(batch_io: bool) -> None:
    """Hedge delays of many questions in one heap: the questions asked of the slow upstream
    first are handed to the pool when their delay passes (it asks the other one), those asked
    of the prompt one first are answered before theirs and never are."""
    with Scripted(zone=dict(ZONE), delay=0.3) as slow, Scripted(zone=dict(ZONE)) as good:
        async def body(lane: Lane) -> tuple[int, int, int, list[dict]]:
            # neither measured yet: config order, and half of them explore the other one
            got = await asyncio.gather(*[ask(lane) for _ in range(40)])
            await asyncio.sleep(0.4)  # the slow one's late answers count into its health
            ok = sum(1 for data, _ in got if data is not None and a_records(data) == ["192.0.2.10"])
            return ok, lane.direct, lane.handed, lane.pool.status()

        ok, direct, handed, status = run(with_lane([slow.addr, good.addr], body, timeout=0.8, explore=0.5,
                                                   batch_io=batch_io))
    assert ok == 40 and direct + handed == 40
    assert 1 <= handed < 40 and status[0]["hedged"] == handed and status[1]["hedged"] == 0
    assert status[0]["healthy"] and status[0]["latency_ms"] >= 300  # its answers came, late


def test_servfail_is_left_to_the_pool_which_asks_the_next_upstream() -> None:
    with Scripted(zone=dict(ZONE), mode="servfail") as bad, Scripted(zone=dict(ZONE)) as good:
        async def body(lane: Lane) -> tuple[tuple[bytes | None, str], int, list[dict]]:
            return await ask(lane), lane.handed, lane.pool.status()

        (data, _why), handed, status = run(with_lane([bad.addr, good.addr], body))
    assert data is not None and a_records(data) == ["192.0.2.10"]
    assert handed == 1 and "SERVFAIL" in status[0]["last_error"]


def test_a_silent_upstream_is_left_to_the_pool_after_the_wait() -> None:
    with Scripted(zone=dict(ZONE), mode="drop") as silent, Scripted(zone=dict(ZONE)) as good:
        async def body(lane: Lane) -> tuple[tuple[bytes | None, str], float, int]:
            t0 = time.monotonic()
            got = await ask(lane)
            return got, time.monotonic() - t0, lane.handed

        (data, _), took, handed = run(with_lane([silent.addr, good.addr], body, timeout=0.8))
    assert data is not None and a_records(data) == ["192.0.2.10"] and handed == 1
    # the lane waited its share (1/8 of the timeout), then the pool asked the silent one again
    # and moved on to the good one after its timeout
    assert 0.1 < took < 0.1 + 0.8 + 0.5


def test_every_upstream_failing_gives_the_pools_error() -> None:
    with Scripted(zone=dict(ZONE), mode="servfail") as bad:
        async def body(lane: Lane) -> tuple[bytes | None, str]:
            return await ask(lane)

        data, why = run(with_lane([bad.addr], body, attempts=2))
    assert data is None and "SERVFAIL" in why


def test_an_upstream_down_sends_every_question_to_the_pool() -> None:
    with Scripted(zone=dict(ZONE)) as good:
        dead = f"127.0.0.1:{free_port()}"

        async def body(lane: Lane) -> tuple[list[bool], int, int]:
            ok = [(await ask(lane))[0] is not None for _ in range(5)]
            return ok, lane.direct, lane.handed

        ok, direct, handed = run(with_lane([dead, good.addr], body))
    # the first fails in the lane (ICMP), the pool benches the dead one and answers; while it
    # is down every question is the pool's (its probes and back-off live there)
    assert ok == [True] * 5 and direct == 0 and handed == 5


def test_an_encrypted_first_choice_is_the_pools() -> None:
    with Unbound(tls=True) as ub:
        spec = f"tls://127.0.0.1:{ub.tls_port}#{TLS_NAME}"

        async def body(lane: Lane) -> tuple[tuple[bytes | None, str], int]:
            return await ask(lane), lane.handed

        (data, _), handed = run(with_lane([spec], body, tls_ca_file=str(ub.ca_file)))
    assert data is not None and a_records(data) == ["192.0.2.10"] and handed == 1


def test_a_closed_pool_answers_none() -> None:
    async def body(lane: Lane) -> tuple[bytes | None, str]:
        await lane.pool.close()
        return await ask(lane)

    data, why = run(with_lane(["127.0.0.1:9"], body))
    assert data is None and "closed" in why

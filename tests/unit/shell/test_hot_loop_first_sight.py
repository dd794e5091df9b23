"""The UDP loop's first sights on a real loopback socket, on both I/O paths (recvmmsg batches
and one packet per call): a blocked name is answered from its bytes exactly as the full path
answers it, and a bug in Engine.first_sight costs that query the fast way only: the full path
answers it, the loop goes on and the bug is logged."""

from __future__ import annotations

import asyncio
import socket

import pytest

from dnsfilter.config import Listen
from dnsfilter.core.dns.upstream_spec import parse_upstream
from dnsfilter.core.engine import Engine
from dnsfilter.shell import mmsg
from dnsfilter.shell.server import DnsServer
from dnsfilter.shell.upstream.pool import UpstreamPool
from tests.support.engine import make, q, sends

IO = ["batched", "single"]


class _FailingBytes(bytearray):
    """The fast path's doorkeeper array with a bug: every read raises. Engine.first_sight and
    what it calls may be compiled (make native), and a compiled method cannot be replaced: the
    bug is planted in a buffer it reads. Every blocked first sight asks the doorkeeper whether
    to keep its answer; the full path asks it only once the table is full (never here)."""

    def __getitem__(self, i: object) -> int:
        raise RuntimeError("boom")


def _io(kind: str) -> bool:
    if kind == "batched" and mmsg.available() is not None:
        pytest.skip(f"no batched I/O here: {mmsg.available()}")
    return kind == "batched"


async def _exchange(eng: Engine, batch_io: bool, queries: list[bytes]) -> list[bytes]:
    """Each query sent from one loopback client in turn, its answer read (5 s bound each)."""
    pool = UpstreamPool([parse_upstream("127.0.0.1:9")], batch_io=batch_io)  # never asked: all are blocked
    srv = DnsServer(eng, pool, batch_io=batch_io)
    await srv.start([Listen("127.0.0.1", 0)])
    loop = asyncio.get_running_loop()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.setblocking(False)
    try:
        c.connect(srv.addresses()[0])
        out = []
        for data in queries:
            await loop.sock_sendall(c, data)
            out.append(await asyncio.wait_for(loop.sock_recv(c, 4096), 5.0))
        return out
    finally:
        c.close()
        await srv.close()


@pytest.mark.parametrize("io", IO)
def test_a_blocked_first_sight_answers_as_the_full_path(io: str) -> None:
    batch_io = _io(io)
    eng, ref = make(), make()
    qs = [q("denied.test", qid=1), q("ads.test", qid=2), q("Deep.Tracker.TEST", "AAAA", qid=3, edns=False)]
    got = asyncio.run(_exchange(eng, batch_io, [q("localhost", qid=9)] + qs))[1:]
    # the reference answers every one on the full path, from the same address
    assert got == [sends(ref.on_query(data, "127.0.0.1", "c", 0.0))[0].wire for data in qs]
    assert eng.stats.outcomes["blocked"] == ref.stats.outcomes["blocked"] == 3


@pytest.mark.parametrize("io", IO)
def test_a_first_sight_that_raises_goes_the_full_way(io: str) -> None:
    batch_io = _io(io)
    eng, ref = make(), make()
    logged: list[tuple[str, str]] = []
    eng.log = lambda kind, msg: logged.append((kind, msg))  # type: ignore[method-assign]

    # a bug: the first sight of each name raises
    eng.fast.door.cur = _FailingBytes(len(eng.fast.door.cur))
    qs = [q("ads.test", qid=2), q("adult.test", qid=3)]
    got = asyncio.run(_exchange(eng, batch_io, [q("localhost", qid=9)] + qs))[1:]
    assert got == [sends(ref.on_query(data, "127.0.0.1", "c", 0.0))[0].wire for data in qs]
    assert [k for k, m in logged if "first sight from 127.0.0.1 failed" in m and "boom" in m] == ["internal"] * 2
    assert eng.stats.outcomes["blocked"] == 2  # each counted once, by its full path

"""Plain DNS upstreams: UDP, and TCP (RFC 7766) when the UDP answer is truncated.

UDP queries go out on a few long-lived *connected* sockets per upstream (`UdpSockets`): the
kernel binds each to a random source port and drops datagrams from anyone but the upstream's
address and port. A query takes a random one of SOCKETS slots and a random ID from the OS
CSPRNG; a socket is retired after QUERIES queries or AGE seconds and closed once its last
query is answered, so source ports keep changing (as dnsmasq's random sockets do). A blind
spoofer still has to hit one of the (port, ID) pairs in flight, as with a socket per query;
what the pool saves is four system calls, an epoll registration and a Python socket object
per query (most of a cache miss's cost).

Answers are read by a reader callback per socket, up to a batch per wake-up, and matched to
their query by ID and question (`answers`: the header and question only; the engine reads the
records once): no task, future or timer per query (`send` takes a callback; `exchange` wraps
it in a future for the pool's coroutines). Datagrams that do not answer a query waiting on that
socket (wrong ID, other question, garbage, too late) are ignored, so one forged packet cannot
make a query fail. Timeouts are swept every SWEEP seconds.

With batched I/O (shell/mmsg.py, `batch_io`), the queries asked during one pass of the event
loop (a listener's batch of cache misses) go out at the start of the next pass, one sendmmsg
per socket, and each wake-up of a socket reads its answers with one recvmmsg; without it, a
query is one send and an answer one recv (and a last recv to find the socket empty).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Final

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell import mmsg
from dnsfilter.shell.upstream.base import LEN, MAX_MESSAGE, Question, UpstreamError, check, new_id

SOCKETS = 16  # slots per upstream; sockets are opened when a query picks an empty slot
QUERIES: Final = 100  # queries a socket sends before it is retired
AGE: Final = 10.0  # seconds a socket takes new queries
SWEEP: Final = 0.05  # seconds between timeout sweeps while queries wait
READS: Final = 64  # datagrams read per socket per wake-up, so other sockets and the listener get their turn

Done = Callable[[bytes | None, str], None]  # (answer, "") or (None, why)


class _Randoms:
    """16-bit values from the OS CSPRNG, drawn 2048 at a time (secrets.randbelow per value
    cost a microsecond)."""

    __slots__ = ("buf", "i")

    def __init__(self) -> None:
        self.buf: memoryview = memoryview(b"")
        self.i = 0

    def next(self) -> int:
        if self.i >= len(self.buf):
            self.buf, self.i = memoryview(os.urandom(4096)).cast("H"), 0
        v = self.buf[self.i]
        self.i += 1
        return v


class _Sock:
    __slots__ = ("sock", "fd", "waiting", "sent", "until", "retired", "out")

    def __init__(self, sock: socket.socket, until: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        # qid -> (question, done, deadline, timeout)
        self.waiting: dict[int, tuple[Question, Done, float, float]] = {}
        self.sent = 0
        self.until = until
        self.retired = False
        self.out: list[tuple[int, bytes]] = []  # (qid, query) to send at the next flush (batched I/O)


class UdpSockets:
    """The UDP sockets of one upstream (see the module doc). Runs on the event loop thread."""

    def __init__(self, spec: UpstreamSpec, clock: Callable[[], float] = time.monotonic,
                 batch_io: bool = True) -> None:
        self.batch = batch_io and mmsg.available() is None
        # one of each for all the upstream's sockets: every use ends before the loop moves on
        self.outbox = mmsg.Outbox(n=64, size=512, named=False) if self.batch else None  # a query is < 300 bytes
        self.inbox = mmsg.Inbox() if self.batch else None
        self.queued: list[_Sock] = []  # sockets with queries to send at the next flush
        self.spec = spec
        self.addr = (spec.host, spec.port)
        self.family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
        self.clock = clock
        self.slots: list[_Sock | None] = [None] * SOCKETS
        self.draining: list[_Sock] = []  # retired, still waiting for answers
        self.rand = _Randoms()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sweeper: asyncio.TimerHandle | None = None
        self.ignored = 0  # datagrams that did not answer a waiting query
        self.opened = 0  # sockets opened so far

    def send(self, q: Question, timeout: float, done: Done) -> None:
        """Ask `q`; `done` is called once, from the event loop, with the validated answer or
        why there is none (timeout, ICMP error). Never raises."""
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
        now = self.clock()
        i = self.rand.next() % SOCKETS
        s = self.slots[i]
        if s is None or s.retired or now >= s.until:
            if s is not None:
                self._retire(s)
            try:
                s = self.slots[i] = self._open(now)
            except OSError as e:
                self.slots[i] = None
                loop.call_soon(done, None, f"{self.spec.text}: UDP: {e.strerror or e}")
                return
        qid = self.rand.next()
        while qid in s.waiting:
            qid = self.rand.next()
        if self.batch:  # sent with the others of this pass, at the start of the next (`_flush`)
            if not self.queued:
                loop.call_soon(self._flush)
            if not s.out:
                self.queued.append(s)
            s.out.append((qid, q.build(qid)))
        else:
            try:
                s.sock.send(q.build(qid))
            except OSError as e:  # e.g. ECONNREFUSED reported from an earlier ICMP error
                loop.call_soon(done, None, f"{self.spec.text}: UDP: {e.strerror or e}")
                return
        s.waiting[qid] = (q, done, now + timeout, timeout)
        s.sent += 1
        if s.sent >= QUERIES:
            self._retire(s)
            self.slots[i] = None
        if self.sweeper is None:
            self.sweeper = loop.call_later(SWEEP, self._sweep)

    def _flush(self) -> None:
        """Send the queries queued since the last flush: one sendmmsg per socket (a send when
        it has one). A query the socket refuses fails now, as its send would have."""
        queued, self.queued = self.queued, []
        box = self.outbox
        assert box is not None
        for s in queued:
            out, s.out = s.out, []
            if s.sock.fileno() < 0:  # closed meanwhile (`close`): its queries have failed already
                continue
            waiting = s.waiting
            out = [(qid, data) for qid, data in out if qid in waiting]  # not failed meanwhile (ICMP)
            failed: list[tuple[int, int]] = []
            if len(out) == 1:
                try:
                    s.sock.send(out[0][1])
                except OSError as e:
                    failed.append((0, e.errno or 0))
            else:
                for start in range(0, len(out), box.n):
                    part = out[start : start + box.n]
                    for k, (_qid, data) in enumerate(part):
                        box.put(k, data)  # a query is at most 282 bytes: it fits a slot
                    failed += [(start + i, err) for i, err in box.flush(s.fd, len(part))]
            for i, err in failed:
                w = waiting.pop(out[i][0], None)
                if w is not None:
                    w[1](None, f"{self.spec.text}: UDP: {os.strerror(err)}")
            if s.retired and not waiting:
                self._drop(s)

    def _open(self, now: float) -> _Sock:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(self.addr)  # UDP connect: no packet, binds a random port and filters
        except OSError:
            sock.close()
            raise
        s = _Sock(sock, now + AGE)
        assert self.loop is not None
        self.loop.add_reader(s.fd, self._readable, s)
        self.opened += 1
        return s

    def _retire(self, s: _Sock) -> None:
        if s.retired:
            return
        s.retired = True
        if s.waiting:
            self.draining.append(s)
        else:
            self._close(s)

    def _close(self, s: _Sock) -> None:
        if self.loop is not None:
            self.loop.remove_reader(s.fd)
        s.sock.close()

    def _readable(self, s: _Sock) -> None:
        if self.inbox is not None:
            self._read_batched(s, self.inbox)
            return
        recv, waiting = s.sock.recv, s.waiting
        for _ in range(READS):
            try:
                data = recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:  # an ICMP error (port unreachable): every query on it fails
                self._failed(s, e.strerror or str(e))
                break
            self._deliver(waiting, data)
        if s.retired and not waiting:
            self._drop(s)

    def _read_batched(self, s: _Sock, box: mmsg.Inbox) -> None:
        """`_readable` with recvmmsg: fewer datagrams than asked for means none are left,
        without the call that finds the socket empty."""
        waiting, fd, data_at, deliver = s.waiting, s.fd, box.data, self._deliver
        total = 0
        while total < READS:
            n = box.recv(fd)
            if n <= 0:
                if n < 0:  # an ICMP error (port unreachable): every query on it fails
                    self._failed(s, os.strerror(-n))
                break
            total += n
            for i in range(n):
                deliver(waiting, data_at(i))
            if n < box.n:
                break
        if s.retired and not waiting:
            self._drop(s)

    def _deliver(self, waiting: dict[int, tuple[Question, Done, float, float]], data: bytes) -> None:
        """`data` to the query waiting on this socket that it answers; anything else is ignored."""
        qid = data[0] << 8 | data[1] if len(data) >= 12 else -1
        w = waiting.get(qid)
        if w is None or not answers(data, w[0]):
            self.ignored += 1
            return
        del waiting[qid]
        w[1](data, "")

    def _failed(self, s: _Sock, why: str) -> None:
        why = f"{self.spec.text}: UDP: {why}"
        waiting = list(s.waiting.values())
        s.waiting.clear()
        for _q, done, _d, _t in waiting:
            done(None, why)

    def _drop(self, s: _Sock) -> None:
        """A retired socket nobody waits on any more: closed."""
        if s in self.draining:
            self.draining.remove(s)
        self._close(s)

    def _sweep(self) -> None:
        """Time out the queries past their deadline; close retired sockets nobody waits on."""
        self.sweeper = None
        now = self.clock()
        busy = False
        for s in [*(x for x in self.slots if x is not None), *self.draining]:
            late = [qid for qid, w in s.waiting.items() if w[2] <= now]
            for qid in late:
                _q, done, _d, timeout = s.waiting.pop(qid)
                done(None, f"{self.spec.text}: timeout after {timeout:.2g}s over UDP")
            if s.waiting:
                busy = True
            elif s.retired:
                self.draining.remove(s)
                self._close(s)
        if busy and self.loop is not None:
            self.sweeper = self.loop.call_later(SWEEP, self._sweep)

    def waiting(self) -> int:
        return sum(len(s.waiting) for s in [*(x for x in self.slots if x is not None), *self.draining])

    def close(self) -> None:
        """Close every socket; queries still waiting fail."""
        self.queued = []
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        for s in [*(x for x in self.slots if x is not None), *self.draining]:
            for _q, done, _d, _t in list(s.waiting.values()):
                done(None, f"{self.spec.text}: closed")
            s.waiting.clear()
            self._close(s)
        self.slots = [None] * SOCKETS
        self.draining.clear()


_TYPECLASS: Final = struct.Struct(">HH")


def answers(data: bytes, q: Question) -> bool:
    """Whether a datagram whose ID is that of a query waiting for it answers `q`: a response to
    a standard query with `q` as its one question (the name compared without regard to case,
    which a resolver may change). The records are read once, by the engine, which treats an
    unreadable answer as that upstream's failure."""
    n = len(q.qname)
    if len(data) < 16 + n or data[2] & 0xF8 != 0x80 or data[4] or data[5] != 1:
        return False
    return data[12 : 12 + n].lower() == q.qname and data[12 + n : 16 + n] == _TYPECLASS.pack(q.qtype, q.qclass)


class DnsTransport:
    def __init__(self, spec: UpstreamSpec, batch_io: bool = True) -> None:
        self.spec = spec
        self.udp_sockets = UdpSockets(spec, batch_io=batch_io)
        self.connections = 0  # TCP connections (only for truncated answers)

    @property
    def ignored(self) -> int:
        return self.udp_sockets.ignored

    async def exchange(self, q: Question, timeout: float) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        data = await self.udp(q, timeout)
        if int.from_bytes(data[2:4]) & wire.F_TC:
            left = deadline - loop.time()  # truncated: ask again over TCP in the time left
            if left <= 0:
                raise UpstreamError(f"{self.spec.text}: truncated answer and no time left for TCP")
            return await self.tcp(q, left)
        return data

    async def udp(self, q: Question, timeout: float) -> bytes:
        fut: asyncio.Future[tuple[bytes | None, str]] = asyncio.get_running_loop().create_future()

        def done(data: bytes | None, why: str) -> None:
            if not fut.done():  # the awaiting task may have been cancelled meanwhile
                fut.set_result((data, why))

        self.udp_sockets.send(q, timeout, done)
        data, why = await fut
        if data is None:
            raise UpstreamError(why)
        return data

    async def tcp(self, q: Question, timeout: float) -> bytes:
        qid = new_id()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(self.spec.host, self.spec.port)
                self.connections += 1
                msg = q.build(qid)
                writer.write(LEN.pack(len(msg)) + msg)
                await writer.drain()
                size = LEN.unpack(await reader.readexactly(2))[0]
                data = await reader.readexactly(size)
        except TimeoutError:
            raise UpstreamError(f"{self.spec.text}: timeout after {timeout:.2g}s over TCP") from None
        except asyncio.IncompleteReadError:
            raise UpstreamError(f"{self.spec.text}: TCP connection closed before the answer") from None
        except OSError as e:
            raise UpstreamError(f"{self.spec.text}: TCP: {e.strerror or e}") from None
        finally:
            if writer is not None:
                await close_writer(writer)
        check(data, qid, q, self.spec.text)
        return data

    async def close(self) -> None:
        self.udp_sockets.close()


async def close_writer(writer: asyncio.StreamWriter, wait: float = 1.0) -> None:
    """Close a stream and wait (briefly) until its socket is really closed."""
    writer.close()
    try:
        async with asyncio.timeout(wait):
            await writer.wait_closed()
    except TimeoutError:  # e.g. a TLS peer that never answers close_notify
        writer.transport.abort()
    except Exception:  # the connection is going away either way
        pass

"""DNS over TLS (RFC 7858): one verified, long-lived, pipelined connection per upstream.

Queries share the connection and are matched to answers by ID (several in flight at once, in
any order — RFC 7766 §6.2.1.1). A dead or idle-closed connection is replaced on the next
query; a query that was sent on a *reused* connection which then died before answering is
sent once more on a fresh one, because the server may simply have closed it while idle.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell.upstream.base import LEN, Opener, Question, Resolve, UpstreamError, matches, new_id
from dnsfilter.shell.upstream.plain import close_writer

if TYPE_CHECKING:
    import ssl

MAX_INFLIGHT = 256  # per connection: beyond this, queries wait for a slot
STREAM_LIMIT = 1 << 16


class ConnectionLost(UpstreamError):
    """The connection closed (or broke) while a query waited on it."""


class TlsConnection:
    """One TLS stream: a reader task hands each answer to the query waiting for its ID."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, who: str,
                 max_inflight: int) -> None:
        self.reader = reader
        self.writer = writer
        self.who = who
        self.pending: dict[int, tuple[Question, asyncio.Future[bytes]]] = {}
        self.slots = asyncio.Semaphore(max_inflight)
        self.sent = 0
        self.last_rx = 0.0  # loop time of the last answer read; 0: none yet
        self.closed = False
        self.why = ""
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def ask(self, q: Question) -> bytes:
        async with self.slots:
            if self.closed:
                raise ConnectionLost(f"{self.who}: {self.why or 'connection closed'}")
            qid = new_id()
            while qid in self.pending:  # IDs must be unique per connection
                qid = new_id()
            fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            self.pending[qid] = (q, fut)
            try:
                msg = q.build(qid)
                self.writer.write(LEN.pack(len(msg)) + msg)
                self.sent += 1
                await self.writer.drain()
                return await fut
            except (OSError, RuntimeError) as e:  # RuntimeError: write on a closing transport
                self.shutdown(f"send failed: {e}")
                raise ConnectionLost(f"{self.who}: {self.why}") from None
            finally:
                self.pending.pop(qid, None)

    async def _read(self) -> None:
        why = "closed by the server"
        try:
            while True:
                size = LEN.unpack(await self.reader.readexactly(2))[0]
                data = await self.reader.readexactly(size)
                self.last_rx = asyncio.get_running_loop().time()
                self._deliver(data)
        except asyncio.IncompleteReadError:
            pass
        except asyncio.CancelledError:
            why = "closed"
        except Exception as e:  # OSError, ssl.SSLError, …: whatever it is, this connection is done
            why = f"connection error: {e or type(e).__name__}"
        self.shutdown(why)

    def _deliver(self, data: bytes) -> None:
        if len(data) < 12:
            return
        entry = self.pending.get(int.from_bytes(data[:2]))
        if entry is None or entry[1].done():
            return  # the answer to a query that already gave up
        q, fut = entry
        if matches(data, int.from_bytes(data[:2]), q) is None:
            fut.set_exception(UpstreamError(f"{self.who}: answer does not match the query"))
        else:
            fut.set_result(data)

    def _fail(self, why: str) -> bool:
        """Mark closed and fail every waiting query; False if that already happened."""
        if self.closed:
            return False
        self.closed, self.why = True, why
        for _q, fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost(f"{self.who}: {why}"))
        return True

    def shutdown(self, why: str) -> None:
        if self._fail(why):
            self.writer.transport.abort()  # broken anyway: no close_notify dance

    async def close(self) -> None:
        graceful = self._fail("closed")
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if graceful:
            await close_writer(self.writer)


class TlsTransport:
    def __init__(self, spec: UpstreamSpec, ctx: ssl.SSLContext, max_inflight: int = MAX_INFLIGHT,
                 resolve: Resolve | None = None) -> None:
        self.spec = spec
        self.opener = Opener(spec, ctx, STREAM_LIMIT, resolve)
        self.max_inflight = max_inflight
        self.conn: TlsConnection | None = None
        self.lock = asyncio.Lock()
        self.connections = 0

    async def exchange(self, q: Question, timeout: float) -> bytes:
        start = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(timeout):
                conn = await self._connection(timeout)
                reused = conn.sent > 0
                try:
                    return await conn.ask(q)
                except ConnectionLost:
                    if not reused:
                        raise
                # The server may have closed the idle connection just as we wrote: once more, fresh.
                conn = await self._connection(timeout)
                return await conn.ask(q)
        except TimeoutError:
            current = self.conn  # may be None: the timeout can fall before one was made
            if current is not None and current.last_rx < start:
                # Not a byte since we asked: a hung connection; the next query gets a new one.
                current.shutdown("no answers")
            raise UpstreamError(f"{self.spec.text}: timeout after {timeout:.2g}s over TLS") from None

    async def _connection(self, timeout: float) -> TlsConnection:
        since = asyncio.get_running_loop().time()
        async with self.lock:  # concurrent queries wait for one handshake, not start many
            if self.conn is not None and not self.conn.closed:
                return self.conn
            if self.conn is not None:
                await self.conn.close()
                self.conn = None
            reader, writer = await self.opener.open(timeout, since)  # fails at once if it failed meanwhile
            self.connections += 1
            self.conn = TlsConnection(reader, writer, self.spec.text, self.max_inflight)
            return self.conn

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

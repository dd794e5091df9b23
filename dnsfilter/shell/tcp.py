"""DNS over TCP (RFC 7766): pipelined, length-prefixed queries answered in any order, idle
connections closed after `tcp_idle`, and at `tcp_max` connections the one idle the longest
closed to admit a new client (§6.2.3). Mixed into the DnsServer, whose engine answers."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

from dnsfilter.core.engine import Action, Engine

_LEN = struct.Struct(">H")

# What a peer can do to a connection: close it, reset it, stall, or send a short message.
PEER_ERRORS = (ConnectionError, TimeoutError, asyncio.IncompleteReadError, OSError)


class TcpClient:
    """One TCP connection: length-prefixed queries, pipelined, answered in any order."""

    __slots__ = ("writer", "last", "pending", "idle")

    def __init__(self, writer: asyncio.StreamWriter, now: float) -> None:
        self.writer = writer
        self.last = now  # when it connected or last sent a query
        self.pending = 0  # its queries not answered yet
        self.idle = False  # waiting for the next query, none half read

    def send(self, data: bytes) -> None:
        if self.pending:
            self.pending -= 1
        if not self.writer.is_closing():
            self.writer.write(_LEN.pack(len(data)) + data)


class TcpListener:
    """The TCP half of DnsServer (which sets these attributes and provides `_query` and
    `_execute`)."""

    engine: Engine
    clock: Callable[[], float]
    tcp_idle: float
    tcp_max: int
    tcp_clients: set[TcpClient]
    tcp_evicted: int  # idle connections closed to admit a new one at tcp_max (RFC 7766 §6.2.3)
    tcp_refused: int  # connections closed at once: tcp_max reached and none idle

    def _query(self, data: bytes, ip: str, to: object, now: float, tcp: bool, local: str | None) -> list[Action]:
        raise NotImplementedError

    def _execute(self, actions: list[Action]) -> None:
        raise NotImplementedError

    async def _tcp_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A client connection. Nothing the peer does (reset, half close, stall, garbage) gets
        past this function: its connection ends, quietly, and the listener goes on."""
        if len(self.tcp_clients) >= self.tcp_max and not self._evict_idle():
            self.tcp_refused += 1
            writer.transport.abort()
            return
        client = TcpClient(writer, self.clock())
        self.tcp_clients.add(client)
        try:
            peer = writer.get_extra_info("peername")
            sockname = writer.get_extra_info("sockname")
            if peer is None or sockname is None:  # reset before we got to it
                return
            stats = self.engine.stats
            while True:
                client.idle = True
                first = await asyncio.wait_for(reader.readexactly(1), self.tcp_idle)
                client.idle = False  # a query has begun: this connection is not idle
                (size,) = _LEN.unpack(first + await asyncio.wait_for(reader.readexactly(1), self.tcp_idle))
                data = await asyncio.wait_for(reader.readexactly(size), self.tcp_idle)
                client.last = self.clock()
                client.pending += 1
                dropped = stats.dropped
                self._execute(self._query(data, peer[0], client, client.last, True, sockname[0]))
                if stats.dropped != dropped and client.pending:  # no answer will come for it
                    client.pending -= 1
                # back-pressure on a client that does not read its answers, bounded like a read
                await asyncio.wait_for(writer.drain(), self.tcp_idle)
        except PEER_ERRORS:
            pass
        finally:
            self.tcp_clients.discard(client)
            writer.close()

    def _evict_idle(self) -> bool:
        """At the connection limit: close the connection idle the longest (waiting for a query,
        every answer sent), so that a new client is served rather than reset. False if none is."""
        idle = [c for c in self.tcp_clients if c.idle and not c.pending]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.last)
        self.tcp_clients.discard(victim)
        victim.writer.close()
        self.tcp_evicted += 1
        return True

    def tcp_status(self) -> dict[str, int]:
        return {"connections": len(self.tcp_clients), "evicted": self.tcp_evicted, "refused": self.tcp_refused}

"""Plain DNS upstreams: UDP, and TCP (RFC 7766) when the UDP answer is truncated.

Each UDP query gets a fresh *connected* socket: the kernel picks a random source port and
drops datagrams from anyone but the upstream's address and port. Datagrams that still do not
answer our question (wrong ID, other question, garbage) are ignored — we keep waiting for the
real answer until the timeout, so one forged packet cannot make a query fail.
"""

from __future__ import annotations

import asyncio
import socket

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell.upstream.base import LEN, MAX_MESSAGE, Question, UpstreamError, check, matches, new_id


class DnsTransport:
    def __init__(self, spec: UpstreamSpec) -> None:
        self.spec = spec
        self.addr = (spec.host, spec.port)
        self.family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
        self.connections = 0  # TCP connections (only for truncated answers)
        self.ignored = 0  # datagrams that did not answer the query they arrived for

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
        loop = asyncio.get_running_loop()
        qid = new_id()
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        ignored = 0
        try:
            sock.setblocking(False)
            sock.connect(self.addr)  # UDP connect: no packet, just binds a random port and filters
            sock.send(q.build(qid))
            async with asyncio.timeout(timeout):
                while True:
                    data = await loop.sock_recv(sock, MAX_MESSAGE)
                    if matches(data, qid, q) is not None:
                        return data
                    ignored += 1
                    self.ignored += 1
        except TimeoutError:
            extra = f" ({ignored} mismatching datagram(s) ignored)" if ignored else ""
            raise UpstreamError(f"{self.spec.text}: timeout after {timeout:.2g}s over UDP{extra}") from None
        except OSError as e:  # e.g. ECONNREFUSED from an ICMP port unreachable
            raise UpstreamError(f"{self.spec.text}: UDP: {e.strerror or e}") from None
        finally:
            sock.close()

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
        return None  # nothing is kept open between queries


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

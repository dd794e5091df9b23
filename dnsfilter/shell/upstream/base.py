"""What every upstream transport shares: the error type, the question being asked, how a
query is built and how an answer is checked before anyone trusts it."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import struct
from dataclasses import dataclass
from typing import Protocol

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.core.dns.wire import WireError

EDNS_PAYLOAD = 1232  # RFC 9715 / DNS flag day 2020: avoids IP fragmentation
MAX_MESSAGE = 65535
LEN = struct.Struct(">H")


class UpstreamError(Exception):
    """An upstream (or every upstream) failed to give a usable answer."""


@dataclass(frozen=True, slots=True)
class Question:
    qname: bytes  # lower-case wire form
    qtype: int
    qclass: int
    do: bool = False
    cd: bool = False

    def build(self, qid: int) -> bytes:
        # build_query never adds a client-subnet option: nothing about the client leaves.
        return wire.build_query(qid, self.qname, self.qtype, self.qclass, do=self.do, cd=self.cd,
                                payload=EDNS_PAYLOAD)


def new_id() -> int:
    """A query ID from the OS CSPRNG: with the random source port, what makes spoofing hard."""
    return secrets.randbelow(0x10000)


def matches(data: bytes, qid: int | None, q: Question) -> wire.Response | None:
    """The walked response if `data` answers `q` (with ID `qid`, unless None for DoH), else None."""
    try:
        r = wire.parse_response(data)
    except WireError:
        return None
    if qid is not None and r.id != qid:
        return None
    if r.flags & wire.OPCODE_MASK:
        return None
    # parse_response lower-cases the name, so 0x20-style case changes still match.
    if r.qname != q.qname or r.qtype != q.qtype or r.qclass != q.qclass:
        return None
    return r


def check(data: bytes, qid: int | None, q: Question, who: str) -> wire.Response:
    """Like `matches`, but a mismatch is an error (for streams, where nobody can inject)."""
    r = matches(data, qid, q)
    if r is None:
        raise UpstreamError(f"{who}: answer does not match the query")
    return r


def tls_context(ca_file: str | None, alpn: list[str] | None = None) -> ssl.SSLContext:
    """Certificate and host name verification on; the system store unless a CA file is given."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


async def open_tls(spec: UpstreamSpec, ctx: ssl.SSLContext, timeout: float,
                   limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A verified TLS stream to an upstream (DoT or DoH); failures become one-line UpstreamErrors."""
    try:
        return await asyncio.open_connection(
            spec.host, spec.port, ssl=ctx, server_hostname=spec.server_name,
            ssl_handshake_timeout=timeout, ssl_shutdown_timeout=1.0, limit=limit)
    except ssl.SSLCertVerificationError as e:
        raise UpstreamError(f"{spec.text}: certificate not accepted: {e.verify_message}") from None
    except ssl.SSLError as e:
        raise UpstreamError(f"{spec.text}: TLS handshake failed: {e.reason or e}") from None
    except OSError as e:
        raise UpstreamError(f"{spec.text}: cannot connect: {e.strerror or e}") from None


class Transport(Protocol):
    """One upstream's way of asking. `exchange` returns a validated answer or raises."""

    connections: int  # connections opened so far (TCP/TLS); shown in status

    async def exchange(self, q: Question, timeout: float) -> bytes: ...

    async def close(self) -> None: ...

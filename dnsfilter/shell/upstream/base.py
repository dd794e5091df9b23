"""What every upstream transport shares: the error type, the question being asked and how an
answer is checked before anyone trusts it (the question and its check are in question.py,
compiled with the query path)."""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell import tlsload
from dnsfilter.shell.upstream.question import Question, matches

if TYPE_CHECKING:
    import ssl

MAX_MESSAGE = 65535
LEN = struct.Struct(">H")


class UpstreamError(Exception):
    """An upstream (or every upstream) failed to give a usable answer."""


class TlsRefused(UpstreamError):
    """The upstream's certificate was not accepted, or its TLS handshake failed: not transient,
    so asking it again within one query would only repeat the handshake. A security event."""


def new_id() -> int:
    """A query ID from the OS CSPRNG: with the random source port, what makes spoofing hard."""
    return secrets.randbelow(0x10000)


def check(data: bytes, qid: int | None, q: Question, who: str) -> wire.Response:
    """Like `matches`, but a mismatch is an error (for streams, where nobody can inject)."""
    r = matches(data, qid, q)
    if r is None:
        raise UpstreamError(f"{who}: answer does not match the query")
    return r


def tls_context(extra_ca: str | None = None, alpn: list[str] | None = None) -> ssl.SSLContext:
    """Certificate and host name verification on, against the system store, plus the CA
    certificates in `extra_ca` (`dns.tls_ca_file`: a private CA *added* to the public ones).
    The first one loads TLS into the daemon (shell/tlsload.py)."""
    ssl = tlsload.ssl_module()
    ctx = ssl.create_default_context()
    if extra_ca:
        ctx.load_verify_locations(cafile=extra_ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Resolve = Callable[[str, float], Awaitable[str]]  # host name, timeout -> an IP address


async def open_tls(spec: UpstreamSpec, ctx: ssl.SSLContext, timeout: float, limit: int,
                   address: str | None = None) -> Streams:
    """A verified TLS stream to an upstream (DoT or DoH), at `address` when given (a host name
    found by the bootstrap servers), else at spec.host. Failures become one-line UpstreamErrors."""
    ssl = tlsload.ssl_module()  # loaded already: `ctx` came from tls_context
    try:
        return await asyncio.open_connection(
            address or spec.host, spec.port, ssl=ctx, server_hostname=spec.server_name,
            ssl_handshake_timeout=timeout, ssl_shutdown_timeout=1.0, limit=limit)
    except ssl.SSLCertVerificationError as e:
        raise TlsRefused(f"{spec.text}: certificate not accepted: {e.verify_message}") from None
    except ssl.SSLError as e:
        raise TlsRefused(f"{spec.text}: TLS handshake failed: {e.reason or e}") from None
    except OSError as e:
        raise UpstreamError(f"{spec.text}: cannot connect: {e.strerror or e}") from None


class Opener:
    """Opens verified TLS streams to one upstream (DoT's one connection, DoH's few).

    Until a handshake succeeds (and again after one fails), openers take turns, and one that
    waited behind a failed attempt gets that failure instead of trying again itself: a
    certificate error costs one handshake, however many queries were waiting for it. Host
    names go through the bootstrap resolver (`resolve`), never the system resolver, which on
    an appliance may be this very daemon."""

    def __init__(self, spec: UpstreamSpec, ctx: ssl.SSLContext, limit: int, resolve: Resolve | None) -> None:
        self.spec = spec
        self.ctx = ctx
        self.limit = limit
        self.resolve = resolve
        self.trusted = False  # the last handshake succeeded
        self.turns = asyncio.Lock()
        self.failed: tuple[float, UpstreamError] | None = None  # loop time and error of the last failure
        self.handshakes = 0  # attempted, for status and tests

    async def open(self, timeout: float, since: float | None = None) -> Streams:
        """A new stream; `since`: when the caller began to wait for one (loop time), if earlier."""
        if self.trusted:
            return await self._open(timeout)
        start = asyncio.get_running_loop().time() if since is None else since
        async with self.turns:
            if self.failed is not None and self.failed[0] >= start:
                raise self.failed[1]  # it failed while we waited: the same answer, no new handshake
            if not self.trusted:
                return await self._open(timeout)
        return await self._open(timeout)  # another one just succeeded: open ours alongside

    async def _open(self, timeout: float) -> Streams:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            address = None
            if not self.spec.is_ip:
                if self.resolve is None:
                    raise UpstreamError(f"{self.spec.text}: no bootstrap servers to find {self.spec.host}")
                address = await self.resolve(self.spec.host, timeout)
            self.handshakes += 1
            streams = await open_tls(self.spec, self.ctx, max(deadline - loop.time(), 0.001), self.limit, address)
        except UpstreamError as e:
            self.trusted, self.failed = False, (loop.time(), e)
            raise
        except asyncio.CancelledError:  # the query's time ran out mid-handshake: so would theirs
            self.trusted = False
            self.failed = (loop.time(), UpstreamError(f"{self.spec.text}: no TLS connection within {timeout:.2g}s"))
            raise
        self.trusted = True
        return streams


class Transport(Protocol):
    """One upstream's way of asking. `exchange` returns a validated answer or raises."""

    connections: int  # connections opened so far (TCP/TLS); shown in status

    async def exchange(self, q: Question, timeout: float) -> bytes: ...

    async def close(self) -> None: ...

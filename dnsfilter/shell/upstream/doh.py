"""DNS over HTTPS (RFC 8484) with a small HTTP/1.1 keep-alive client of our own.

HTTP/2 would need the h2 package, which OpenWrt does not ship; every large DoH service also
speaks HTTP/1.1. A request holds its connection until the answer is read (no HTTP pipelining,
which servers handle unevenly), so concurrency comes from a few connections per upstream,
kept open and reused. Queries carry ID 0 (RFC 8484 §4.1, cache friendly); the answer is
matched by its question instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell.upstream.base import MAX_MESSAGE, Opener, Question, Resolve, UpstreamError, check
from dnsfilter.shell.upstream.plain import close_writer

if TYPE_CHECKING:
    import ssl

MAX_CONNECTIONS = 8  # per upstream: queries beyond this wait for a free connection
MAX_HEADER_LINES = 100
LINE_LIMIT = 8192
MEDIA_TYPE = "application/dns-message"


class HttpError(Exception):
    """The server spoke HTTP we cannot use."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class HttpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.requests = 0
        self.got_bytes = False  # anything of the current response arrived

    async def post(self, head: bytes, body: bytes) -> HttpResponse:
        self.requests += 1
        self.got_bytes = False
        self.writer.write(head + body)
        await self.writer.drain()
        while True:
            status, version = await self._status_line()
            headers = await self._headers()
            if not 100 <= status < 200:  # skip interim answers such as 100 Continue
                break
        conn = headers.get("connection", "").lower()
        keep = "close" not in conn and (version == "HTTP/1.1" or "keep-alive" in conn)
        body, delimited = await self._body(headers)
        return HttpResponse(status, headers, body, keep and delimited)

    async def _line(self) -> bytes:
        try:
            line = await self.reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError("header line too long") from None
        self.got_bytes = True
        return line[:-2]

    async def _status_line(self) -> tuple[int, str]:
        parts = (await self._line()).decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HttpError(f"not an HTTP/1.x status line: {parts[:2]!r}")
        return int(parts[1]), parts[0]

    async def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = await self._line()
            if not line:
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise HttpError("malformed header line")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length" and headers.get(name, value) != value:
                raise HttpError("conflicting Content-Length headers")
            headers[name] = value
        raise HttpError("too many header lines")

    async def _body(self, headers: dict[str, str]) -> tuple[bytes, bool]:
        """The body, and whether its end was delimited (else the connection cannot be reused)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._chunked(), True
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit() or int(length) > MAX_MESSAGE:
                raise HttpError(f"bad or too large Content-Length {length[:20]!r}")
            return await self.reader.readexactly(int(length)), True
        body = await self.reader.read(MAX_MESSAGE + 1)  # delimited by the connection's end
        if len(body) > MAX_MESSAGE:
            raise HttpError("body too large")
        return body, False

    async def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_text = (await self._line()).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HttpError("bad chunk size") from None
            if size == 0:
                while await self._line():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_MESSAGE:
                raise HttpError("body too large")
            body += await self.reader.readexactly(size)
            if await self._line():
                raise HttpError("chunk not followed by CRLF")

    def dead(self) -> bool:
        return self.reader.at_eof() or self.writer.transport.is_closing()

    def abort(self) -> None:
        self.writer.transport.abort()

    async def close(self) -> None:
        await close_writer(self.writer)


class DohTransport:
    def __init__(self, spec: UpstreamSpec, ctx: ssl.SSLContext, max_connections: int = MAX_CONNECTIONS,
                 resolve: Resolve | None = None) -> None:
        self.spec = spec
        self.opener = Opener(spec, ctx, LINE_LIMIT, resolve)
        self.slots = asyncio.Semaphore(max_connections)
        self.idle: list[HttpConnection] = []  # most recently used last: reused first
        self.connections = 0
        self.closed = False
        self.head = self._head_template()

    def _head_template(self) -> str:
        host = self.spec.server_name
        if ":" in host:
            host = f"[{host}]"
        if self.spec.port != 443:
            host = f"{host}:{self.spec.port}"
        return (f"POST {self.spec.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dnsfilter\r\n"
                f"Accept: {MEDIA_TYPE}\r\nContent-Type: {MEDIA_TYPE}\r\nContent-Length: %d\r\n\r\n")

    async def exchange(self, q: Question, timeout: float) -> bytes:
        body = q.build(0)
        head = (self.head % len(body)).encode("ascii")
        since = asyncio.get_running_loop().time()  # waiting for a slot counts as waiting for a handshake
        try:
            async with asyncio.timeout(timeout), self.slots:
                resp = await self._request(head, body, timeout, since)
        except TimeoutError:
            raise UpstreamError(f"{self.spec.text}: timeout after {timeout:.2g}s over HTTPS") from None
        if resp.status != 200:
            raise UpstreamError(f"{self.spec.text}: HTTP status {resp.status}")
        ctype = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != MEDIA_TYPE:
            raise UpstreamError(f"{self.spec.text}: Content-Type {ctype or 'missing'!r}, not {MEDIA_TYPE}")
        check(resp.body, None, q, self.spec.text)
        return resp.body

    async def _request(self, head: bytes, body: bytes, timeout: float, since: float) -> HttpResponse:
        for _ in range(2):
            conn = self._idle_connection()
            reused = conn is not None
            if conn is None:
                conn = await self._connect(timeout, since)
            try:
                resp = await conn.post(head, body)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                conn.abort()
                if reused and not conn.got_bytes:
                    continue  # closed while idle: the server never saw it, ask on a fresh connection
                raise UpstreamError(f"{self.spec.text}: connection lost: {e or type(e).__name__}") from None
            except HttpError as e:
                conn.abort()
                raise UpstreamError(f"{self.spec.text}: {e}") from None
            except OSError as e:
                conn.abort()
                raise UpstreamError(f"{self.spec.text}: {e.strerror or e}") from None
            except BaseException:  # cancelled (timeout) mid-request: the stream is out of step
                conn.abort()
                raise
            if resp.keep_alive and resp.status == 200 and not self.closed:
                self.idle.append(conn)
            else:
                conn.abort()
            return resp
        raise UpstreamError(f"{self.spec.text}: connection closed twice before the answer")

    def _idle_connection(self) -> HttpConnection | None:
        """The most recently used idle connection the server has not closed meanwhile."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.dead():
                return conn
            conn.abort()
        return None

    async def _connect(self, timeout: float, since: float) -> HttpConnection:
        reader, writer = await self.opener.open(timeout, since)
        self.connections += 1
        return HttpConnection(reader, writer)

    async def close(self) -> None:
        self.closed = True  # requests still running close their connection when done
        idle, self.idle = self.idle, []
        await asyncio.gather(*(c.close() for c in idle), return_exceptions=True)

"""A small DoH server for tests: HTTP/1.1 keep-alive over TLS (stdlib threads + ssl) that
relays each `POST /dns-query` body to a real resolver over UDP (TCP when truncated).

unbound's own DoH is HTTP/2 only; the daemon's DoH client speaks HTTP/1.1, so this puts a real
HTTP/1.1 DoH front on a real resolver. Knobs for failure tests: `status`, `content_type`,
`close_after` (requests per connection before `Connection: close`), `delay`, `idle_timeout`.
"""

from __future__ import annotations

import io
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field

MEDIA_TYPE = "application/dns-message"


@dataclass
class DohRelay:
    upstream: tuple[str, int]
    cert_file: str
    key_file: str
    path: str = "/dns-query"
    status: int = 200
    content_type: str = MEDIA_TYPE
    close_after: int = 0  # 0: keep connections open
    delay: float = 0.0
    idle_timeout: float = 10.0  # the server closes a connection idle this long
    accepts: int = 0  # TLS connections accepted
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, body length

    def __post_init__(self) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert_file, self.key_file)
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.sock.settimeout(0.05)  # so the accept loop notices `close` (close() does not wake accept)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}{self.path}"
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def __enter__(self) -> DohRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        with self._lock:
            for c in list(self._conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _src = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepts += 1
                self._conns.add(raw)
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(self.idle_timeout)
            with self.ctx.wrap_socket(raw, server_side=True) as conn:
                f = conn.makefile("rb")
                served = 0
                while not self._stop.is_set():
                    req = _read_request(f)
                    if req is None:
                        return
                    served += 1
                    close = req.close or (self.close_after and served >= self.close_after)
                    conn.sendall(self._respond(req, bool(close)))
                    if close:
                        return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(raw)
            raw.close()

    def _respond(self, req: _Request, close: bool) -> bytes:
        self.requests.append((req.method, req.path, len(req.body)))
        if self.delay:
            time.sleep(self.delay)
        if req.method != "POST" or req.path != self.path:
            return _http(405 if req.path == self.path else 404, "text/plain", b"no\n", close)
        if self.status != 200:
            return _http(self.status, "text/plain", b"scripted failure\n", close)
        answer = relay(req.body, self.upstream)
        if answer is None:
            return _http(502, "text/plain", b"upstream timeout\n", close)
        return _http(200, self.content_type, answer, close)


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def close(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


def _read_request(f: io.BufferedIOBase) -> _Request | None:
    line = f.readline(8192)
    if not line:
        return None
    method, path, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        h = f.readline(8192).decode("latin-1").rstrip("\r\n")
        if not h:
            break
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    body = f.read(length) if length else b""
    return _Request(method, path, headers, body)


def _http(status: int, ctype: str, body: bytes, close: bool) -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 502: "Bad Gateway"}.get(status, "Error")
    conn = "Connection: close\r\n" if close else ""
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Cache-Control: max-age=0\r\n{conn}\r\n")
    return head.encode("latin-1") + body


def relay(query: bytes, upstream: tuple[str, int], timeout: float = 2.0) -> bytes | None:
    """Ask `upstream` over UDP; over TCP if the answer is truncated."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(upstream)
        s.send(query)
        try:
            answer = s.recv(65535)
        except OSError:
            return None
    if len(answer) < 4 or not answer[2] & 0x02:
        return answer
    with socket.create_connection(upstream, timeout=timeout) as t:
        t.sendall(struct.pack(">H", len(query)) + query)
        f = t.makefile("rb")
        size = struct.unpack(">H", f.read(2))[0]
        return f.read(size)

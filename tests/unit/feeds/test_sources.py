"""feeds.sources.fetch against a real HTTP server on 127.0.0.1 (port 0), and local files."""

from __future__ import annotations

import gzip
import os
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from feeds.sources import FetchResult, fetch

BODY = b"".join(b"ads%d.example.com\n" % i for i in range(2000))
Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Feeds:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (request path, headers)
    stop: threading.Event = field(default_factory=threading.Event)

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.seen if urlsplit(p).path == path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # a body without Content-Length runs to the close

    def do_GET(self) -> None:
        feeds: Feeds = self.server.feeds  # type: ignore[attr-defined]
        feeds.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = feeds.routes.get(urlsplit(self.path).path)
        try:
            if route is None:
                send(self, 404, b"no such feed\n")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on purpose (size cap, timeout)

    def log_message(self, format: str, *args: object) -> None:
        pass


def send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
         length: bool = True) -> None:
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    if length:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if body:
        h.wfile.write(body)


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = Feeds(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.feeds = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def no_part(dest: Path) -> bool:
    return not any(p.name.endswith(".part") for p in dest.parent.iterdir())


def sleeps() -> tuple[list[float], Callable[[float], None]]:
    delays: list[float] = []
    return delays, delays.append


def gzip_bomb(decoded: int) -> bytes:
    """`decoded` zero bytes as gzip, built a chunk at a time (~1000:1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(decoded >> 20)]
    return b"".join(parts) + c.flush()


pytestmark = pytest.mark.usefixtures("no_proxy_env")


def test_etag_then_304(feeds: Feeds, tmp_path: Path) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == '"v1"':
            send(h, 304, headers={"ETag": '"v1"'}, length=False)
        else:
            send(h, 200, BODY, {"ETag": '"v1"'})

    feeds.routes["/list.txt"] = route
    dest = tmp_path / "list.txt"
    first = fetch(feeds.base + "/list.txt", dest, etag=None, last_modified=None)
    assert (first.status, first.path, first.etag, first.bytes, first.error) == ("new", dest, '"v1"', len(BODY), "")
    assert dest.read_bytes() == BODY
    again = fetch(feeds.base + "/list.txt", dest, etag=first.etag, last_modified=first.last_modified)
    assert (again.status, again.path, again.etag, again.bytes) == ("unchanged", dest, '"v1"', 0)
    assert feeds.seen[-1][1]["if-none-match"] == '"v1"'
    assert dest.read_bytes() == BODY and no_part(dest)


def test_last_modified_then_304(feeds: Feeds, tmp_path: Path) -> None:
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"

    def route(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-Modified-Since") == stamp:
            send(h, 304, length=False)
        else:
            send(h, 200, BODY, {"Last-Modified": stamp})

    feeds.routes["/lm"] = route
    dest = tmp_path / "lm.txt"
    first = fetch(feeds.base + "/lm", dest, etag=None, last_modified=None)
    assert first.status == "new" and first.last_modified == stamp and first.etag is None
    again = fetch(feeds.base + "/lm", dest, etag=None, last_modified=stamp)
    assert again.status == "unchanged" and again.last_modified == stamp  # kept when a 304 omits it
    # Without a previous file a conditional GET would return nothing to use: it is not sent.
    dest.unlink()
    fresh = fetch(feeds.base + "/lm", dest, etag=None, last_modified=stamp)
    assert fresh.status == "new" and "if-modified-since" not in feeds.seen[-1][1]


@pytest.mark.parametrize("how", ["content-encoding", "deflate", "raw-deflate", "gz-file", "gzip-type"])
def test_compressed_bodies_are_decoded(feeds: Feeds, tmp_path: Path, how: str) -> None:
    path = "/list.txt.gz" if how == "gz-file" else "/list"
    headers = {}
    if how == "content-encoding":
        body, headers = gzip.compress(BODY), {"Content-Encoding": "gzip"}
    elif how == "deflate":
        body, headers = zlib.compress(BODY), {"Content-Encoding": "deflate"}
    elif how == "raw-deflate":
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        body, headers = c.compress(BODY) + c.flush(), {"Content-Encoding": "deflate"}
    elif how == "gz-file":
        body = gzip.compress(BODY[:1000]) + gzip.compress(BODY[1000:])  # two members, as `cat` makes
    else:
        body, headers = gzip.compress(BODY), {"Content-Type": "application/gzip"}
    feeds.routes[path] = lambda h: send(h, 200, body, headers)
    dest = tmp_path / "out.txt"
    r = fetch(feeds.base + path, dest, etag=None, last_modified=None)
    assert (r.status, r.bytes, r.error) == ("new", len(BODY), "")
    assert dest.read_bytes() == BODY
    assert "gzip" in feeds.seen[-1][1]["accept-encoding"]


@pytest.mark.parametrize("how", ["content-encoding", "gz-file"])
def test_gzip_bomb_stops_at_the_cap(feeds: Feeds, tmp_path: Path, how: str) -> None:
    bomb = gzip_bomb(64 << 20)  # 64 MiB of zeros in ~64 KB
    assert len(bomb) < 200_000
    path = "/bomb.gz" if how == "gz-file" else "/bomb"
    headers = {"Content-Encoding": "gzip"} if how == "content-encoding" else {}
    feeds.routes[path] = lambda h: send(h, 200, bomb, headers)
    dest = tmp_path / "list.txt"
    dest.write_bytes(b"previous good list\n")
    started = time.monotonic()
    r = fetch(feeds.base + path, dest, etag=None, last_modified=None, max_bytes=1 << 20, retries=0)
    assert r.status == "failed" and "1048576-byte cap" in r.error and "\n" not in r.error
    assert time.monotonic() - started < 5  # stopped at 1 MiB, not after inflating 64 MiB
    assert r.path == dest and dest.read_bytes() == b"previous good list\n" and no_part(dest)


def test_oversize_by_content_length_fails_before_reading(feeds: Feeds, tmp_path: Path) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(10 << 20))
        h.end_headers()
        h.wfile.write(b"x" * 1000)  # the rest never comes: the client must not wait for it

    feeds.routes["/big"] = route
    dest = tmp_path / "big.txt"
    started = time.monotonic()
    r = fetch(feeds.base + "/big", dest, etag=None, last_modified=None, max_bytes=1 << 20, read_timeout=5)
    assert r.status == "failed" and "Content-Length 10485760" in r.error and r.path is None
    assert time.monotonic() - started < 2 and not dest.exists() and no_part(dest)


def test_oversize_while_streaming(feeds: Feeds, tmp_path: Path) -> None:
    chunk = b"y" * 65536

    def route(h: BaseHTTPRequestHandler) -> None:  # no Content-Length: the cap must hold anyway
        send(h, 200, headers={"Content-Type": "text/plain"}, length=False)
        for _ in range(64):
            h.wfile.write(chunk)

    feeds.routes["/stream"] = route
    dest = tmp_path / "s.txt"
    dest.write_bytes(b"old\n")
    r = fetch(feeds.base + "/stream", dest, etag=None, last_modified=None, max_bytes=100_000, retries=0)
    assert r.status == "failed" and "100000-byte cap" in r.error
    assert dest.read_bytes() == b"old\n" and no_part(dest)
    # Exactly at the cap is fine: the cap is inclusive.
    feeds.routes["/exact"] = lambda h: send(h, 200, b"z" * 1000, length=False)
    ok = fetch(feeds.base + "/exact", dest, etag=None, last_modified=None, max_bytes=1000)
    assert ok.status == "new" and ok.bytes == 1000


def test_500_then_200_is_retried_with_backoff(feeds: Feeds, tmp_path: Path) -> None:
    calls = {"n": 0}

    def route(h: BaseHTTPRequestHandler) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:
            send(h, 503 if calls["n"] == 1 else 500, b"busy")
        else:
            send(h, 200, BODY)

    feeds.routes["/flaky"] = route
    delays, sleep = sleeps()
    dest = tmp_path / "f.txt"
    r = fetch(feeds.base + "/flaky", dest, etag=None, last_modified=None, retries=3, backoff=0.5, sleep=sleep)
    assert r.status == "new" and dest.read_bytes() == BODY
    assert calls["n"] == 3 and delays == [0.5, 1.0]


def test_persistent_500_fails_after_bounded_retries(feeds: Feeds, tmp_path: Path) -> None:
    feeds.routes["/down"] = lambda h: send(h, 500, b"down")
    delays, sleep = sleeps()
    dest = tmp_path / "d.txt"
    dest.write_bytes(b"last good\n")
    r = fetch(feeds.base + "/down", dest, etag='"e"', last_modified=None, retries=3, backoff=1.0, sleep=sleep)
    assert r.status == "failed" and r.error == f"HTTP 500 from {feeds.base}/down (4 attempts)"
    assert delays == [1.0, 2.0, 4.0] and feeds.hits("/down") == 4
    assert r.etag == '"e"' and r.path == dest and dest.read_bytes() == b"last good\n" and no_part(dest)
    # Back-off is bounded: a large retry count never sleeps more than a minute at a time.
    delays2, sleep2 = sleeps()
    fetch(feeds.base + "/down", dest, etag=None, last_modified=None, retries=9, backoff=1.0, sleep=sleep2)
    assert max(delays2) == 60.0


def test_404_is_not_retried(feeds: Feeds, tmp_path: Path) -> None:
    delays, sleep = sleeps()
    r = fetch(feeds.base + "/missing", tmp_path / "m.txt", etag=None, last_modified=None, sleep=sleep)
    assert r.status == "failed" and r.error == f"HTTP 404 from {feeds.base}/missing" and delays == []


def test_connection_refused_is_a_failed_result(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    delays, sleep = sleeps()
    r = fetch(f"http://user:secret@127.0.0.1:{port}/x?token=abc", tmp_path / "x.txt", etag=None,
              last_modified=None, retries=1, connect_timeout=2, sleep=sleep)
    assert r.status == "failed" and r.path is None and len(delays) == 1
    assert r.error == f"cannot fetch http://127.0.0.1:{port}/x: ConnectionError (Connection refused) (2 attempts)"
    assert "secret" not in r.error and "token" not in r.error and "\n" not in r.error


def test_slow_body_hits_the_read_timeout(feeds: Feeds, tmp_path: Path) -> None:
    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, 200, headers={"Content-Length": "100"}, length=False)
        h.wfile.write(b"partial\n")
        h.wfile.flush()
        feeds.stop.wait(3)  # then stalls longer than the read timeout

    feeds.routes["/slow"] = route
    dest = tmp_path / "slow.txt"
    dest.write_bytes(b"kept\n")
    started = time.monotonic()
    r = fetch(feeds.base + "/slow", dest, etag=None, last_modified=None, read_timeout=0.3, retries=0)
    assert r.status == "failed" and r.error.startswith("timeout fetching") and time.monotonic() - started < 2.5
    assert dest.read_bytes() == b"kept\n" and no_part(dest)


def test_proxy_from_the_environment_is_used(feeds: Feeds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local server plays the proxy: requests sends it the absolute URL and never resolves
    # or contacts feed.invalid itself.
    monkeypatch.setenv("HTTP_PROXY", feeds.base)
    monkeypatch.setenv("NO_PROXY", "")
    feeds.routes["/via-proxy.txt"] = lambda h: send(h, 200, BODY)
    r = fetch("http://feed.invalid/via-proxy.txt", tmp_path / "p.txt", etag=None, last_modified=None, retries=0)
    assert r.status == "new" and feeds.seen[-1][0] == "http://feed.invalid/via-proxy.txt"


def test_unsupported_scheme(tmp_path: Path) -> None:
    r = fetch("ftp://127.0.0.1/list", tmp_path / "l.txt", etag=None, last_modified=None)
    assert r.status == "failed" and r.error == "unsupported URL scheme 'ftp'"


@pytest.mark.parametrize("as_url", [True, False])
def test_local_files(tmp_path: Path, as_url: bool) -> None:
    src = tmp_path / "src list.txt"  # a space: file URLs are percent-decoded
    src.write_bytes(BODY)
    url = "file://" + str(src).replace(" ", "%20") if as_url else str(src)
    dest = tmp_path / "dest.txt"
    first = fetch(url, dest, etag=None, last_modified=None)
    assert (first.status, first.bytes, first.size) == ("new", len(BODY), len(BODY)) and dest.read_bytes() == BODY
    same = fetch(url, dest, etag=None, last_modified=None, mtime=first.mtime, size=first.size)
    assert same.status == "unchanged" and same.path == dest
    src.write_bytes(BODY + b"more.example.com\n")
    os.utime(src, (time.time() + 5, time.time() + 5))
    changed = fetch(url, dest, etag=None, last_modified=None, mtime=first.mtime, size=first.size)
    assert changed.status == "new" and dest.read_bytes().endswith(b"more.example.com\n")
    dest.unlink()  # state says unchanged, but the copy is gone: fetch again
    again = fetch(url, dest, etag=None, last_modified=None, mtime=changed.mtime, size=changed.size)
    assert again.status == "new" and dest.exists() and no_part(dest)


def test_local_file_failures_keep_the_previous_copy(tmp_path: Path) -> None:
    dest = tmp_path / "dest.txt"
    dest.write_bytes(b"previous\n")
    missing = fetch(str(tmp_path / "nope.txt"), dest, etag=None, last_modified=None)
    assert missing.status == "failed" and "FileNotFoundError" in missing.error and missing.path == dest
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 5000)
    over = fetch(str(big), dest, etag=None, last_modified=None, max_bytes=4096)
    assert over.status == "failed" and "4096-byte cap" in over.error
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(gzip_bomb(8 << 20))
    boom = fetch(f"file://{bomb}", dest, etag=None, last_modified=None, max_bytes=1 << 20)
    assert boom.status == "failed" and "cap" in boom.error
    ok = tmp_path / "ok.txt.gz"
    ok.write_bytes(gzip.compress(BODY))
    assert fetch(str(ok), dest, etag=None, last_modified=None).status == "new" and dest.read_bytes() == BODY
    corrupt = tmp_path / "bad.gz"
    corrupt.write_bytes(gzip.compress(BODY)[:-30])  # truncated: must not replace the good copy
    bad = fetch(str(corrupt), dest, etag=None, last_modified=None)
    assert bad.status == "failed" and "truncated" in bad.error and dest.read_bytes() == BODY
    assert no_part(dest) and isinstance(bad, FetchResult)

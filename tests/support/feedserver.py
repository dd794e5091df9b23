"""Feeds served over real HTTP on 127.0.0.1 (port 0) from memory: routes with ETags, errors,
truncated and stalled bodies, and a log of every request's status."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from dnsfilter import config as config_mod
from dnsfilter.config import Config
from dnsfilter.core.dns.wire import text_to_wire
from dnsfilter.core.policy.matcher import Keys, Matcher
from feeds.compile_rules import load_feed
from feeds.sync import FeedStatus, set_path, sync_feed


def names(prefix: str, n: int) -> bytes:
    return b"".join(b"%s%d.example.com\n" % (prefix.encode(), i) for i in range(n))


@dataclass
class Route:
    body: bytes
    etag: str | None = None
    status: int = 200
    truncate: bool = False  # announce the full length, send half, close
    slow: float = 0.0  # seconds to stall after the first bytes


@dataclass
class FeedServer:
    """Feeds served from memory; `log` records (path, status) of every request."""

    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[tuple[str, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return self.base + path

    def codes(self, path: str) -> list[int]:
        return [c for p, c in self.log if p == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        srv: FeedServer = self.server.feeds  # type: ignore[attr-defined]
        route = srv.routes.get(self.path)
        try:
            if route is None or route.status != 200:
                code = 404 if route is None else route.status
                srv.log.append((self.path, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                srv.log.append((self.path, 304))
                self.send_response(304)
                self.end_headers()
                return
            srv.log.append((self.path, 200))
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            if route.etag:
                self.send_header("ETag", route.etag)
            self.end_headers()
            if route.truncate:
                self.wfile.write(route.body[: len(route.body) // 2])
                return
            if route.slow:
                self.wfile.write(route.body[:10])
                self.wfile.flush()
                srv.stop.wait(route.slow)
                self.wfile.write(route.body[10:])
                return
            self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on purpose (cap, timeout)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_feeds(tls: ssl.SSLContext | None = None) -> tuple[FeedServer, ThreadingHTTPServer]:
    """A feed server on 127.0.0.1 (port 0); with `tls`, over HTTPS."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    srv = FeedServer(f"{'https' if tls else 'http'}://127.0.0.1:{httpd.server_address[1]}")
    httpd.feeds = srv  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return srv, httpd


@contextlib.contextmanager
def serving() -> Iterator[FeedServer]:
    """A feed server for the span of a `with` (fixtures of any scope use it)."""
    srv, httpd = serve_feeds()
    try:
        yield srv
    finally:
        srv.stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with serving() as srv:
        yield srv


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = requests.Session()
    s.trust_env = False  # never through a proxy from the environment: loopback only
    yield s
    s.close()


# ------------------------------------------------------------------ a one-feed config synced from it

FAST = {"connect_timeout": 2.0, "read_timeout": 0.5, "retries": 1, "backoff": 0.01}


def make_cfg(tmp_path: Path, feeds: str) -> Config:
    p = tmp_path / "config.toml"
    p.write_text(f'[storage]\ndata_dir = "var"\n{feeds}')
    return config_mod.load(p)


def feed_cfg(tmp_path: Path, url: str, extra: str = "", fmt: str = "domains") -> Config:
    return make_cfg(tmp_path, f'[[feeds]]\nname = "f"\nurl = "{url}"\nformat = "{fmt}"\n{extra}\n')


def sync(cfg: Config, session: requests.Session) -> FeedStatus:
    return sync_feed(cfg, cfg.feeds[0], session=session, fetch_options=FAST)


def blocks(cfg: Config, name: str) -> bool:
    fs = load_feed(set_path(cfg, cfg.feeds[0]))
    return Matcher({"f": fs}).block(Keys(text_to_wire(name))) is not None


def in_force(cfg: Config) -> str:
    return load_feed(set_path(cfg, cfg.feeds[0])).digest.hex()
